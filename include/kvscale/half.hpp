// kvscale/half.hpp: fp16 and bf16 <-> float32 conversions shared by host and device code.
//
// Widening (fp16/bf16 -> f32) is exact. Narrowing (f32 -> fp16/bf16) is one IEEE
// round-to-nearest-even conversion done in integer arithmetic, so every backend produces the same
// bits without depending on hardware conversion instructions. NaN narrows to the canonical quiet
// NaN of the target type (fp16 0x7E00, bf16 0x7FC0), sign dropped, as the fp8 codec does.
#pragma once

#include <cstdint>

#include "kvscale/config.hpp"
#include "kvscale/fp8.hpp"

namespace kvscale {
namespace half {

/// fp16 bits -> float32 (exact). Loop-free (the GPU kernels inline it): a subnormal m * 2^-24 is an
/// exact int -> float conversion of m times 2^-24, a normal float, so neither the rounding mode nor
/// flush-to-zero can change it. tests/codec checks all 65,536 inputs against a normalisation-loop
/// oracle. Infinity stays infinity; a NaN keeps its sign and payload and is made quiet.
KVSCALE_HOST_DEVICE inline float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (static_cast<std::uint32_t>(h) >> 10) & 0x1Fu;
  const std::uint32_t m = h & 0x3FFu;
  if (e == 0) return fp8::detail::float_of(sign | fp8::detail::bits_of(static_cast<float>(m) * 0x1p-24f));
  if (e == 0x1F) return fp8::detail::float_of(sign | 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u));
  return fp8::detail::float_of(sign | ((e + 112u) << 23) | (m << 13));
}

/// bf16 bits -> float32 (exact).
KVSCALE_HOST_DEVICE inline float bf16_to_f32(std::uint16_t b) {
  return fp8::detail::float_of(static_cast<std::uint32_t>(b) << 16);
}

/// float32 -> bf16 bits, round to nearest even; NaN -> 0x7FC0.
KVSCALE_HOST_DEVICE inline std::uint16_t f32_to_bf16(float x) {
  const std::uint32_t u = fp8::detail::bits_of(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/// float32 -> fp16 bits, round to nearest even, overflow to inf; NaN -> 0x7E00.
KVSCALE_HOST_DEVICE inline std::uint16_t f32_to_f16(float x) {
  const std::uint32_t u = fp8::detail::bits_of(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t mag = u & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return 0x7E00;
  if (mag >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65520: inf
  if (mag >= 0x38800000u) {                                                   // normal fp16
    const std::uint32_t r = mag + 0xFFFu + ((mag >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | ((r >> 13) - (112u << 10)));
  }
  // Subnormal fp16 or zero: value = q * 2^-24.
  const std::uint32_t biased = mag >> 23;
  if (biased < 102u) return static_cast<std::uint16_t>(sign);  // < 2^-25: rounds to zero
  const std::uint32_t s = (mag & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126u - biased;  // 14..24
  const std::uint32_t q = s >> shift;
  const std::uint32_t rem = s & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1u);
  const std::uint32_t r = q + ((rem > halfway || (rem == halfway && (q & 1u))) ? 1u : 0u);
  return static_cast<std::uint16_t>(sign | r);
}

}  // namespace half
}  // namespace kvscale
