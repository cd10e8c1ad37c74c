// half.hpp against the independent reference: all fp16/bf16 widen exactly; narrowing matches an
// IEEE round-to-nearest-even computed another way, on edge and random float32 values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "codec/looped_codec.hpp"
#include "codec/reference.hpp"
#include "kvscale/half.hpp"

namespace {

namespace half = kvscale::half;

TEST(Half, WidenAllF16) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto b = static_cast<std::uint16_t>(h);
    const float got = half::f16_to_f32(b);
    const double want = ref::f16_value(b);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << h;
      EXPECT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << std::hex << h;
      ASSERT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

// The loop-free f16_to_f32 against the normalisation-loop oracle, bit for bit (NaN payloads too).
TEST(Half, WidenF16EqualsLoopedOracleForEveryCode) {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    ASSERT_EQ(ref::bits(half::f16_to_f32(h)), ref::bits(oracle::f16_to_f32_looped(h))) << std::hex << i;
  }
}

TEST(Half, WidenAllBf16) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto b = static_cast<std::uint16_t>(h);
    const float got = half::bf16_to_f32(b);
    const double want = ref::bf16_value(b);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << std::hex << h;
      ASSERT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

// Every fp16 / bf16 value and every midpoint between neighbours, +-2 float ulps, both signs.
std::vector<float> narrowing_edges() {
  std::vector<float> v;
  auto around = [&v](double d) {
    if (!std::isfinite(d) || d > 3.4e38) return;
    const std::uint32_t u = ref::bits(static_cast<float>(d));
    for (int k = -2; k <= 2; ++k) {
      const float y = ref::from_bits(u + static_cast<std::uint32_t>(k));
      v.push_back(y);
      v.push_back(-y);
    }
  };
  for (std::uint32_t h = 0; h < 0x7C00; ++h) {
    around(ref::f16_value(static_cast<std::uint16_t>(h)));
    around((ref::f16_value(static_cast<std::uint16_t>(h)) + ref::f16_value(static_cast<std::uint16_t>(h + 1))) / 2);
  }
  for (std::uint32_t h = 0; h < 0x7F80; h += 3) {
    around(ref::bf16_value(static_cast<std::uint16_t>(h)));
    const double next = h + 1 == 0x7F80 ? std::ldexp(1.0, 128) : ref::bf16_value(static_cast<std::uint16_t>(h + 1));
    around((ref::bf16_value(static_cast<std::uint16_t>(h)) + next) / 2);
  }
  for (std::uint32_t u : {0x7F800000u, 0x7F800001u, 0x7FC00000u, 0x7FFFFFFFu, 0x00000001u, 0x7F7FFFFFu, 0x477FEFFFu,
                          0x477FF000u, 0x33000000u, 0x33000001u, 0x32FFFFFFu}) {
    v.push_back(ref::from_bits(u));
    v.push_back(ref::from_bits(u | 0x80000000u));
  }
  return v;
}

TEST(Half, NarrowEdgesAndRandom) {
  std::vector<float> v = narrowing_edges();
  std::mt19937 rng(11);
  for (int i = 0; i < 1'000'000; ++i) v.push_back(ref::from_bits(static_cast<std::uint32_t>(rng())));
  int bad16 = 0, badbf = 0;
  for (float x : v) {
    if (half::f32_to_f16(x) != ref::to_f16(x) && ++bad16 < 10)
      ADD_FAILURE() << "f16 of 0x" << std::hex << ref::bits(x) << ": got 0x" << half::f32_to_f16(x) << " want 0x"
                    << ref::to_f16(x);
    if (half::f32_to_bf16(x) != ref::to_bf16(x) && ++badbf < 10)
      ADD_FAILURE() << "bf16 of 0x" << std::hex << ref::bits(x) << ": got 0x" << half::f32_to_bf16(x) << " want 0x"
                    << ref::to_bf16(x);
  }
  EXPECT_EQ(bad16, 0);
  EXPECT_EQ(badbf, 0);
}

TEST(Half, NanCanonical) {
  for (std::uint32_t u : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu}) {
    EXPECT_EQ(half::f32_to_f16(ref::from_bits(u)), 0x7E00);
    EXPECT_EQ(half::f32_to_bf16(ref::from_bits(u)), 0x7FC0);
  }
}

}  // namespace
