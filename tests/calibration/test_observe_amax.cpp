// cpu::observe_amax against a brute-force reference written here: widen every element to float,
// skip NaN, take fabs and the float max. All dtypes, per tensor and per head, accumulation across
// calls, NaN / inf / -0, padding tokens, padded rows, both ISA paths and thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/op_case.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace test {
namespace {

float element(DType t, const std::vector<std::uint8_t>& b, std::size_t i) {
  if (t == DType::f32) {
    float f;
    std::memcpy(&f, &b[4 * i], 4);
    return f;
  }
  std::uint16_t h;
  std::memcpy(&h, &b[2 * i], 2);
  return t == DType::f16 ? half::f16_to_f32(h) : half::bf16_to_f32(h);
}

// The reference: plain float arithmetic, one element at a time.
void reference(DType t, const TokenRows& r, const std::vector<std::uint8_t>& k, const std::vector<std::uint8_t>& v,
               const std::int64_t* slots, std::vector<float>* amax) {
  const std::size_t H = static_cast<std::size_t>(r.num_kv_heads), D = static_cast<std::size_t>(r.head_size);
  for (std::size_t tok = 0; tok < static_cast<std::size_t>(r.num_tokens); ++tok) {
    if (slots != nullptr && slots[tok] < 0) continue;
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t d = 0; d < D; ++d)
        for (int side = 0; side < 2; ++side) {
          const std::size_t stride = static_cast<std::size_t>(side ? r.value_row_stride : r.key_row_stride);
          const float x = element(t, side ? v : k, tok * stride + h * D + d);
          if (std::isnan(x)) continue;
          const float a = std::fabs(x);
          float& head = (*amax)[2 + side * H + h];
          float& tensor = (*amax)[static_cast<std::size_t>(side)];
          if (a > head) head = a;
          if (a > tensor) tensor = a;
        }
  }
}

std::string bits_diff(const std::vector<float>& want, const std::vector<float>& got) {
  for (std::size_t i = 0; i < want.size(); ++i)
    if (f2u(want[i]) != f2u(got[i])) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "amax[%zu]: want %08x (%g) got %08x (%g)", i, f2u(want[i]),
                    static_cast<double>(want[i]), f2u(got[i]), static_cast<double>(got[i]));
      return buf;
    }
  return {};
}

struct Restore {
  ~Restore() {
    cpu::set_max_isa(cpu::Isa::best);
    cpu::set_num_threads(0);
  }
};

TEST(ObserveAmax, MatchesBruteForceAcrossCallsDtypesShapesAndPaths) {
  Restore restore;
  const PagedShape shapes[] = {{8, 128, 16, 37}, {1, 128, 16, 5}, {3, 40, 5, 23}, {2, 7, 3, 9}, {4, 64, 16, 520}};
  std::uint32_t seed = 1;
  for (cpu::Isa isa : {cpu::Isa::scalar, cpu::Isa::best})
    for (int threads : {1, 4}) {
      cpu::set_max_isa(isa);
      cpu::set_num_threads(threads);
      for (DType t : kDTypes)
        for (const PagedShape& s : shapes)
          for (std::int64_t pad : {0, 16, 1})
            for (bool with_slots : {false, true}) {
              const std::int64_t row = s.heads * s.head_size;
              const TokenRows r{s.tokens, s.heads, s.head_size, row + pad, row + 2 * pad};
              std::vector<float> want(static_cast<std::size_t>(amax_floats(s.heads)), 0.0f), got = want;
              std::vector<std::int64_t> slots(static_cast<std::size_t>(s.tokens));
              for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = i % 3 == 1 ? -1 : static_cast<std::int64_t>(i);
              for (int call = 0; call < 3; ++call) {  // accumulation: the buffer survives the calls
                ++seed;
                const auto k =
                    make_input(t, static_cast<std::size_t>(s.tokens * r.key_row_stride), seed, kScales[seed % 5]);
                const auto v = make_input(t, static_cast<std::size_t>(s.tokens * r.value_row_stride), ~seed,
                                          kScales[(seed + 1) % 5]);
                const std::int64_t* sl = with_slots ? slots.data() : nullptr;
                reference(t, r, k, v, sl, &want);
                ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{t, r, k.data(), v.data(), sl, got.data()}), Status::success)
                    << last_error_message();
                const std::string d = bits_diff(want, got);
                ASSERT_TRUE(d.empty()) << dtype_name(t) << " " << s.heads << "x" << s.head_size << " tokens "
                                       << s.tokens << " pad " << pad << " slots " << with_slots << " isa "
                                       << cpu::isa_name(isa) << " threads " << threads << " call " << call << ": " << d;
              }
              // Per tensor is the max over the heads.
              for (int side = 0; side < 2; ++side) {
                float m = 0.0f;
                for (std::int64_t h = 0; h < s.heads; ++h) m = std::max(m, got[2 + side * s.heads + h]);
                EXPECT_EQ(f2u(m), f2u(got[side]));
              }
            }
    }
}

