// Test-only, independent reference for the FP8-E4M3 spec (docs/fp8-semantics.md) and for the
// fp16/bf16 conversions. Nothing here calls kvscale's codec: values come from the format
// definitions, and encode is a nearest-value search over the codes with exact integer distances.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kvscale/fp8.hpp"  // the Fp8Format enum only

namespace ref {

using kvscale::Fp8Format;

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

inline int bias(Fp8Format f) { return f == Fp8Format::e4m3fn ? 7 : 8; }

/// True for the codes that are NaN (spec table).
inline bool is_nan_code(Fp8Format f, int c) { return f == Fp8Format::e4m3fn ? (c & 0x7F) == 0x7F : c == 0x80; }

/// Value of a non-NaN code from the format definition: e4m3, bias 7 (fn) or 8 (fnuz).
inline double code_value(Fp8Format f, int c) {
  const int e = (c >> 3) & 0xF, m = c & 7;
  const double mag = e == 0 ? std::ldexp(static_cast<double>(m), 1 - bias(f) - 3)
                            : std::ldexp(static_cast<double>(8 + m), e - bias(f) - 3);
  return (c & 0x80) ? -mag : mag;
}

/// The non-negative finite codes of a format, sorted by value, with values in units of 2^-35
/// (exact: every fp8 value is a multiple of 2^-10 and at most 448).
struct Grid {
  std::vector<std::pair<std::int64_t, int>> v;  // (value * 2^35, code)
  explicit Grid(Fp8Format f) {
    for (int c = 0; c < 0x80; ++c) {
      if (is_nan_code(f, c)) continue;
      v.emplace_back(static_cast<std::int64_t>(std::ldexp(code_value(f, c), 35)), c);
    }
    std::sort(v.begin(), v.end());
  }
  double max() const { return std::ldexp(static_cast<double>(v.back().first), -35); }
  int max_code() const { return v.back().second; }
};

inline const Grid& grid(Fp8Format f) {
  static const Grid fn(Fp8Format::e4m3fn), fnuz(Fp8Format::e4m3fnuz);
  return f == Fp8Format::e4m3fn ? fn : fnuz;
}

/// encode() per the spec: NaN -> canonical NaN; +-inf and |x| > max -> +-max; otherwise the
/// nearest code, ties to the even mantissa; zero results keep the sign in fn only.
inline std::uint8_t encode(Fp8Format f, float x) {
  const bool fn = f == Fp8Format::e4m3fn;
  if (std::isnan(x)) return fn ? 0x7F : 0x80;
  const bool neg = std::signbit(x);
  const Grid& g = grid(f);
  const double a = std::fabs(static_cast<double>(x));
  int code;
  if (a > g.max()) {
    code = g.max_code();
  } else if (a < std::ldexp(1.0, -12)) {
    // Below 2^-12 (a quarter of fn's and half of fnuz's smallest subnormal) zero is nearest.
    code = 0;
  } else {
    // a >= 2^-12 has an ulp >= 2^-35, so a * 2^35 is an integer: exact distances in int64.
    const auto X = static_cast<std::int64_t>(std::ldexp(a, 35));
    std::int64_t best = -1;
    code = -1;
    for (const auto& [val, c] : g.v) {
      const std::int64_t d = X > val ? X - val : val - X;
      if (best < 0 || d < best || (d == best && (c & 1) == 0)) {
        best = d;
        code = c;
      }
    }
  }
  if (code == 0) return (fn && neg) ? 0x80 : 0x00;
  return static_cast<std::uint8_t>(code | (neg ? 0x80 : 0));
}

/// decode(): exact value, NaN codes give a NaN.
inline double decode(Fp8Format f, int c) { return is_nan_code(f, c) ? std::nan("") : code_value(f, c); }

/// fp16 bits -> value (double, exact).
inline double f16_value(std::uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0x1F) return m ? std::nan("") : s * HUGE_VAL;
  if (e == 0) return s * std::ldexp(static_cast<double>(m), -24);
  return s * std::ldexp(static_cast<double>(1024 + m), e - 25);
}
/// bf16 bits -> value (double, exact).
inline double bf16_value(std::uint16_t b) {
  const int e = (b >> 7) & 0xFF, m = b & 0x7F;
  const double s = (b & 0x8000) ? -1.0 : 1.0;
  if (e == 0xFF) return m ? std::nan("") : s * HUGE_VAL;
  if (e == 0) return s * std::ldexp(static_cast<double>(m), -133);
  return s * std::ldexp(static_cast<double>(128 + m), e - 134);
}

// Round a finite double (exactly a float32 value) to a binary format with `p` significand bits and
// minimum normal exponent `emin`; returns (n, q_exp) with value = n * 2^q_exp, n an integer
// rounded to nearest, ties to even (std::nearbyint in the default rounding mode).
inline void round_to(double a, int p, int emin, double* n, int* q_exp) {
  int e;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1): unbiased exponent e - 1
  const int q = std::max(e - 1, emin) - (p - 1);
  *n = std::nearbyint(std::ldexp(a, -q));  // exact scaling by a power of two
  *q_exp = q;
}

/// float32 -> fp16 bits, IEEE round to nearest even, overflow to inf, NaN -> 0x7E00.
inline std::uint16_t to_f16(float x) {
  if (std::isnan(x)) return 0x7E00;
  const std::uint16_t s = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0) return s;
  if (std::isinf(a)) return s | 0x7C00;
  double n;
  int q;
  round_to(a, 11, -14, &n, &q);
  const double v = std::ldexp(n, q);
  if (v >= 65536.0) return s | 0x7C00;
  if (v < std::ldexp(1.0, -14)) return static_cast<std::uint16_t>(s | static_cast<int>(n));  // subnormal or 0
  int e;
  std::frexp(v, &e);
  const int m = static_cast<int>(std::ldexp(v, 11 - e)) - 1024;
  return static_cast<std::uint16_t>(s | ((e - 1 + 15) << 10) | m);
}

/// float32 -> bf16 bits, IEEE round to nearest even, overflow to inf, NaN -> 0x7FC0.
inline std::uint16_t to_bf16(float x) {
  if (std::isnan(x)) return 0x7FC0;
  const std::uint16_t s = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0) return s;
  if (std::isinf(a)) return s | 0x7F80;
  double n;
  int q;
  round_to(a, 8, -126, &n, &q);
  const double v = std::ldexp(n, q);
  if (v >= std::ldexp(1.0, 128)) return s | 0x7F80;
  if (v < std::ldexp(1.0, -126)) return static_cast<std::uint16_t>(s | static_cast<int>(n));
  int e;
  std::frexp(v, &e);
  const int m = static_cast<int>(std::ldexp(v, 8 - e)) - 128;
  return static_cast<std::uint16_t>(s | ((e - 1 + 127) << 7) | m);
}

/// quantize per the spec: encode(float32(x) / scale), one float32 division.
inline std::uint8_t quantize(Fp8Format f, float x, float scale) { return encode(f, x / scale); }

/// dequantize to float32 per the spec: decode(q) * scale, one float32 multiply (NaN codes give
/// the quiet NaN 0x7FC00000 times scale, i.e. 0x7FC00000).
inline float dequantize_f32(Fp8Format f, int c, float scale) {
  if (is_nan_code(f, c)) return from_bits(0x7FC00000u);
  return static_cast<float>(code_value(f, c)) * scale;
}

}  // namespace ref
