// The hardware conversion wrappers of kernels/device_codec.hpp (hw_prep + v_cvt_pk_fp8_f32 on
// gfx94x for FNUZ, on gfx950 for OCP fn; v_cvt_f32_fp8 for decoding), compiled on the host
// against the instruction model of amdgcn_model.hpp, against fp8.hpp's encode/decode:
//   - every float32 with |x| in [2^-22, 2^11), both signs; every denormal, both zeros, both
//     infinities; NaNs of both signs and a stride through the other exponents; all 2^32 patterns
//     with KVSCALE_EXHAUSTIVE_MODEL=1;
//   - both the packed path (encode4: byte order, word select) and the scalar one (encode1);
//   - the model's unknowns (FNUZ -0 result, denormal flushing) varied over the tiny range;
//   - every code decoded and dequantized to f32/f16/bf16.
// The model itself is checked against the published facts it encodes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "device_codec.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace {

static_assert(KVSCALE_HW_FP8 == 1, "the emulated gfx94x/gfx950 build takes the hardware path");
constexpr Fp8Format F = emu::amdgcn::kFormat;
static_assert(F == KVSCALE_HW_FP8_FORMAT, "the model converts the arch's native format");

float fl(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

struct Mismatches {
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> checked{0};
  std::mutex m;
  std::string first;
  void add(std::uint32_t x, const char* path, unsigned want, unsigned got) {
    if (count++ < 8) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s(0x%08x): want %02x got %02x; ", path, x, want, got);
      std::lock_guard<std::mutex> l(m);
      first += buf;
    }
  }
};

// Checks the patterns lo, lo + step, ... < hi (64-bit bounds), in groups of four through encode4
// and one by one through encode1.
void check_span(std::uint64_t lo, std::uint64_t hi, std::uint64_t step, Mismatches* mm) {
  std::uint64_t n = 0;
  std::uint32_t x[4];
  int k = 0;
  auto flush = [&](int count) {
    const std::uint32_t w = dev::encode4<F>(fl(x[0]), fl(x[1 % count]), fl(x[2 % count]), fl(x[3 % count]));
    for (int i = 0; i < count; ++i) {
      const unsigned want = fp8::encode(F, fl(x[i]));
      const unsigned got4 = (w >> (8 * i)) & 0xFFu;
      const unsigned got1 = dev::encode1<F>(fl(x[i]));
      if (got4 != want) mm->add(x[i], "encode4", want, got4);
      if (got1 != want) mm->add(x[i], "encode1", want, got1);
    }
  };
  for (std::uint64_t u = lo; u < hi; u += step) {
    x[k++] = static_cast<std::uint32_t>(u);
    ++n;
    if (k == 4) {
      flush(4);
      k = 0;
    }
  }
  if (k) flush(k);
  mm->checked += n;
}

// Splits [lo, hi) over two threads (ctest already runs two tests at once on two cores).
void check_range(std::uint64_t lo, std::uint64_t hi, std::uint64_t step, Mismatches* mm) {
  const std::uint64_t count = (hi - lo + step - 1) / step;
  const std::uint64_t mid = lo + (count / 2) * step;
  std::thread t([&] { check_span(lo, mid, step, mm); });
  check_span(mid, hi, step, mm);
  t.join();
}

void check_everything_interesting(Mismatches* mm) {
  const std::uint64_t lo = 0x34800000u /* 2^-22 */, hi = 0x45000000u /* 2^11 */;
  for (std::uint64_t sign : {0x0ull, 0x80000000ull}) {
    check_range(sign | lo, sign | hi, 1, mm);
    check_range(sign, sign | 0x00800000u, 1, mm);                     // zero and every denormal
    check_range(sign | 0x7F800000u, sign | 0x7F800001u, 1, mm);       // infinity
    check_range(sign | 0x7F800001u, sign + 0x80000000ull, 4099, mm);  // NaNs (signalling and quiet)
    check_range(sign | 0x7FC00000u, sign | 0x7FC00001u, 1, mm);       // the default quiet NaN
    check_range(sign | 0x00800000u, sign | lo, 4099, mm);             // tiny normals
    check_range(sign | hi, sign | 0x7F800000u, 4099, mm);             // overflow
  }
}

