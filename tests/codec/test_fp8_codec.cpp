// fp8.hpp against the independent reference (reference.hpp): every code, every fp16 and bf16
// input at several scales, >= 10^6 random and edge float32 values, and the spec's tables.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "codec/looped_codec.hpp"
#include "codec/reference.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/half.hpp"

namespace {

using kvscale::Fp8Format;
namespace fp8 = kvscale::fp8;

constexpr Fp8Format kFormats[] = {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz};
const float kScales[] = {1.0f, 0.1f, 1.0f / 448.0f, 0.0078125f /* 2^-7 */, 3.7f};

const char* name(Fp8Format f) { return f == Fp8Format::e4m3fn ? "fn" : "fnuz"; }

TEST(Fp8Decode, AllCodesMatchFormula) {
  for (Fp8Format f : kFormats) {
    for (int c = 0; c < 256; ++c) {
      const float got = fp8::decode(f, static_cast<std::uint8_t>(c));
      if (ref::is_nan_code(f, c)) {
        EXPECT_TRUE(std::isnan(got)) << name(f) << " code " << c;
        EXPECT_EQ(ref::bits(got), 0x7FC00000u) << name(f) << " code " << c;
        continue;
      }
      const double want = ref::decode(f, c);
      EXPECT_EQ(static_cast<double>(got), want) << name(f) << " code " << c;
      EXPECT_EQ(std::signbit(got), (c & 0x80) != 0) << name(f) << " code " << c;
    }
  }
}

// The loop-free decode against the normalisation-loop oracle, bit for bit (NaN payloads too).
TEST(Fp8Decode, EqualsLoopedOracleForEveryCode) {
  for (std::uint32_t c = 0; c < 256; ++c) {
    ASSERT_EQ(ref::bits(fp8::decode(Fp8Format::e4m3fn, static_cast<std::uint8_t>(c))),
              ref::bits(oracle::decode_looped(Fp8Format::e4m3fn, static_cast<std::uint8_t>(c))))
        << std::hex << c;
    ASSERT_EQ(ref::bits(fp8::decode(Fp8Format::e4m3fnuz, static_cast<std::uint8_t>(c))),
              ref::bits(oracle::decode_looped(Fp8Format::e4m3fnuz, static_cast<std::uint8_t>(c))))
        << std::hex << c;
  }
}

TEST(Fp8Decode, EncodeRoundTripsEveryCode) {
  for (Fp8Format f : kFormats) {
    for (int c = 0; c < 256; ++c) {
      const float v = fp8::decode(f, static_cast<std::uint8_t>(c));
      const std::uint8_t want = ref::is_nan_code(f, c) ? fp8::nan_code(f) : static_cast<std::uint8_t>(c);
      EXPECT_EQ(fp8::encode(f, v), want) << name(f) << " code " << c;
      EXPECT_EQ(ref::encode(f, v), want) << "reference, " << name(f) << " code " << c;
    }
  }
}

TEST(Fp8Decode, FnuzIsHalfOfFn) {
  for (int c = 0; c < 256; ++c) {
    if (c == 0x7F || c == 0xFF || c == 0x80) continue;
    const auto q = static_cast<std::uint8_t>(c);
    EXPECT_EQ(fp8::decode(Fp8Format::e4m3fnuz, q), fp8::decode(Fp8Format::e4m3fn, q) * 0.5f) << c;
  }
  // And encode: x in fnuz is 2x in fn (away from saturation, NaN and zero sign).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-200.0f, 200.0f);
  for (int i = 0; i < 100000; ++i) {
    const float x = u(rng);
    const std::uint8_t a = fp8::encode(Fp8Format::e4m3fnuz, x), b = fp8::encode(Fp8Format::e4m3fn, 2.0f * x);
    if ((b & 0x7F) == 0) continue;
    EXPECT_EQ(a, b) << x;
  }
}

TEST(Fp8Encode, SpecReferenceTable) {
  struct Row {
    float x;
    int fn, fnuz;
  };
  const Row rows[] = {
      {0.0f, 0x00, 0x00},
      {-0.0f, 0x80, 0x00},
      {1.0f, 0x38, 0x40},
      {-1.0f, 0xb8, 0xc0},
      {240.0f, 0x77, 0x7f},
      {248.0f, 0x78, 0x7f},
      {448.0f, 0x7e, 0x7f},
      {465.0f, 0x7e, 0x7f},
      {1e9f, 0x7e, 0x7f},
      {INFINITY, 0x7e, 0x7f},
      {-INFINITY, 0xfe, 0xff},
      {NAN, 0x7f, 0x80},
      {0.001953125f, 0x01, 0x02} /* 2^-9 */,
      {0.0009765625f, 0x00, 0x01} /* 2^-10 */,
      {0.00048828125f, 0x00, 0x00} /* 2^-11 */,
      {0.1f, 0x1d, 0x25},
      {-3.3e-5f, 0x80, 0x00},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(fp8::encode(Fp8Format::e4m3fn, r.x), r.fn) << r.x;
    EXPECT_EQ(fp8::encode(Fp8Format::e4m3fnuz, r.x), r.fnuz) << r.x;
    EXPECT_EQ(ref::encode(Fp8Format::e4m3fn, r.x), r.fn) << "reference " << r.x;
    EXPECT_EQ(ref::encode(Fp8Format::e4m3fnuz, r.x), r.fnuz) << "reference " << r.x;
  }
}

TEST(Fp8Quantize, DivisionNotReciprocal) {
  const float x = ref::from_bits(0x3E466666u), s = ref::from_bits(0x3DCCCCCDu);
  EXPECT_EQ(fp8::quantize(Fp8Format::e4m3fn, x, s), 0x3F);
  EXPECT_EQ(ref::quantize(Fp8Format::e4m3fn, x, s), 0x3F);
  // The reciprocal form differs: this is what the spec forbids.
  EXPECT_EQ(ref::encode(Fp8Format::e4m3fn, x * (1.0f / s)), 0x40);
}

// Every fp16 and every bf16 input, both formats, the spec's scales.
TEST(Fp8Quantize, ExhaustiveHalfInputs) {
  for (Fp8Format f : kFormats) {
    for (float s : kScales) {
      int bad16 = 0, badbf = 0;
      for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto b = static_cast<std::uint16_t>(h);
        const float x16 = static_cast<float>(ref::f16_value(b));  // exact (or NaN)
        const float xbf = static_cast<float>(ref::bf16_value(b));
        const std::uint8_t w16 = ref::encode(f, x16 / s), wbf = ref::encode(f, xbf / s);
        if (fp8::quantize(f, kvscale::half::f16_to_f32(b), s) != w16 && ++bad16 < 5)
          ADD_FAILURE() << name(f) << " scale " << s << " fp16 0x" << std::hex << h;
        if (fp8::quantize(f, kvscale::half::bf16_to_f32(b), s) != wbf && ++badbf < 5)
          ADD_FAILURE() << name(f) << " scale " << s << " bf16 0x" << std::hex << h;
      }
      EXPECT_EQ(bad16, 0);
      EXPECT_EQ(badbf, 0);
    }
  }
}

