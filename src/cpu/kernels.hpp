// Private to the CPU backend: the per-ISA row kernels behind cpu.hpp.
//
// A row kernel converts n contiguous elements. Every kernel produces exactly the bytes of the
// scalar codec in fp8.hpp / half.hpp (the tests force each ISA and compare bit for bit).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvscale/cpu.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace cpu {
namespace detail {

/// Dequantize results of all 256 codes for one (format, dtype, scale), computed with the scalar
/// codec: out16 for f16/bf16 outputs, out32 for f32. Kernels may use it as a lookup table.
struct DequantLut {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;
  std::uint32_t scale_bits = 0;
  bool valid = false;
  alignas(64) std::uint16_t out16[256] = {};
  alignas(64) float out32[256] = {};
};

/// Fills `lut` for (format, dtype, scale) with the scalar reference.
void build_dequant_lut(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept;

/// out[i] = fp8::quantize(f, widen(in[i]), scale), i < n. `in` holds n elements of `t`.
using QuantizeRowFn = void (*)(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale);
/// out[i] = narrow_t(fp8::dequantize(f, in[i], scale)), i < n; `lut` was built for (f, t, scale).
using DequantizeRowFn = void (*)(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                                 const DequantLut& lut);

struct RowKernels {
  QuantizeRowFn quantize;
  DequantizeRowFn dequantize;
  /// Same results, written with non-temporal stores where the ISA has them: for outputs far
  /// larger than the caches (no read-for-ownership of the destination). Callers pick by size.
  QuantizeRowFn quantize_stream;
  DequantizeRowFn dequantize_stream;
};

/// The kernels of one instruction set. avx2/avx512 exist only where KVSCALE_X86_SIMD is defined.
RowKernels scalar_kernels() noexcept;
#if defined(KVSCALE_X86_SIMD)
RowKernels avx2_kernels() noexcept;
RowKernels avx512_kernels() noexcept;
#endif

/// Scalar tails shared by the SIMD kernels.
void quantize_row_scalar(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale);
void dequantize_row_scalar(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                           const DequantLut& lut);

/// The ISA the backend uses now (detected, capped by set_max_isa()); for kernels outside
/// cpu_backend.cpp (amax.cpp).
Isa current_isa() noexcept;

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
