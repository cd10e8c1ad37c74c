// kernels/amax.hip: observe_amax, the calibration reduction (gpu::observe_amax; semantics in
// kv_cache.hpp, ObserveAmaxArgs). Bit for bit what cpu::observe_amax (src/cpu/amax.cpp) gives.
//
// Each block owns one KV head and a chunk of tokens (amax_geometry.hpp). A thread keeps the max of
// |x| as bits of the element type (sign cleared; NaN, i.e. bits above the infinity pattern, -> 0;
// non-negative IEEE values order like their bits), over 16-byte vectors when every row and head
// segment is 16-byte aligned and over single elements otherwise. At the end of the block the
// threads widen their max to float32 bits (exact, monotone), reduce them in shared memory, and
// thread 0 issues one atomicMax per output it changes (head and tensor, K and V) on the float bits
// of the caller's buffer. No allocation, no synchronisation with the host: capturable.
// clang-format off
#include "gpu_runtime.hpp"  // first: hip_runtime.h defines __host__ / __device__
// clang-format on

#include <cstddef>
#include <cstdint>

#include "amax_geometry.hpp"
#include "device_codec.hpp"
#include "launch.hpp"

namespace kvscale {
namespace kernels {
namespace {

constexpr unsigned kThreads = kBlockThreads;

struct AmaxParams {
  const unsigned char* key;
  const unsigned char* value;
  const std::int64_t* slots;  // nullptr: every token counts
  std::uint32_t* amax;        // [K, V, K_head[H], V_head[H]] as float bits
  std::int64_t num_tokens;
  std::int64_t key_stride;  // bytes between tokens
  std::int64_t value_stride;
  std::int64_t tokens_per_block;
  std::int64_t chunks;
  std::int64_t head_bytes;
  std::uint32_t heads;
  std::uint32_t units_per_head;
};

// __syncthreads() as ROCm >= 6 defines it (release fence, s_barrier, acquire fence). ROCm 5.2's
// header calls the device library's __atomic_work_item_fence instead, which the clang-22
// gfx942/gfx950 device check (built with -nogpulib) cannot link, and which would be a call.
__device__ __forceinline__ void block_barrier() {
#if defined(__HIP_DEVICE_COMPILE__)
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_s_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
#else
  __syncthreads();
#endif
}

__device__ __forceinline__ std::uint32_t umax(std::uint32_t a, std::uint32_t b) { return a > b ? a : b; }

// |x| as bits of the element type, NaN -> 0.
template <DType T>
__device__ __forceinline__ std::uint32_t abs_bits(std::uint32_t x) {
  if constexpr (T == DType::f32) {
    const std::uint32_t a = x & 0x7FFFFFFFu;
    return a > 0x7F800000u ? 0u : a;
  } else if constexpr (T == DType::f16) {
    const std::uint32_t a = x & 0x7FFFu;
    return a > 0x7C00u ? 0u : a;
  } else {
    const std::uint32_t a = x & 0x7FFFu;
    return a > 0x7F80u ? 0u : a;
  }
}

template <DType T>
__device__ __forceinline__ std::uint32_t word_max(std::uint32_t w) {
  if constexpr (T == DType::f32) {
    return abs_bits<T>(w);
  } else {
    return umax(abs_bits<T>(w & 0xFFFFu), abs_bits<T>(w >> 16));
  }
}

// max |x| of one unit: a 16-byte vector or one element.
template <DType T, bool Vec>
__device__ __forceinline__ std::uint32_t unit_max(const unsigned char* p) {
  if constexpr (Vec) {
    const uint4 w = *reinterpret_cast<const uint4*>(p);
    return umax(umax(word_max<T>(w.x), word_max<T>(w.y)), umax(word_max<T>(w.z), word_max<T>(w.w)));
  } else if constexpr (T == DType::f32) {
    return abs_bits<T>(*reinterpret_cast<const std::uint32_t*>(p));
  } else {
    return abs_bits<T>(*reinterpret_cast<const std::uint16_t*>(p));
  }
}

// The element type's |x| bits as float32 bits: exact and monotone.
template <DType T>
__device__ __forceinline__ std::uint32_t to_f32_bits(std::uint32_t m) {
  if constexpr (T == DType::f32) {
    return m;
  } else if constexpr (T == DType::bf16) {
    return m << 16;
  } else {
    return dev::bits_of(half::f16_to_f32(static_cast<std::uint16_t>(m)));
  }
}

template <DType T, bool Vec>
__global__ __launch_bounds__(kThreads) void observe_amax_kernel(AmaxParams p) {
  __shared__ std::uint32_t red[2][kThreads];
  const unsigned tid = threadIdx.x;
  constexpr std::int64_t kUnitBytes = Vec ? 16 : static_cast<std::int64_t>(sizeof(typename dev::Wide<T>::type));
  for (std::uint32_t h = blockIdx.y; h < p.heads; h += gridDim.y) {
    std::uint32_t km = 0, vm = 0;
    const std::int64_t head_off = static_cast<std::int64_t>(h) * p.head_bytes;
    for (std::int64_t c = blockIdx.x; c < p.chunks; c += gridDim.x) {
      const std::int64_t t0 = c * p.tokens_per_block;
      const std::int64_t left = p.num_tokens - t0;
      const std::int64_t nt = left < p.tokens_per_block ? left : p.tokens_per_block;
      const std::uint32_t units = static_cast<std::uint32_t>(nt) * p.units_per_head;
      for (std::uint32_t u = tid; u < units; u += kThreads) {
        const std::int64_t t = t0 + u / p.units_per_head;
        const std::int64_t e = static_cast<std::int64_t>(u % p.units_per_head) * kUnitBytes;
        if (p.slots != nullptr && p.slots[t] < 0) continue;
        km = umax(km, unit_max<T, Vec>(p.key + t * p.key_stride + head_off + e));
        vm = umax(vm, unit_max<T, Vec>(p.value + t * p.value_stride + head_off + e));
      }
    }
    red[0][tid] = to_f32_bits<T>(km);
    red[1][tid] = to_f32_bits<T>(vm);
    block_barrier();
    for (unsigned s = kThreads / 2; s > 0; s >>= 1) {
      if (tid < s) {
        red[0][tid] = umax(red[0][tid], red[0][tid + s]);
        red[1][tid] = umax(red[1][tid], red[1][tid + s]);
      }
      block_barrier();
    }
    if (tid == 0) {
      const std::uint32_t k = red[0][0], v = red[1][0];
      if (k != 0) {  // max with +0 changes nothing: skip the atomics
        atomicMax(p.amax + 2 + h, k);
        atomicMax(p.amax, k);
      }
      if (v != 0) {
        atomicMax(p.amax + 2 + static_cast<std::size_t>(p.heads) + h, v);
        atomicMax(p.amax + 1, v);
      }
    }
    block_barrier();  // red is reused for the next head
  }
}

constexpr const char* kAmaxNames[3][2] = {{"observe_amax_kernel<f32, scalar>", "observe_amax_kernel<f32, vec>"},
                                          {"observe_amax_kernel<f16, scalar>", "observe_amax_kernel<f16, vec>"},
                                          {"observe_amax_kernel<bf16, scalar>", "observe_amax_kernel<bf16, vec>"}};

template <DType T>
void launch_typed(const AmaxGeometry& g, const AmaxParams& p, rt::stream_t stream) {
  if (g.vec) {
    rt::launch(observe_amax_kernel<T, true>, rt::dim(g.grid), rt::dim(g.block), stream, p);
  } else {
    rt::launch(observe_amax_kernel<T, false>, rt::dim(g.grid), rt::dim(g.block), stream, p);
  }
}

}  // namespace

rt::error_t launch_observe_amax(const ObserveAmaxArgs& a, rt::stream_t stream, const char** kernel,
                                std::uint32_t max_blocks) noexcept {
  const AmaxGeometry g = amax_geometry(a.dtype, a.rows, a.key, a.value, max_blocks);
  const int ti = a.dtype == DType::f32 ? 0 : a.dtype == DType::f16 ? 1 : 2;
  *kernel = kAmaxNames[ti][g.vec ? 1 : 0];
  const std::int64_t es = static_cast<std::int64_t>(dtype_size(a.dtype));
  AmaxParams p{};
  p.key = static_cast<const unsigned char*>(a.key);
  p.value = static_cast<const unsigned char*>(a.value);
  p.slots = a.slot_mapping;
  p.amax = reinterpret_cast<std::uint32_t*>(a.amax);
  p.num_tokens = a.rows.num_tokens;
  p.key_stride = a.rows.key_row_stride * es;
  p.value_stride = a.rows.value_row_stride * es;
  p.tokens_per_block = g.tokens_per_block;
  p.chunks = g.chunks;
  p.head_bytes = a.rows.head_size * es;
  p.heads = static_cast<std::uint32_t>(a.rows.num_kv_heads);
  p.units_per_head = g.units_per_head;
  switch (a.dtype) {
    case DType::f32: launch_typed<DType::f32>(g, p, stream); break;
    case DType::f16: launch_typed<DType::f16>(g, p, stream); break;
    default: launch_typed<DType::bf16>(g, p, stream); break;
  }
  return rt::get_last_error();
}

}  // namespace kernels
}  // namespace kvscale
