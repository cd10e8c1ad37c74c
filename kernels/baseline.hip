// kernels/baseline.hip: the naive kernels of baseline.hpp.
// clang-format off
#include "gpu_runtime.hpp"  // first: hip_runtime.h defines __host__ / __device__
// clang-format on

#include <algorithm>
#include <cstdint>

#include "baseline.hpp"
#include "device_codec.hpp"
#include "dispatch.hpp"
#include "gpu_runtime.hpp"

namespace kvscale {
namespace baseline {
namespace {

template <Fp8Format F, DType T>
__global__ void naive_quantize(const typename dev::Wide<T>::type* in, std::uint8_t* out, std::size_t n, float scale) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    float x;
    if constexpr (T == DType::f16) {
      x = half::f16_to_f32(in[i]);
    } else {
      x = dev::widen<T>(in[i]);
    }
    out[i] = fp8::quantize(F, x, scale);
  }
}

template <Fp8Format F, DType T>
__global__ void naive_dequantize(const std::uint8_t* in, typename dev::Wide<T>::type* out, std::size_t n, float scale) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = dev::narrow<T>(fp8::dequantize(F, in[i], scale));
}

template <Fp8Format F, DType T>
__global__ void naive_paged_write(const typename dev::Wide<T>::type* key, const typename dev::Wide<T>::type* value,
                                  const std::int64_t* slots, std::int64_t heads, std::int64_t head_size,
                                  std::int64_t block_size, std::uint8_t* key_cache, std::uint8_t* value_cache,
                                  float k_scale, float v_scale) {
  const std::int64_t t = blockIdx.x;
  const std::int64_t slot = slots[t];
  if (slot < 0) return;
  const std::int64_t block = slot / block_size;
  const std::int64_t off = slot % block_size;
  const std::int64_t n = heads * head_size;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const std::int64_t dst = (block * block_size + off) * n + i;
    float k, v;
    if constexpr (T == DType::f16) {
      k = half::f16_to_f32(key[t * n + i]);
      v = half::f16_to_f32(value[t * n + i]);
    } else {
      k = dev::widen<T>(key[t * n + i]);
      v = dev::widen<T>(value[t * n + i]);
    }
    key_cache[dst] = fp8::quantize(F, k, k_scale);
    value_cache[dst] = fp8::quantize(F, v, v_scale);
  }
}

// vLLM's reshape_and_cache for its ROCm layout: one token per block, element i of the row to
// K[block][h][d / 16][off][d % 16] and V[block][h][d][off].
template <Fp8Format F, DType T>
__global__ void naive_paged_write_split(const typename dev::Wide<T>::type* key,
                                        const typename dev::Wide<T>::type* value, const std::int64_t* slots,
                                        std::int64_t heads, std::int64_t head_size, std::int64_t block_size,
                                        std::uint8_t* key_cache, std::uint8_t* value_cache, float k_scale,
                                        float v_scale) {
  const std::int64_t t = blockIdx.x;
  const std::int64_t slot = slots[t];
  if (slot < 0) return;
  const std::int64_t block = slot / block_size;
  const std::int64_t off = slot % block_size;
  const std::int64_t n = heads * head_size;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const std::int64_t h = i / head_size, d = i % head_size;
    const std::int64_t head_base = (block * heads + h) * head_size * block_size;
    const std::int64_t kdst = head_base + ((d / 16) * block_size + off) * 16 + d % 16;
    const std::int64_t vdst = head_base + d * block_size + off;
    float k, v;
    if constexpr (T == DType::f16) {
      k = half::f16_to_f32(key[t * n + i]);
      v = half::f16_to_f32(value[t * n + i]);
    } else {
      k = dev::widen<T>(key[t * n + i]);
      v = dev::widen<T>(value[t * n + i]);
    }
    key_cache[kdst] = fp8::quantize(F, k, k_scale);
    value_cache[vdst] = fp8::quantize(F, v, v_scale);
  }
}

constexpr unsigned kThreads = 512;

