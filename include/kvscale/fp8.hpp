// kvscale/fp8.hpp: the FP8-E4M3 codec that every backend shares (host, HIP and CUDA).
//
// Normative definition: docs/fp8-semantics.md (a copy of the project spec). In short:
//   encode:  NaN -> canonical NaN (fn 0x7F, fnuz 0x80), sign dropped;
//            +-inf and |x| > max -> +-max (fn 0x7E/0xFE, fnuz 0x7F/0xFF);
//            otherwise round to nearest, ties to even mantissa; subnormals exact, no flush;
//            zero results keep their sign in fn (0x80), never in fnuz.
//   decode:  exact; NaN codes give a quiet NaN (0x7FC00000).
//   quantize(x, s) = encode(float32(x) / s), one true IEEE division (never x * (1/s)).
//   dequantize(q, s) = decode(q) * s, one float32 multiply.
//
// Everything is integer arithmetic on the float's bits (decode's one float multiply is exact and
// its result normal), so the result does not depend on the FPU's rounding mode, on flush-to-zero,
// or on the compiler. No includes beyond <cstdint>.
#pragma once

#include <cstdint>

#include "kvscale/config.hpp"

namespace kvscale {

/// The two FP8-E4M3 encodings. e4m3fn is OCP (bias 7, max 448), the format vLLM's scales are
/// calibrated for; e4m3fnuz is native on gfx940/941/942 (bias 8, max 240, one NaN, no -0).
enum class Fp8Format : std::uint8_t { e4m3fn = 0, e4m3fnuz = 1 };

namespace fp8 {

/// Largest finite value: 448 (fn) or 240 (fnuz).
KVSCALE_HOST_DEVICE constexpr float max_finite(Fp8Format f) { return f == Fp8Format::e4m3fn ? 448.0f : 240.0f; }
/// Code of +max: 0x7E (fn) or 0x7F (fnuz).
KVSCALE_HOST_DEVICE constexpr std::uint8_t max_code(Fp8Format f) { return f == Fp8Format::e4m3fn ? 0x7E : 0x7F; }
/// The canonical NaN code that encode() produces: 0x7F (fn) or 0x80 (fnuz).
KVSCALE_HOST_DEVICE constexpr std::uint8_t nan_code(Fp8Format f) { return f == Fp8Format::e4m3fn ? 0x7F : 0x80; }
/// Exponent bias: 7 (fn) or 8 (fnuz).
KVSCALE_HOST_DEVICE constexpr int exponent_bias(Fp8Format f) { return f == Fp8Format::e4m3fn ? 7 : 8; }
/// True for the codes that decode to NaN: 0x7F and 0xFF (fn), 0x80 (fnuz).
KVSCALE_HOST_DEVICE constexpr bool is_nan_code(Fp8Format f, std::uint8_t c) {
  return f == Fp8Format::e4m3fn ? (c & 0x7F) == 0x7F : c == 0x80;
}

namespace detail {
// Bit casts without <cstring> or <bit>: a union is what both nvcc and hip-clang fold to a move,
// and it is well defined in GNU C++ and CUDA/HIP.
KVSCALE_HOST_DEVICE inline std::uint32_t bits_of(float x) {
  union {
    float f;
    std::uint32_t u;
  } v{x};
  return v.u;
}
KVSCALE_HOST_DEVICE inline float float_of(std::uint32_t u) {
  union {
    std::uint32_t u;
    float f;
  } v{u};
  return v.f;
}
}  // namespace detail

/// Encodes a float32 as FP8-E4M3 in format `f`, exactly as the spec defines (see file comment).
KVSCALE_HOST_DEVICE inline std::uint8_t encode(Fp8Format f, float x) {
  const std::uint32_t bits = detail::bits_of(x);
  const std::uint32_t sign = (bits >> 24) & 0x80u;
  const std::uint32_t mag = bits & 0x7FFFFFFFu;
  const bool fn = f == Fp8Format::e4m3fn;
  if (mag > 0x7F800000u) return nan_code(f);
  const std::uint32_t bias = fn ? 7u : 8u;
  const std::uint32_t max = fn ? 0x7Eu : 0x7Fu;
  std::uint32_t code;
  // Smallest float32 whose fp8 image is normal: 2^(1-bias), biased exponent 128-bias.
  if (mag >= ((128u - bias) << 23)) {
    // Normal: round the 23-bit mantissa to 3 bits, ties to even. A carry out of the mantissa
    // bumps the exponent, which is exactly the next binade's encoding. Infinity lands far above
    // max and saturates below.
    const std::uint32_t rounded = (mag + 0x7FFFFu + ((mag >> 20) & 1u)) >> 20;
    code = rounded - ((127u - bias) << 3);
    if (code > max) code = max;
  } else {
    // Subnormal fp8 (or zero): value = q * 2^(-bias-2). With the float's significand s and
    // unbiased exponent e, q = s * 2^(e - 23 + bias + 2), i.e. s shifted right by 21 - e - bias.
    const std::uint32_t biased = mag >> 23;
    const std::uint32_t s = biased ? ((mag & 0x7FFFFFu) | 0x800000u) : mag;
    const int e = biased ? static_cast<int>(biased) - 127 : -126;
    const int shift = 21 - e - static_cast<int>(bias);  // >= 21 here
    if (shift > 25) {
      code = 0;  // s < 2^24 <= half an fp8 ulp: rounds to zero
    } else {
      const std::uint32_t q = s >> shift;
      const std::uint32_t rem = s & ((1u << shift) - 1u);
      const std::uint32_t half = 1u << (shift - 1);
      code = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);  // q+1 may be 8: min normal
    }
  }
  if (!fn && code == 0) return 0;  // fnuz has no -0
  return static_cast<std::uint8_t>(code | sign);
}

/// Decodes an FP8-E4M3 code of format `f` to float32. Exact; NaN codes give 0x7FC00000.
/// Loop-free (the GPU kernels inline it): a subnormal m * 2^(-bias-2) is an exact int -> float
/// conversion of m (0..7) times a power of two, and the product (>= 2^-10) is a normal float, so
/// neither the rounding mode nor flush-to-zero can change it. tests/codec checks all 256 codes of
/// both formats against a normalisation-loop oracle.
KVSCALE_HOST_DEVICE inline float decode(Fp8Format f, std::uint8_t c) {
  if (is_nan_code(f, c)) return detail::float_of(0x7FC00000u);
  const std::uint32_t u = c;  // 32-bit from here: nvcc keeps 8-bit values in 16-bit ops otherwise
  const std::uint32_t sign = (u & 0x80u) << 24;
  const std::uint32_t e = (u >> 3) & 0xFu;
  const std::uint32_t m = u & 0x7u;
  const std::uint32_t bias = static_cast<std::uint32_t>(exponent_bias(f));
  const float sub_ulp = f == Fp8Format::e4m3fn ? 0x1p-9f : 0x1p-10f;  // 2^(-bias-2)
  const std::uint32_t mag =
      e != 0 ? (((e + 127u - bias) << 23) | (m << 20)) : detail::bits_of(static_cast<float>(m) * sub_ulp);
  return detail::float_of(sign | mag);
}

/// quantize(x, scale) = encode(x / scale) with one IEEE float32 division, rounded to nearest even.
/// Precondition: scale is finite and > 0 (the loader guarantees it).
KVSCALE_HOST_DEVICE inline std::uint8_t quantize(Fp8Format f, float x, float scale) { return encode(f, x / scale); }

/// dequantize(q, scale) = decode(q) * scale, one float32 multiply.
KVSCALE_HOST_DEVICE inline float dequantize(Fp8Format f, std::uint8_t q, float scale) { return decode(f, q) * scale; }

}  // namespace fp8
}  // namespace kvscale
