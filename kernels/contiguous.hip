// kernels/contiguous.hip: contiguous quantize and dequantize (grid-stride, 16 elements per thread
// and iteration with 16-byte loads and stores; scalar head and tail for unaligned pointers). The
// grid is contiguous_geometry() (geometry.hpp): capped, so any n launches.
// clang-format off
#include "gpu_runtime.hpp"  // first: hip_runtime.h defines __host__ / __device__
// clang-format on

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "device_codec.hpp"
#include "dispatch.hpp"
#include "launch.hpp"

namespace kvscale {
namespace kernels {
namespace {

constexpr unsigned kThreads = kBlockThreads;

template <Fp8Format F, DType T>
__global__ __launch_bounds__(kThreads) void quantize_kernel(const typename dev::Wide<T>::type* __restrict__ in,
                                                            std::uint8_t* __restrict__ out, std::size_t n,
                                                            const float* __restrict__ scale) {
  const float s = *scale;
  const std::size_t lane = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::size_t lanes = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  dev::transform_segment<dev::Quantize, F, T, std::size_t>(in, out, n, s, lane, lanes);
}

template <Fp8Format F, DType T>
__global__ __launch_bounds__(kThreads) void dequantize_kernel(const std::uint8_t* __restrict__ in,
                                                              typename dev::Wide<T>::type* __restrict__ out,
                                                              std::size_t n, const float* __restrict__ scale) {
  const float s = *scale;
  const std::size_t lane = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::size_t lanes = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  dev::transform_segment<dev::Dequantize, F, T, std::size_t>(out, in, n, s, lane, lanes);
}

constexpr const char* kQuantizeNames[2][3] = {
    {"quantize_kernel<e4m3fn, f32>", "quantize_kernel<e4m3fn, f16>", "quantize_kernel<e4m3fn, bf16>"},
    {"quantize_kernel<e4m3fnuz, f32>", "quantize_kernel<e4m3fnuz, f16>", "quantize_kernel<e4m3fnuz, bf16>"}};
constexpr const char* kDequantizeNames[2][3] = {
    {"dequantize_kernel<e4m3fn, f32>", "dequantize_kernel<e4m3fn, f16>", "dequantize_kernel<e4m3fn, bf16>"},
    {"dequantize_kernel<e4m3fnuz, f32>", "dequantize_kernel<e4m3fnuz, f16>", "dequantize_kernel<e4m3fnuz, bf16>"}};

}  // namespace

rt::error_t launch_quantize(const QuantizeArgs& a, rt::stream_t stream, const char** kernel) noexcept {
  *kernel = kernel_name(kQuantizeNames, a.format, a.dtype);
  const Geometry g = contiguous_geometry(a.n);
  dispatch(a.format, a.dtype, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    using W = typename dev::Wide<T>::type;
    rt::launch(quantize_kernel<F, T>, rt::dim(g.grid), rt::dim(g.block), stream, static_cast<const W*>(a.in), a.out,
               a.n, a.scale);
    return 0;
  });
  return rt::get_last_error();
}

rt::error_t launch_dequantize(const DequantizeArgs& a, rt::stream_t stream, const char** kernel) noexcept {
  *kernel = kernel_name(kDequantizeNames, a.format, a.dtype);
  const Geometry g = contiguous_geometry(a.n);
  dispatch(a.format, a.dtype, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    using W = typename dev::Wide<T>::type;
    rt::launch(dequantize_kernel<F, T>, rt::dim(g.grid), rt::dim(g.block), stream, a.in, static_cast<W*>(a.out), a.n,
               a.scale);
    return 0;
  });
  return rt::get_last_error();
}

}  // namespace kernels
}  // namespace kvscale
