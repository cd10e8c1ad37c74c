// tests/emulator/amdgcn_model.hpp: host models of the AMD instructions behind the builtins that
// kernels/device_codec.hpp uses on gfx94x (KVSCALE_EMU_ARCH=942, FNUZ) and gfx950 (=950, OCP fn).
// Included by host_emu.hpp; the builtins become these functions, so the hardware wrappers
// (hw_prep, encode4, decode4) compile and run on the host unchanged.
//
// The model (facts, not code, from: AMD's rocjitsu ISA emulator, ROCm/rocm-systems#8800 and
// #9556, the clamps that rocBLAS / hipBLASLt / MIGraphX / hip_fp8 put before the "RNE CVT"):
//   v_cvt_pk_fp8_f32: each float is rounded to the nearest FP8 value, ties to even; there is NO
//     saturation: a result beyond max finite (448 fn, 240 fnuz), and +-inf, give the NaN code,
//     as does NaN: 0x80 (fnuz), 0x7F | sign (fn). Zero results: fn keeps the sign (0x80 for
//     negative). The two converted bytes replace the low (word_sel false) or high 16 bits of `old`.
//   v_cvt_f32_fp8: exact; NaN codes give 0xFFC00000.
//   v_med3_f32: the median; with a NaN operand, IEEE-mode min3 of the others (so NaN is NOT
//     returned: the wrappers must test for NaN themselves).
// Unknowns the tests vary (Options): whether an FNUZ negative value that rounds to zero gives 0x80
// (its NaN) or 0x00, and whether float32 denormal inputs are flushed first. The assumptions that
// the wrappers rely on are listed in docs/gpu-testing.md as the first checks of a GPU run.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kvscale/fp8.hpp"

namespace kvscale {
namespace emu {
namespace amdgcn {

#if KVSCALE_EMU_ARCH == 942
constexpr Fp8Format kFormat = Fp8Format::e4m3fnuz;
#define KVSCALE_EMU_HW_FP8_FORMAT ::kvscale::Fp8Format::e4m3fnuz
#else
constexpr Fp8Format kFormat = Fp8Format::e4m3fn;
#define KVSCALE_EMU_HW_FP8_FORMAT ::kvscale::Fp8Format::e4m3fn
#endif

struct Options {
  /// FNUZ: a negative input whose rounded result is zero gives 0x80 (the NaN code) instead of
  /// 0x00. Default: the worst case, so that the wrappers are checked not to depend on it.
  bool fnuz_negative_zero_is_nan = true;
  /// float32 denormal inputs are flushed to zero (sign kept) before the conversion.
  bool flush_denormal_inputs = false;
};
inline thread_local Options options;

inline std::uint32_t bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float from_bits(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/// One byte of v_cvt_pk_fp8_f32 in format f. Written from the format definition in double
/// arithmetic (it does not share code with kvscale's codec, which it is compared with): scale |x|
/// by the FP8 quantum of its binade, round to an integer with the (x + 2^52) - 2^52 identity
/// (round to nearest even in the default rounding mode), and read the code off that integer.
inline std::uint32_t cvt_fp8(Fp8Format f, float x) {
  const bool fn = f == Fp8Format::e4m3fn;
  const std::uint32_t u = bits(x);
  const std::uint32_t sign = u >> 31;
  std::uint32_t mag = u & 0x7FFFFFFFu;
  const std::uint32_t nan = fn ? (0x7Fu | (sign << 7)) : 0x80u;
  if (mag >= 0x7F800000u) return nan;  // NaN, and +-inf (overflow)
  if (options.flush_denormal_inputs && (mag >> 23) == 0) mag = 0;
  const int bias = fn ? 7 : 8;
  const int min_exp = 1 - bias;                       // exponent of the smallest normal
  const int e = static_cast<int>(mag >> 23) - 127;    // floor(log2 |x|) for normal x
  const int q_exp = (e < min_exp ? min_exp : e) - 3;  // the quantum is 2^q_exp
  auto pow2 = [](int k) {                             // exact 2^k as a double
    const std::uint64_t b = static_cast<std::uint64_t>(1023 + k) << 52;
    double d;
    std::memcpy(&d, &b, 8);
    return d;
  };
  const double scaled = static_cast<double>(from_bits(mag)) * pow2(-q_exp);  // exact, < 16
  volatile double big = 4503599627370496.0;                                  // 2^52
  const double n = (scaled + big) - big;                                     // RNE to an integer
  const auto q = static_cast<std::uint32_t>(n);
  std::uint32_t code;
  if (q < 8) {
    code = q;  // subnormal (or zero)
  } else if (q < 16) {
    code = (static_cast<std::uint32_t>(q_exp + 3 + bias) << 3) | (q - 8);
  } else {
    code = static_cast<std::uint32_t>(q_exp + 4 + bias) << 3;  // the rounding carried into the next binade
  }
  if (n * pow2(q_exp) > (fn ? 448.0 : 240.0)) return nan;  // no saturation
  if (code == 0) {
    if (fn) return sign << 7;
    return sign && options.fnuz_negative_zero_is_nan ? 0x80u : 0x00u;
  }
  return code | (sign << 7);
}

/// __builtin_amdgcn_cvt_pk_fp8_f32(a, b, old, word_sel).
inline int cvt_pk_fp8_f32(float a, float b, int old, bool word_sel) {
  const std::uint32_t pair = cvt_fp8(kFormat, a) | (cvt_fp8(kFormat, b) << 8);
  const std::uint32_t o = static_cast<std::uint32_t>(old);
  const std::uint32_t r = word_sel ? ((o & 0xFFFFu) | (pair << 16)) : ((o & 0xFFFF0000u) | pair);
  return static_cast<int>(r);
}

/// __builtin_amdgcn_cvt_f32_fp8(word, byte_sel).
inline float cvt_f32_fp8(int word, int byte_sel) {
  const std::uint32_t c = (static_cast<std::uint32_t>(word) >> (8 * (byte_sel & 3))) & 0xFFu;
  const bool fn = kFormat == Fp8Format::e4m3fn;
  if (fn ? (c & 0x7Fu) == 0x7Fu : c == 0x80u) return from_bits(0xFFC00000u);
  const int bias = fn ? 7 : 8;
  const int e = static_cast<int>((c >> 3) & 0xFu), m = static_cast<int>(c & 7u);
  const double mag = e == 0 ? std::ldexp(m, 1 - bias - 3) : std::ldexp(8 + m, e - bias - 3);
  return static_cast<float>((c & 0x80u) ? -mag : mag);
}

/// __builtin_amdgcn_fmed3f(a, b, c) (v_med3_f32, IEEE mode).
inline float fmed3f(float a, float b, float c) {
  if (a != a || b != b || c != c) {
    float m = from_bits(0x7FC00000u);
    for (float v : {a, b, c})
      if (v == v && (m != m || v < m)) m = v;
    return m;
  }
  const float lo = a < b ? a : b, hi = a < b ? b : a;
  const float t = hi < c ? hi : c;
  return lo < t ? t : lo;
}

}  // namespace amdgcn
}  // namespace emu
}  // namespace kvscale

#define __builtin_amdgcn_fmed3f ::kvscale::emu::amdgcn::fmed3f
#define __builtin_amdgcn_cvt_pk_fp8_f32 ::kvscale::emu::amdgcn::cvt_pk_fp8_f32
#define __builtin_amdgcn_cvt_f32_fp8 ::kvscale::emu::amdgcn::cvt_f32_fp8
