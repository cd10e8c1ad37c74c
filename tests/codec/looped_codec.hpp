// Test-only oracles: the normalisation-loop versions of fp8::decode and half::f16_to_f32 that the
// library shipped before its loop-free definitions (kvscale/fp8.hpp, kvscale/half.hpp). They take
// a different route for subnormals (shift until the leading bit, integer exponent) from the
// library's (exact int -> float conversion times a power of two), so equality over every input
// (tests/codec) proves the loop-free code exact.
#pragma once

#include <cstdint>

#include "kvscale/fp8.hpp"

namespace oracle {

/// fp8::decode with a normalisation loop for subnormals.
inline float decode_looped(kvscale::Fp8Format f, std::uint8_t c) {
  namespace fp8 = kvscale::fp8;
  if (fp8::is_nan_code(f, c)) return fp8::detail::float_of(0x7FC00000u);
  const std::uint32_t sign = static_cast<std::uint32_t>(c & 0x80u) << 24;
  const std::uint32_t e = (c >> 3) & 0xFu;
  const std::uint32_t m = c & 0x7u;
  const std::uint32_t bias = static_cast<std::uint32_t>(fp8::exponent_bias(f));
  std::uint32_t mag;
  if (e != 0) {
    mag = ((e + 127u - bias) << 23) | (m << 20);
  } else if (m == 0) {
    mag = 0;
  } else {
    // Subnormal m * 2^(-bias-2): normalise m (1..7) into a float32 with an implicit leading 1.
    int lz = 0;  // shift so that bit 2 of m is set
    std::uint32_t mm = m;
    while ((mm & 0x4u) == 0) {
      mm <<= 1;
      ++lz;
    }
    // value = 1.xx * 2^(2 - lz - bias - 2) = 2^(-lz - bias)
    mag = ((127u - bias - static_cast<std::uint32_t>(lz)) << 23) | ((mm & 0x3u) << 21);
  }
  return fp8::detail::float_of(sign | mag);
}

/// half::f16_to_f32 with a normalisation loop for subnormals.
inline float f16_to_f32_looped(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1Fu;
  std::uint32_t m = h & 0x3FFu;
  std::uint32_t bits;
  if (e == 0x1F) {
    bits = sign | 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u);  // inf, or NaN made quiet
  } else if (e != 0) {
    bits = sign | ((e + 112u) << 23) | (m << 13);
  } else if (m == 0) {
    bits = sign;
  } else {
    std::uint32_t exp = 113u;  // normalise the subnormal: value = m * 2^-24
    while ((m & 0x400u) == 0) {
      m <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((m & 0x3FFu) << 13);
  }
  return kvscale::fp8::detail::float_of(bits);
}

}  // namespace oracle