TEST(HwModel, ModelEncodesThePublishedFacts) {
  using emu::amdgcn::cvt_fp8;
  if (F == Fp8Format::e4m3fn) {
    EXPECT_EQ(cvt_fp8(F, 466.0f), 0x7Fu);  // rocm-systems#9556: Sum(448, 18) -> 0x7f on gfx950
    EXPECT_EQ(cvt_fp8(F, -466.0f), 0xFFu);
    EXPECT_EQ(cvt_fp8(F, 464.0f), 0x7Eu);  // tie to even: 448
    EXPECT_EQ(cvt_fp8(F, fl(0x7F800000u)), 0x7Fu);
    EXPECT_EQ(cvt_fp8(F, fl(0xFFC00000u)), 0xFFu);  // NaN keeps its sign
    EXPECT_EQ(cvt_fp8(F, -1e-30f), 0x80u);          // assumption: -tiny keeps the sign
    EXPECT_EQ(cvt_fp8(F, 1.0f), 0x38u);
  } else {
    EXPECT_EQ(cvt_fp8(F, 300.0f), 0x80u);  // overflow is NaN (rocjitsu; rocm-systems#9556)
    EXPECT_EQ(cvt_fp8(F, -300.0f), 0x80u);
    EXPECT_EQ(cvt_fp8(F, 248.0f), 0x80u);  // tie to even rounds up to 256: overflow
    EXPECT_EQ(cvt_fp8(F, 247.0f), 0x7Fu);
    EXPECT_EQ(cvt_fp8(F, fl(0xFF800000u)), 0x80u);
    EXPECT_EQ(cvt_fp8(F, 1.0f), 0x40u);
    EXPECT_EQ(cvt_fp8(F, 0x1p-11f), 0x00u);  // tie to even: 0
  }
  EXPECT_EQ(emu::amdgcn::cvt_pk_fp8_f32(1.0f, -1.0f, 0x12345678, false) & 0xFFFF0000, 0x12340000);
  EXPECT_EQ(static_cast<std::uint32_t>(emu::amdgcn::cvt_pk_fp8_f32(1.0f, 1.0f, 0x12345678, true)) & 0xFFFFu, 0x5678u);
  EXPECT_EQ(emu::amdgcn::fmed3f(fl(0x7FC00000u), -448.0f, 448.0f), -448.0f);  // NaN is not returned
}

// The raw instruction is not the spec: without the wrapper's clamp and NaN handling, it differs.
TEST(HwModel, TheInstructionAloneDiffersFromTheSpec) {
  int differ = 0;
  for (float x : {1000.0f, -1000.0f, fl(0x7F800000u), fl(0xFF800000u)})
    differ += emu::amdgcn::cvt_fp8(F, x) != fp8::encode(F, x);
  EXPECT_EQ(differ, 4);
  if (F == Fp8Format::e4m3fn) {
    EXPECT_NE(emu::amdgcn::cvt_fp8(F, fl(0xFFC00000u)), fp8::encode(F, fl(0xFFC00000u)));
  }
}

// KVSCALE_EXHAUSTIVE_MODEL=1: all 2^32 patterns instead (about 2 minutes per format on 2 cores).
TEST(HwModel, WrappersEqualEncodeOnEveryInterestingFloat) {
  const char* all = std::getenv("KVSCALE_EXHAUSTIVE_MODEL");
  Mismatches mm;
  if (all != nullptr && std::strcmp(all, "1") == 0) {
    check_range(0, 1ull << 32, 1, &mm);
  } else {
    check_everything_interesting(&mm);
    EXPECT_GT(mm.checked.load(), 570000000u);
  }
  EXPECT_EQ(mm.count.load(), 0u) << mm.first;
  std::printf("checked %llu inputs (%s): %llu mismatches\n", static_cast<unsigned long long>(mm.checked.load()),
              format_name(F), static_cast<unsigned long long>(mm.count.load()));
}

// The model's unknowns: the wrappers must not depend on them.
TEST(HwModel, WrappersDoNotDependOnTheUnknowns) {
  const emu::amdgcn::Options saved = emu::amdgcn::options;
  for (bool neg_zero_nan : {false, true}) {
    for (bool flush : {false, true}) {
      emu::amdgcn::options.fnuz_negative_zero_is_nan = neg_zero_nan;
      emu::amdgcn::options.flush_denormal_inputs = flush;
      Mismatches mm;
      for (std::uint64_t sign : {0x0ull, 0x80000000ull}) {
        check_span(sign | 0x38800000u /* 2^-14 */, sign | 0x3D000000u /* 2^-5 */, 13, &mm);
        check_span(sign, sign | 0x00800000u, 97, &mm);
      }
      EXPECT_EQ(mm.count.load(), 0u) << "fnuz -0 is NaN: " << neg_zero_nan << ", flush: " << flush << ": " << mm.first;
    }
  }
  emu::amdgcn::options = saved;
}

TEST(HwModel, DecodeAndDequantizeEveryCode) {
  for (float s : {1.0f, 0.1f, 0.0152239128947258f, 3.5f}) {
    for (std::uint32_t c = 0; c < 256; ++c) {
      const float want = fp8::dequantize(F, static_cast<std::uint8_t>(c), s);
      const bool nan = want != want;
      const std::uint32_t f32 = bits(dev::dequantize1<F, DType::f32>(static_cast<std::uint8_t>(c), s));
      EXPECT_EQ(f32, nan ? 0x7FC00000u : bits(want)) << c;
      const std::uint16_t h = dev::dequantize1<F, DType::f16>(static_cast<std::uint8_t>(c), s);
      const std::uint16_t b = dev::dequantize1<F, DType::bf16>(static_cast<std::uint8_t>(c), s);
      EXPECT_EQ(h, half::f32_to_f16(want)) << c;
      EXPECT_EQ(b, half::f32_to_bf16(want)) << c;
    }
  }
}

}  // namespace
}  // namespace kvscale