// A plain read-only reduction: grid-stride 16-byte loads of two buffers, a shared-memory block
// reduction, one atomic per block.
__global__ void read_max_kernel(const uint4* a, const uint4* b, std::size_t n, unsigned* out) {
  __shared__ unsigned red[kThreads];
  unsigned m = 0;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const uint4 x = a[i], y = b[i];
    const unsigned u =
        (x.x > x.y ? x.x : x.y) > (x.z > x.w ? x.z : x.w) ? (x.x > x.y ? x.x : x.y) : (x.z > x.w ? x.z : x.w);
    const unsigned v =
        (y.x > y.y ? y.x : y.y) > (y.z > y.w ? y.z : y.w) ? (y.x > y.y ? y.x : y.y) : (y.z > y.w ? y.z : y.w);
    m = m > u ? m : u;
    m = m > v ? m : v;
  }
  red[threadIdx.x] = m;
  __syncthreads();
  for (unsigned s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s)
      red[threadIdx.x] = red[threadIdx.x] > red[threadIdx.x + s] ? red[threadIdx.x] : red[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicMax(out, red[0]);
}

unsigned blocks(std::size_t n) {
  return static_cast<unsigned>(std::max<std::size_t>(1, (n + kThreads - 1) / kThreads));
}

}  // namespace

int quantize(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale, void* stream) {
  kernels::dispatch(f, t, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    using W = typename dev::Wide<T>::type;
    naive_quantize<F, T><<<blocks(n), kThreads, 0, rt::to_stream(stream)>>>(static_cast<const W*>(in), out, n, scale);
    return 0;
  });
  return static_cast<int>(rt::get_last_error());
}

int dequantize(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale, void* stream) {
  kernels::dispatch(f, t, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    using W = typename dev::Wide<T>::type;
    naive_dequantize<F, T><<<blocks(n), kThreads, 0, rt::to_stream(stream)>>>(in, static_cast<W*>(out), n, scale);
    return 0;
  });
  return static_cast<int>(rt::get_last_error());
}

int paged_write(Fp8Format f, DType t, const void* key, const void* value, const std::int64_t* slots,
                std::int64_t num_tokens, std::int64_t heads, std::int64_t head_size, std::int64_t block_size,
                std::uint8_t* key_cache, std::uint8_t* value_cache, float k_scale, float v_scale, void* stream) {
  if (num_tokens <= 0) return 0;
  const unsigned threads = static_cast<unsigned>(std::min<std::int64_t>(heads * head_size, kThreads));
  kernels::dispatch(f, t, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    using W = typename dev::Wide<T>::type;
    naive_paged_write<F, T><<<static_cast<unsigned>(num_tokens), threads, 0, rt::to_stream(stream)>>>(
        static_cast<const W*>(key), static_cast<const W*>(value), slots, heads, head_size, block_size, key_cache,
        value_cache, k_scale, v_scale);
    return 0;
  });
  return static_cast<int>(rt::get_last_error());
}

int read_max(const void* a, const void* b, std::size_t bytes, unsigned* out, void* stream) {
  const std::size_t n = bytes / 16;
  const unsigned grid =
      static_cast<unsigned>(std::min<std::size_t>(8192, std::max<std::size_t>(1, (n + kThreads - 1) / kThreads)));
  read_max_kernel<<<grid, kThreads, 0, rt::to_stream(stream)>>>(static_cast<const uint4*>(a),
                                                                static_cast<const uint4*>(b), n, out);
  return static_cast<int>(rt::get_last_error());
}

int paged_write_split(Fp8Format f, DType t, const void* key, const void* value, const std::int64_t* slots,
                      std::int64_t num_tokens, std::int64_t heads, std::int64_t head_size, std::int64_t block_size,
                      std::uint8_t* key_cache, std::uint8_t* value_cache, float k_scale, float v_scale, void* stream) {
  if (num_tokens <= 0) return 0;
  const unsigned threads = static_cast<unsigned>(std::min<std::int64_t>(heads * head_size, kThreads));
  kernels::dispatch(f, t, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    using W = typename dev::Wide<T>::type;
    naive_paged_write_split<F, T><<<static_cast<unsigned>(num_tokens), threads, 0, rt::to_stream(stream)>>>(
        static_cast<const W*>(key), static_cast<const W*>(value), slots, heads, head_size, block_size, key_cache,
        value_cache, k_scale, v_scale);
    return 0;
  });
  return static_cast<int>(rt::get_last_error());
}

}  // namespace baseline
}  // namespace kvscale