void set_element(DType t, std::vector<std::uint8_t>* b, std::size_t i, float x) {
  if (t == DType::f32) {
    std::memcpy(&(*b)[4 * i], &x, 4);
    return;
  }
  const std::uint16_t v = t == DType::f16 ? half::f32_to_f16(x) : half::f32_to_bf16(x);
  std::memcpy(&(*b)[2 * i], &v, 2);
}

// The vector loops check for NaN per block of 256 tokens and head (src/cpu/amax.hpp) and recompute
// only the blocks that hold one: finite data (the fast path) with NaNs planted in some blocks and
// heads, a head's max inside a NaN block or outside, inf next to a NaN, NaN and inf in padding
// tokens. Head sizes for the AVX-512 loop, the AVX2 loop and the row loop; one thread (blocks 0
// to 2, the last one partial) and four (chunks of ~37 tokens).
constexpr std::int64_t kPlantH = 8, kPlantT = 600;

// K and V rows of kPlantT tokens x kPlantH heads x D: normal(0, 4) values with the planted
// specials of the test below in both.
std::vector<std::uint8_t> planted_rows(DType t, std::int64_t D, std::uint32_t seed) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const auto n = static_cast<std::size_t>(kPlantT * kPlantH * D);
  std::vector<std::uint8_t> b(n * dtype_size(t));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (std::size_t i = 0; i < n; ++i) set_element(t, &b, i, normal(rng));
  const auto at = [&](std::int64_t tok, std::int64_t h, std::int64_t d) {
    return static_cast<std::size_t>((tok * kPlantH + h) * D + d);
  };
  set_element(t, &b, at(70, 3, 5), nan);  // head 3: NaN in block 0, the max in block 1
  set_element(t, &b, at(300, 3, D - 1), 1000.0f);
  set_element(t, &b, at(100, 5, 0), -nan);  // head 5: -NaN and the max in block 0
  set_element(t, &b, at(101, 5, D / 2), -2000.0f);
  set_element(t, &b, at(590, 7, 1), -inf);  // head 7: inf next to a NaN in block 2
  set_element(t, &b, at(599, 7, 2), nan);
  set_element(t, &b, at(10, 0, 3), nan);  // head 0: NaN and inf in token 10, padding below, and a
  set_element(t, &b, at(10, 0, 4), inf);  // NaN in token 11: the recomputed block skips token 10 too
  set_element(t, &b, at(11, 0, 0), nan);
  return b;
}

TEST(ObserveAmax, NanBlocksAreRecomputedAndFiniteBlocksKeepTheirMax) {
  Restore restore;
  const std::int64_t H = kPlantH, T = kPlantT;
  std::vector<std::int64_t> slots(static_cast<std::size_t>(T));
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = i == 10 ? -1 : static_cast<std::int64_t>(i);
  for (DType t : kDTypes)
    for (std::int64_t D : {128, 80, 72}) {
      const TokenRows r{T, H, D, H * D, H * D};
      const auto seed = static_cast<std::uint32_t>(D) * 7u + static_cast<std::uint32_t>(t);
      const std::vector<std::uint8_t> k = planted_rows(t, D, seed), v = planted_rows(t, D, ~seed);
      std::vector<float> want(static_cast<std::size_t>(amax_floats(H)), 0.0f);
      reference(t, r, k, v, slots.data(), &want);
      for (std::int64_t s = 0; s < 2; ++s) {  // the planted values are exact in every dtype
        EXPECT_EQ(want[2 + s * H + 3], 1000.0f);
        EXPECT_EQ(want[2 + s * H + 5], 2000.0f);
        EXPECT_EQ(want[2 + s * H + 7], std::numeric_limits<float>::infinity());
        EXPECT_LT(want[2 + s * H + 0], 100.0f);  // the padding token's inf is skipped
      }
      for (cpu::Isa isa : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::best})
        for (int threads : {1, 4}) {
          cpu::set_max_isa(isa);
          cpu::set_num_threads(threads);
          std::vector<float> got(want.size(), 0.0f);
          ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{t, r, k.data(), v.data(), slots.data(), got.data()}),
                    Status::success);
          const std::string d = bits_diff(want, got);
          ASSERT_TRUE(d.empty()) << dtype_name(t) << " D " << D << " isa " << cpu::isa_name(isa) << " threads "
                                 << threads << ": " << d;
        }
    }
}