// Edge values: around every fp8 value and midpoint (+-3 float ulps), the saturation boundaries,
// subnormals of both types, infinities, NaN payloads, signed zeros.
std::vector<float> edge_values() {
  std::vector<float> v;
  auto around = [&v](double d) {
    const float c = static_cast<float>(d);
    std::uint32_t u = ref::bits(c);
    for (int k = -3; k <= 3; ++k) {
      const float y = ref::from_bits(u + static_cast<std::uint32_t>(k));
      v.push_back(y);
      v.push_back(-y);
    }
  };
  for (Fp8Format f : kFormats) {
    const auto& g = ref::grid(f).v;
    for (std::size_t i = 0; i < g.size(); ++i) {
      around(std::ldexp(static_cast<double>(g[i].first), -35));
      if (i + 1 < g.size()) around(std::ldexp(static_cast<double>(g[i].first + g[i + 1].first), -36));
    }
  }
  for (double d : {464.0, 448.0, 480.0, 248.0, 240.0, 256.0, 65504.0, 1e30, 0.0}) around(d);
  for (std::uint32_t u : {0x00000001u, 0x00000002u, 0x007FFFFFu, 0x00800000u, 0x00400000u, 0x7F7FFFFFu, 0x7F800000u,
                          0x7F800001u, 0x7FC00000u, 0x7FFFFFFFu, 0x7FA00000u, 0x33800000u, 0x34000000u}) {
    v.push_back(ref::from_bits(u));
    v.push_back(ref::from_bits(u | 0x80000000u));
  }
  return v;
}

TEST(Fp8Encode, EdgeValues) {
  const std::vector<float> v = edge_values();
  ASSERT_GT(v.size(), 3000u);
  for (Fp8Format f : kFormats) {
    int bad = 0;
    for (float x : v) {
      if (fp8::encode(f, x) != ref::encode(f, x) && ++bad < 10)
        ADD_FAILURE() << name(f) << " x bits 0x" << std::hex << ref::bits(x);
    }
    EXPECT_EQ(bad, 0);
  }
}

TEST(Fp8Encode, MillionRandomFloats) {
  std::mt19937_64 rng(0x5eed);
  int bad = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    const std::uint64_t r = rng();
    std::uint32_t u;
    switch (r & 3) {
      case 0: u = static_cast<std::uint32_t>(r >> 32); break;  // any pattern (NaN payloads, inf, ...)
      case 1:
        u = (static_cast<std::uint32_t>(r >> 32) & 0x807FFFFFu) |
            (static_cast<std::uint32_t>(100u + (r >> 8) % 40u) << 23);
        break;
      case 2: u = static_cast<std::uint32_t>(r >> 32) & 0x80FFFFFFu; break;  // float subnormals / tiny
      default:
        u = (static_cast<std::uint32_t>(r >> 32) & 0x807FFFFFu) |
            (static_cast<std::uint32_t>(115u + (r >> 8) % 22u) << 23);
        break;
    }
    const float x = ref::from_bits(u);
    for (Fp8Format f : kFormats) {
      if (fp8::encode(f, x) != ref::encode(f, x) && ++bad < 10)
        ADD_FAILURE() << name(f) << " x bits 0x" << std::hex << u;
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(Fp8Encode, NanSignAndPayloadDropped) {
  for (std::uint32_t u : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
    EXPECT_EQ(fp8::encode(Fp8Format::e4m3fn, ref::from_bits(u)), 0x7F);
    EXPECT_EQ(fp8::encode(Fp8Format::e4m3fnuz, ref::from_bits(u)), 0x80);
  }
}

}  // namespace
