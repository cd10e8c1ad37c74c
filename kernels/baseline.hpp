// kernels/baseline.hpp: naive reference kernels for benchmarks only (not part of the API).
//
// They have the shape of vLLM's 2024 kernels: one element per thread (convert_fp8) or one token
// per block with a scalar per-element loop (reshape_and_cache_flash), the scalar software codec,
// and the scale passed by value. Same results as the real kernels; only the speed differs.
// Compiled into the kvscale_gpu_bench_support static library; host code needs no GPU header.
#pragma once

#include <cstdint>

#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace baseline {

/// Each returns 0 on success or the runtime's error code of the launch. `stream` is a
/// hipStream_t / cudaStream_t. Arguments are not validated.
int quantize(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale, void* stream);
int dequantize(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale, void* stream);
/// NHD cache, dense rows (row stride = heads * head_size).
int paged_write(Fp8Format f, DType t, const void* key, const void* value, const std::int64_t* slots,
                std::int64_t num_tokens, std::int64_t heads, std::int64_t head_size, std::int64_t block_size,
                std::uint8_t* key_cache, std::uint8_t* value_cache, float k_scale, float v_scale, void* stream);

/// observe_amax's baseline: a read-only pass over the same bytes. Max of the 32-bit words of a and b
/// (`bytes` each, a multiple of 16, 16-byte aligned), one atomicMax per block into *out (device).
int read_max(const void* a, const void* b, std::size_t bytes, unsigned* out, void* stream);

/// Split layout (vLLM ROCm: K [nb, H, D/16, bs, 16], V [nb, H, D, bs]), one element per thread
/// iteration as vLLM's reshape_and_cache does: V's byte stores are block_size bytes apart.
int paged_write_split(Fp8Format f, DType t, const void* key, const void* value, const std::int64_t* slots,
                      std::int64_t num_tokens, std::int64_t heads, std::int64_t head_size, std::int64_t block_size,
                      std::uint8_t* key_cache, std::uint8_t* value_cache, float k_scale, float v_scale, void* stream);
}  // namespace baseline
}  // namespace kvscale