// Every fp16 / bf16 code alone: amax is |x| widened, 0 for NaN codes, inf for +-inf, +0 for -0.
TEST(ObserveAmax, EveryHalfCodeAlone) {
  for (DType t : {DType::f16, DType::bf16}) {
    std::vector<std::uint16_t> k(65536), v(65536);
    for (std::uint32_t i = 0; i < 65536; ++i) {
      k[i] = static_cast<std::uint16_t>(i);
      v[i] = static_cast<std::uint16_t>(i ^ 0x8000u);
    }
    for (std::uint32_t i = 0; i < 65536; ++i) {
      std::vector<float> got(4, 0.0f);
      const TokenRows r{1, 1, 1, 1, 1};
      ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{t, r, &k[i], &v[i], nullptr, got.data()}), Status::success);
      const float x = t == DType::f16 ? half::f16_to_f32(k[i]) : half::bf16_to_f32(k[i]);
      const float want = std::isnan(x) ? 0.0f : std::fabs(x);
      ASSERT_EQ(f2u(got[0]), f2u(want)) << dtype_name(t) << " code " << i;
      ASSERT_EQ(f2u(got[1]), f2u(want)) << dtype_name(t) << " code " << i;  // the sign does not matter
      ASSERT_EQ(f2u(got[2]), f2u(want));
      ASSERT_EQ(f2u(got[3]), f2u(want));
    }
  }
}

TEST(ObserveAmax, NanIgnoredInfKeptNegativeZeroIsZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const TokenRows r{1, 2, 4, 8, 8};
  // Head 0 of K: NaNs and -0 only. Head 1 of K: -inf. V: -NaN, 3, -0, 2.5 / 1e-45 subnormal.
  const float k[8] = {nan, -nan, -0.0f, nan, -inf, 1.0f, -2.0f, 0.0f};
  const float v[8] = {-nan, 3.0f, -0.0f, -2.5f, 1e-45f, -0.0f, nan, 0.0f};
  std::vector<float> a(6, 0.0f);
  ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{DType::f32, r, k, v, nullptr, a.data()}), Status::success);
  EXPECT_EQ(f2u(a[2]), 0u);  // NaN and -0 only: +0
  EXPECT_EQ(a[3], inf);
  EXPECT_EQ(a[0], inf);
  EXPECT_EQ(a[4], 3.0f);
  EXPECT_EQ(a[5], 1e-45f);
  EXPECT_EQ(a[1], 3.0f);
}

TEST(ObserveAmax, PaddingTokensAreSkippedAndLargerOldValuesKept) {
  const TokenRows r{3, 1, 2, 2, 2};
  const std::uint16_t k[6] = {half::f32_to_bf16(1.0f),  half::f32_to_bf16(-2.0f), half::f32_to_bf16(1000.0f),
                              half::f32_to_bf16(-1e4f), half::f32_to_bf16(0.5f),  half::f32_to_bf16(0.25f)};
  const std::uint16_t v[6] = {half::f32_to_bf16(4.0f), 0, half::f32_to_bf16(-1e6f), 0, 0, 0};
  const std::int64_t slots[3] = {5, -1, 1 << 30};  // token 1 is padding; a large slot still counts
  std::vector<float> a = {0.0f, 7.0f, 0.0f, 7.0f};
  ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{DType::bf16, r, k, v, slots, a.data()}), Status::success);
  EXPECT_EQ(a[0], 2.0f);
  EXPECT_EQ(a[2], 2.0f);
  EXPECT_EQ(a[1], 7.0f);  // the old 7 beats V's 4; the padding token's 1e6 is ignored
  EXPECT_EQ(a[3], 7.0f);
}

TEST(ObserveAmax, SizeZeroIsANoOpAndBadArgumentsAreRejected) {
  ObserveAmaxArgs a{};
  EXPECT_EQ(cpu::observe_amax(a), Status::success);
  float buf[8] = {};
  const float k[16] = {};
  a.rows = TokenRows{2, 2, 4, 8, 8};
  a.dtype = DType::f32;
  a.key = k;
  a.value = k;
  a.amax = buf;
  EXPECT_EQ(cpu::observe_amax(a), Status::success);
  ObserveAmaxArgs b = a;
  b.key = nullptr;
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  EXPECT_NE(last_error_message().find("observe_amax: key is null"), std::string::npos) << last_error_message();
  b = a;
  b.amax = nullptr;
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  b = a;
  b.amax = reinterpret_cast<float*>(reinterpret_cast<char*>(buf) + 1);
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  b = a;
  b.rows.key_row_stride = 7;
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  b = a;
  b.rows.num_tokens = -1;
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  b = a;
  b.rows.num_kv_heads = 0;
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  b = a;
  b.dtype = static_cast<DType>(9);
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  b = a;
  b.dtype = DType::f16;
  b.key = reinterpret_cast<const char*>(k) + 1;
  EXPECT_EQ(cpu::observe_amax(b), Status::invalid_argument);
  EXPECT_EQ(validate(a), Status::success);
}

}  // namespace
}  // namespace test
}  // namespace kvscale
