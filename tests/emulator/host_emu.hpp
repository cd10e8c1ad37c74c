// tests/emulator/host_emu.hpp: the host shim that lets the kernel sources (kernels/*.hip) compile
// as plain C++ and run on the CPU over an emulated grid. Test-only: kernels/gpu_runtime.hpp
// includes it when KVSCALE_HOST_EMU=1, instead of the HIP or CUDA runtime.
//
// What it provides:
//   - __global__, __device__, __host__, __forceinline__, __launch_bounds__: empty or `inline`;
//   - threadIdx, blockIdx, blockDim, gridDim: per emulated thread (macros reading the current
//     fiber's registers), dim3, float4, uint4, make_float4, make_uint4;
//   - __shared__: one instance per block (the blocks of a launch run one after another on the
//     launching OS thread, so a function-local `static thread_local` is exactly block-shared);
//   - atomicMax on unsigned (observe_amax);
//   - __syncthreads(): a real barrier. A block's threads run as ucontext fibers: a fiber runs
//     threads one after another until one waits at a barrier; then the next fiber takes over the
//     remaining threads. Once every live thread waits (exited threads count as arrived), the
//     barrier opens and the waiting fibers resume. A kernel without barriers thus costs one fiber
//     switch per block, not per thread;
//   - emu::launch(): the launch-configuration checks of ROCm and CUDA (block <= 1024 threads,
//     gridDim.x <= 2^31 - 1, y/z <= 65535, gridDim * blockDim <= 2^32 - 1 per dimension), the
//     last-error state, and a block filter to run a subset of a huge grid;
//   - with KVSCALE_EMU_ARCH=942 or 950: the AMD builtins the kernels use on gfx94x / gfx950
//     (v_cvt_pk_fp8_f32, v_cvt_f32_fp8, v_med3_f32) as models of the instructions
//     (amdgcn_model.hpp), so device_codec.hpp's hardware path runs on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

namespace kvscale {
namespace emu {

/// Launch errors, named after the runtime's.
enum class Error { success = 0, invalid_configuration, invalid_value, barrier_outside_kernel };
const char* emu_error_name(Error e) noexcept;
const char* emu_error_string(Error e) noexcept;
/// Returns and clears the calling thread's last error, like hipGetLastError().
Error get_last_error() noexcept;
Error peek_last_error() noexcept;

/// Streams are ignored: every launch runs to completion before emu::launch returns.
using Stream = void*;

/// The registers of the emulated thread that is running now.
struct Registers {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
};
namespace detail {
extern thread_local Registers regs;
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, const std::function<void()>& body);
}  // namespace detail

/// __syncthreads(): waits until every live thread of the block has arrived.
void syncthreads();

/// Runs kernel(args...) for every thread of every block (or of the blocks the filter accepts).
/// The arguments are converted to the kernel's parameter types once; each thread gets a copy.
template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shared_bytes, Stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  detail::launch(grid, block, shared_bytes, [&] { std::apply(kernel, params); });
}

/// What the last launch on this thread ran (for tests of the geometry).
struct LaunchRecord {
  dim3 grid, block;
  std::uint64_t blocks_run = 0;
  std::uint64_t threads_run = 0;
  std::uint64_t barriers = 0;  // barrier generations opened, summed over blocks
  std::uint64_t fibers = 0;    // fibers in this thread's pool after the launch
  Error error = Error::success;
};
LaunchRecord last_launch() noexcept;
/// Launches attempted on this thread so far (refused ones included).
std::uint64_t launch_count() noexcept;

/// While alive, launches on this thread run only the blocks `accept` returns true for.
class BlockFilter {
 public:
  explicit BlockFilter(std::function<bool(const dim3& block_idx)> accept);
  ~BlockFilter();
  BlockFilter(const BlockFilter&) = delete;
  BlockFilter& operator=(const BlockFilter&) = delete;

 private:
  std::function<bool(const dim3&)> previous_;
};

}  // namespace emu
}  // namespace kvscale

#define threadIdx (::kvscale::emu::detail::regs.thread_idx)
#define blockIdx (::kvscale::emu::detail::regs.block_idx)
#define blockDim (::kvscale::emu::detail::regs.block_dim)
#define gridDim (::kvscale::emu::detail::regs.grid_dim)

inline void __syncthreads() { ::kvscale::emu::syncthreads(); }

/// atomicMax: the blocks of a launch run one after another on the launching OS thread, and its
/// fibers switch only at barriers, so a plain read-modify-write is atomic here.
inline unsigned atomicMax(unsigned* p, unsigned v) {
  const unsigned old = *p;
  if (v > old) *p = v;
  return old;
}

#if defined(KVSCALE_EMU_ARCH) && (KVSCALE_EMU_ARCH == 942 || KVSCALE_EMU_ARCH == 950)
#include "amdgcn_model.hpp"
#endif
