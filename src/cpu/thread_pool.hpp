// Private to the CPU backend: a small persistent thread pool.
#pragma once

#include <cstddef>

namespace kvscale {
namespace cpu {
namespace detail {

/// Chunk callback: processes chunk `index` of a job. Must not throw.
using ChunkFn = void (*)(void* ctx, std::size_t index);

/// Threads the backend may use (>= 1), and the setter behind cpu::set_num_threads.
int pool_threads() noexcept;
void pool_set_threads(int n) noexcept;

/// Runs fn(ctx, i) for every i < chunks, once each, on up to pool_threads() threads (the caller
/// included) and returns when all are done. The caller runs chunks 0, 1, ... in order and the
/// workers chunks - 1, chunks - 2, ..., until they meet. Runs serially in the caller when chunks <=
/// 1, when one thread is configured, or when another caller is using the pool.
void parallel_for(std::size_t chunks, ChunkFn fn, void* ctx) noexcept;

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
