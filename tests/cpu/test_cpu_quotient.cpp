// The SIMD quantize kernels compute x / scale with a reciprocal and one fused correction step where
// reciprocal_is_exact(scale) (src/cpu/kernels.hpp); the spec defines the IEEE division. These tests
// prove that the codes are the same:
//  - every one of the 2^32 f32 inputs, for scales at both ends of the reciprocal's range and in
//    the middle, on every SIMD level this machine has (label cpu: scripts/test runs them);
//  - a large seeded set of scales (random significands over the whole range, powers of two, the
//    range's edges and just beyond) with the inputs where a wrong quotient would show: both sides
//    of every rounding boundary of the fp8 grid, subnormal quotients, overflow, inf and NaN.
// The SIMD kernels quantize bf16 rows by a step table instead (src/cpu/bf16_step.hpp); the last
// test proves it: every one of the 65,536 bf16 inputs, for a seeded set of scales, in an order
// where whole blocks take the table and in a shuffled one where blocks mix it with the division.
// The AVX2 dequantize to f16/bf16 computes from split tables (DequantLut in src/cpu/kernels.hpp):
// a test compares all 256 codes, for seeded scales, with the reference. The AVX-512 level has two
// 16-bit dequantize forms (VBMI byte permutes, 16-bit permutes): the last test calls each form the
// CPU has.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cpu/bf16_step.hpp"
#include "cpu/cpu_test_util.hpp"
#include "cpu/kernels.hpp"
#include "kvscale/cpu.hpp"

namespace {

using namespace cputest;
using kvscale::QuantizeArgs;
using kvscale::Status;

std::vector<cpu::Isa> simd_isas() {
  std::vector<cpu::Isa> v;
  for (cpu::Isa i : isas())
    if (i != cpu::Isa::scalar) v.push_back(i);
  return v;
}

// The table proofs' levels: the SIMD ones, or the scalar level on a CPU without SIMD (which has no
// table path; the tests then still check its codes against the reference rather than skip).
std::vector<cpu::Isa> simd_levels_or_scalar() {
  std::vector<cpu::Isa> v = simd_isas();
  if (v.empty()) v.push_back(cpu::Isa::scalar);
  return v;
}

// cpu::quantize of n elements of `t` (f32 bits or 16-bit patterns).
void quantize_raw(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  QuantizeArgs a;
  a.format = f;
  a.dtype = t;
  a.in = in;
  a.out = out;
  a.n = n;
  a.scale = &scale;
  ASSERT_EQ(cpu::quantize(a), Status::success);
}

// The reference code of sign | m for magnitudes m in [0, 0x7F800000] (zero to infinity), as
// runs: x / scale, round to nearest and the encoding are monotone, so the code's magnitude
// (code & 0x7F) does not decrease with m and the codes form at most 128 runs. Each run's start is
// found by bisection on ref::quantize, the brute-force reference.
struct Runs {
  std::vector<std::uint32_t> first;  // first magnitude of each run, ascending; first[0] == 0
  std::vector<std::uint8_t> code;
};

Runs reference_runs(Fp8Format f, float scale, std::uint32_t sign) {
  const auto q = [&](std::uint32_t m) { return ref::quantize(f, ref::from_bits(sign | m), scale); };
  Runs r;
  std::uint32_t m = 0;
  for (;;) {
    const std::uint8_t c = q(m);
    r.first.push_back(m);
    r.code.push_back(c);
    if ((q(0x7F800000u) & 0x7F) == (c & 0x7F)) break;
    std::uint32_t lo = m, hi = 0x7F800000u;  // key(q(lo)) == key(c) < key(q(hi))
    while (hi - lo > 1) {
      const std::uint32_t mid = lo + (hi - lo) / 2;
      ((q(mid) & 0x7F) == (c & 0x7F) ? lo : hi) = mid;
    }
    m = hi;
  }
  return r;
}

// Fills want[i] with the reference code of input bits b + i (all in one sign half, b + n <= half end).
void fill_reference(const Runs& r, std::uint8_t nan_code, std::uint32_t b, std::size_t n, std::uint8_t* want) {
  std::uint32_t m = b & 0x7FFFFFFFu;
  std::size_t i = 0;
  while (i < n) {
    if (m > 0x7F800000u) {
      std::memset(want + i, nan_code, n - i);
      return;
    }
    const auto it = std::upper_bound(r.first.begin(), r.first.end(), m) - 1;
    const auto k = static_cast<std::size_t>(it - r.first.begin());
    const std::uint64_t end = k + 1 < r.first.size() ? r.first[k + 1] : 0x7F800001ull;  // run end (excl.)
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(end - m, n - i));
    std::memset(want + i, r.code[k], len);
    i += len;
    m += static_cast<std::uint32_t>(len);
  }
}

struct Case {
  Fp8Format format;
  float scale;
};

// Inputs [first, first + 2^31) (one sign half) in cache-sized blocks; returns a failure message.
std::string check_range(Fp8Format f, float scale, const Runs& runs, std::uint8_t nan_code, std::uint32_t first,
                        std::uint64_t count) {
  constexpr std::size_t kBlock = std::size_t{1} << 16;  // one thread, stays in L2
  std::vector<std::uint32_t> in(kBlock);
  std::vector<std::uint8_t> got(kBlock), want(kBlock);
  QuantizeArgs a;
  a.format = f;
  a.dtype = DType::f32;
  a.in = in.data();
  a.out = got.data();
  a.n = kBlock;
  a.scale = &scale;
  for (std::uint64_t b = 0; b < count; b += kBlock) {
    const auto start = static_cast<std::uint32_t>(first + b);
    for (std::size_t i = 0; i < kBlock; ++i) in[i] = start + static_cast<std::uint32_t>(i);
    if (cpu::quantize(a) != Status::success) return "quantize failed";
    fill_reference(runs, nan_code, start, kBlock, want.data());
    if (std::memcmp(got.data(), want.data(), kBlock) != 0) {
      const auto i = static_cast<std::size_t>(std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin());
      std::ostringstream os;
      os << kvscale::format_name(f) << " scale " << std::hexfloat << scale << " input 0x" << std::hex << in[i]
         << " got 0x" << int(got[i]) << " want 0x" << int(want[i]);
      return os.str();
    }
  }
  return "";
}

// Every f32 bit pattern, one sign half per thread (blocks below the backend's threading size).
void check_every_f32(cpu::Isa isa, const Case& c) {
  cpu::set_max_isa(isa);
  const std::uint8_t nan_code = ref::quantize(c.format, std::nanf(""), c.scale);
  std::string err[2];
  std::vector<std::thread> threads;
  for (std::uint32_t half : {0u, 1u}) {
    threads.emplace_back([&, half] {
      const std::uint32_t sign = half << 31;
      const Runs runs = reference_runs(c.format, c.scale, sign);
      err[half] = check_range(c.format, c.scale, runs, nan_code, sign, std::uint64_t{1} << 31);
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& e : err) EXPECT_EQ(e, "") << cpu::isa_name(isa);
}

// 0.1f: the spec's example where x * (1 / scale) alone is wrong; 0x1.3c5a8ep-7: an arbitrary
// significand. (The ends of the reciprocal's range are in the seeded test below; whole sweeps there
// run mostly on subnormal arithmetic and take many times longer.)
const Case kExhaustive[] = {{Fp8Format::e4m3fn, 0.1f}, {Fp8Format::e4m3fnuz, 0x1.3c5a8ep-7f}};

class EveryF32Input : public ::testing::TestWithParam<std::tuple<cpu::Isa, int>> {};

TEST_P(EveryF32Input, SameCodesAsDivision) {
  BackendGuard g;
  const cpu::Isa isa = std::get<0>(GetParam());
  ASSERT_EQ(cpu::set_max_isa(isa), isa);  // instantiated only for the levels this CPU has
  check_every_f32(isa, kExhaustive[std::get<1>(GetParam())]);
}

// One instance per SIMD level of this CPU (none on a CPU without SIMD: there the reciprocal path
// does not exist, and the seeded test below still checks the scalar level).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EveryF32Input);
INSTANTIATE_TEST_SUITE_P(CpuQuotient, EveryF32Input,
                         ::testing::Combine(::testing::ValuesIn(simd_isas()), ::testing::Values(0, 1)),
                         [](const ::testing::TestParamInfo<std::tuple<cpu::Isa, int>>& i) {
                           return std::string(cpu::isa_name(std::get<0>(i.param))) + "_case" +
                                  std::to_string(std::get<1>(i.param));
                         });

// The scales: powers of two over 2^-70 .. 2^70 (beyond the reciprocal's range the kernels divide),
// the range's edges and their neighbours, and random significands with exponents over the range.
std::vector<float> seeded_scales(std::size_t n_random) {
  std::vector<float> s;
  for (int e = -70; e <= 70; ++e) s.push_back(std::ldexp(1.0f, e));
  for (float edge : {0x1p-64f, 0x1p64f}) {
    s.push_back(std::nextafter(edge, 0.0f));
    s.push_back(std::nextafter(edge, INFINITY));
  }
  for (float x : {0.1f, 1.0f / 448.0f, 1.0f / 240.0f, 3.0f, 0x1.fffffep-1f, 0x1.000002p0f}) s.push_back(x);
  std::mt19937_64 rng(20261126);
  for (std::size_t i = 0; i < n_random; ++i) {
    const auto sig = static_cast<std::uint32_t>(rng() & 0x7FFFFFu);
    const auto e = static_cast<std::uint32_t>(127 - 66 + static_cast<int>(rng() % 133));  // 2^-66 .. 2^66
    s.push_back(ref::from_bits((e << 23) | sig));
  }
  return s;
}

// Inputs around every rounding boundary of the fp8 grid (midpoints between neighbours, and the
// saturation and underflow thresholds) times the scale, +-2 ulps, both signs; and specials.
std::vector<std::uint32_t> boundary_inputs(Fp8Format f, float scale, std::mt19937_64& rng) {
  std::vector<double> values;
  for (int c = 0; c < 0x7F; ++c) {
    const double v = ref::dequantize_f32(f, c, 1.0f);
    const double w = ref::dequantize_f32(f, c + 1, 1.0f);
    if (std::isnan(v) || std::isnan(w)) continue;
    values.push_back((v + w) / 2);
    values.push_back(v);
  }
  std::vector<std::uint32_t> in;
  for (double v : values) {
    const auto center = static_cast<std::int64_t>(ref::bits(static_cast<float>(v * static_cast<double>(scale))));
    for (std::int64_t d = -2; d <= 2; ++d) {
      const std::int64_t b = center + d;
      if (b < 0 || b > 0x7F800000) continue;
      in.push_back(static_cast<std::uint32_t>(b));
      in.push_back(static_cast<std::uint32_t>(b) | 0x80000000u);
    }
  }
  for (std::uint32_t b : {0u, 1u, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0x7F800000u, 0x7FC00000u, 0x7F800001u})
    for (std::uint32_t sign : {0u, 0x80000000u}) in.push_back(b | sign);
  for (int i = 0; i < 256; ++i) in.push_back(static_cast<std::uint32_t>(rng()));
  return in;
}

TEST(CpuQuotient, SeededScalesAtRoundingBoundaries) {
  BackendGuard g;
  const auto levels = isas();  // scalar too: on a CPU without SIMD the test still checks something
  std::mt19937_64 rng(7);
  const std::vector<float> scales = seeded_scales(3000);
  std::size_t checked = 0;
  for (float s : scales) {
    for (Fp8Format f : kFormats) {
      const std::vector<std::uint32_t> in = boundary_inputs(f, s, rng);
      std::vector<std::uint8_t> want(in.size()), got(in.size());
      for (std::size_t i = 0; i < in.size(); ++i) want[i] = ref::quantize(f, ref::from_bits(in[i]), s);
      for (cpu::Isa isa : levels) {
        cpu::set_max_isa(isa);
        quantize_raw(f, DType::f32, in.data(), got.data(), in.size(), s);
        for (std::size_t i = 0; i < in.size(); ++i)
          ASSERT_EQ(int(got[i]), int(want[i])) << cpu::isa_name(isa) << " " << kvscale::format_name(f) << " scale "
                                               << std::hexfloat << s << " input 0x" << std::hex << in[i];
        checked += in.size();
      }
    }
  }
  EXPECT_GT(checked, scales.size() * 1000);
}

// want[h] for every bf16 pattern h, from the reference runs of its sign half (f32 bits h << 16).
std::vector<std::uint8_t> bf16_reference(Fp8Format f, float scale) {
  const std::uint8_t nan_code = ref::quantize(f, std::nanf(""), scale);
  std::vector<std::uint8_t> want(65536);
  for (std::uint32_t half : {0u, 1u}) {
    const Runs runs = reference_runs(f, scale, half << 31);
    for (std::uint32_t h = half << 15; h < ((half + 1) << 15); ++h)
      fill_reference(runs, nan_code, h << 16, 1, &want[h]);
  }
  return want;
}

std::string first_mismatch(const std::vector<std::uint16_t>& in, const std::vector<std::uint8_t>& got,
                           const std::vector<std::uint8_t>& want) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (got[i] == want[in[i]]) continue;
    std::ostringstream os;
    os << "input 0x" << std::hex << in[i] << " at " << std::dec << i << ": got 0x" << std::hex << int(got[i])
       << " want 0x" << int(want[in[i]]);
    return os.str();
  }
  return "";
}

// The bf16 tests' scales: the seeded set, and a subnormal, the smallest normal and extremes.
std::vector<float> bf16_scales() {
  std::vector<float> scales = seeded_scales(300);
  for (float s : {0x1p-149f, 0x1p-126f, 0x1.fffffep127f, 0x1.8p-140f}) scales.push_back(s);
  return scales;
}

// Every bf16 pattern: in order (seed 0), or shuffled with the seed.
std::vector<std::uint16_t> every_bf16(std::uint64_t seed) {
  std::vector<std::uint16_t> in(65536);
  for (std::uint32_t h = 0; h < 65536; ++h) in[h] = static_cast<std::uint16_t>(h);
  if (seed != 0) std::shuffle(in.begin(), in.end(), std::mt19937_64(seed));
  return in;
}

TEST(CpuQuotient, Bf16StepTableEveryInputSeededScales) {
  BackendGuard g;
  const std::vector<cpu::Isa> levels = simd_levels_or_scalar();
  const std::vector<float> scales = bf16_scales();
  const std::vector<std::uint16_t> natural = every_bf16(0), shuffled = every_bf16(11);
  std::vector<std::uint8_t> got(65536);
  std::size_t with_table = 0;
  for (float s : scales) {
    for (Fp8Format f : kFormats) {
      kvscale::cpu::detail::Bf16StepTable t{};
      const bool table = kvscale::cpu::detail::build_bf16_step_table(f, s, &t);
      // Every scale a model can carry has a normal band: 2^-100 .. 2^100 is far wider than that.
      if (s >= 0x1p-100f && s <= 0x1p100f) {
        ASSERT_TRUE(table) << std::hexfloat << s;
      }
      with_table += table ? 1 : 0;
      const std::vector<std::uint8_t> want = bf16_reference(f, s);
      for (cpu::Isa isa : levels) {
        cpu::set_max_isa(isa);
        for (const auto* in : {&natural, &shuffled}) {
          quantize_raw(f, DType::bf16, in->data(), got.data(), in->size(), s);
          const std::string err = first_mismatch(*in, got, want);
          ASSERT_EQ(err, "") << cpu::isa_name(isa) << " " << kvscale::format_name(f) << " scale " << std::hexfloat << s
                             << (in == &natural ? " natural order" : " shuffled");
        }
      }
    }
  }
  EXPECT_GT(with_table, scales.size());  // most (scale, format) pairs ran the table path
}

// Rows long enough for the streaming stores and the thread pool (4 Mi elements: every bf16 input
// 64 times over), for a few scales.
TEST(CpuQuotient, Bf16StepTableStreamingAndThreads) {
  BackendGuard g;
  const std::vector<cpu::Isa> levels = simd_levels_or_scalar();
  std::vector<std::uint16_t> in(std::size_t{1} << 22);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint16_t>((i * 40503u) >> 6);
  std::vector<std::uint8_t> got(in.size() + 64);
  for (float s : {0.1f, 0.0625f, 0x1.3c5a8ep-7f}) {
    for (Fp8Format f : kFormats) {
      const std::vector<std::uint8_t> want = bf16_reference(f, s);
      for (cpu::Isa isa : levels) {
        cpu::set_max_isa(isa);
        for (int threads : {1, 2}) {
          cpu::set_num_threads(threads);
          for (std::size_t off : {0u, 1u, 33u}) {  // output alignment: the streaming head
            std::vector<std::uint8_t> out(in.size());
            quantize_raw(f, DType::bf16, in.data(), got.data() + off, in.size(), s);
            std::copy(got.begin() + static_cast<std::ptrdiff_t>(off),
                      got.begin() + static_cast<std::ptrdiff_t>(off + in.size()), out.begin());
            ASSERT_EQ(first_mismatch(in, out, want), "")
                << cpu::isa_name(isa) << " threads " << threads << " offset " << off << " scale " << s;
          }
        }
      }
    }
  }
}

// Every code, for seeded scales (powers of two over f16's and bf16's ranges and beyond, random
// significands), each SIMD level, f16 and bf16: the 256 codes in order, shuffled, and in a tail.
TEST(CpuQuotient, DequantizeSplitTablesEveryCodeSeededScales) {
  BackendGuard g;
  const std::vector<cpu::Isa> levels = simd_levels_or_scalar();
  std::vector<float> scales;
  for (int e = -140; e <= 127; e += 3) scales.push_back(std::ldexp(1.0f, e));
  std::mt19937_64 rng(20261127);
  for (int i = 0; i < 400; ++i) {
    const auto sig = static_cast<std::uint32_t>(rng() & 0x7FFFFFu);
    const auto e = static_cast<std::uint32_t>(1 + rng() % 254);
    scales.push_back(ref::from_bits((e << 23) | sig));
  }
  std::vector<std::uint8_t> codes(256 * 3 + 29);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i);
  std::shuffle(codes.begin() + 256, codes.begin() + 512, std::mt19937_64(3));
  std::vector<std::uint16_t> got(codes.size());
  std::size_t f16_split = 0, bf16_scales = 0;
  for (float s : scales) {
    for (Fp8Format f : kFormats) {
      for (DType t : {DType::f16, DType::bf16}) {
        kvscale::cpu::detail::DequantLut lut;
        kvscale::cpu::detail::build_dequant_lut(f, t, s, &lut);
        kvscale::cpu::detail::derive_split16(&lut);  // as the AVX2 kernels' builder does
        f16_split += t == DType::f16 && lut.split_ok ? 1 : 0;
        // bf16 keeps f32's exponent range: every scale whose results stay normal has the split form.
        if (t == DType::bf16 && s >= 0x1p-100f && s <= 0x1p100f) {
          ++bf16_scales;
          ASSERT_TRUE(lut.split_ok) << std::hexfloat << s;
        }
        for (cpu::Isa isa : levels) {
          cpu::set_max_isa(isa);
          kvscale::DequantizeArgs a;
          a.format = f;
          a.dtype = t;
          a.in = codes.data();
          a.out = got.data();
          a.n = codes.size();
          a.scale = &s;
          ASSERT_EQ(cpu::dequantize(a), Status::success);
          for (std::size_t i = 0; i < codes.size(); ++i)
            ASSERT_EQ(got[i], ref_dequant(f, t, codes[i], s))
                << cpu::isa_name(isa) << " " << kvscale::format_name(f) << " " << kvscale::dtype_name(t) << " scale "
                << std::hexfloat << s << " code 0x" << std::hex << int(codes[i]) << " at " << std::dec << i;
        }
      }
    }
  }
  EXPECT_GT(bf16_scales, scales.size());  // both formats
  EXPECT_GT(f16_split, 20u);              // f16 scales whose every result is a normal f16 (about 2^-5 .. 2^7)
}

// The AVX-512 level's two bf16 quantize forms (the step codes by 16-entry shuffles, or by VBMI byte
// permutes over the table's 128 codes: quantize_vbmi.cpp), called directly so that both run where
// the CPU has VBMI: every bf16 input, for the seeded scales, in order and shuffled, through the row
// kernel and through the batched runs of the paged writes (128-element runs and a 37-element tail).
#if defined(KVSCALE_X86_SIMD)
std::vector<bool> avx512_forms();

class Avx512QuantizeForm : public ::testing::TestWithParam<bool> {};

TEST_P(Avx512QuantizeForm, EveryBf16InputMatchesTheReference) {
  namespace d = kvscale::cpu::detail;
  const bool vbmi = GetParam();
  const d::RowKernels k = d::avx512_kernels(vbmi);
  const std::vector<float> scales = bf16_scales();
  const std::vector<std::uint16_t> natural = every_bf16(0), shuffled = every_bf16(13);
  std::vector<std::uint8_t> got(65536);
  std::size_t batched = 0;
  for (float s : scales)
    for (Fp8Format f : kFormats) {
      const std::vector<std::uint8_t> want = bf16_reference(f, s);
      d::Bf16StepTable table{};
      const bool has_table = d::build_bf16_step_table(f, s, &table);
      for (const auto* in : {&natural, &shuffled}) {
        const char* order = in == &natural ? " natural order" : " shuffled";
        std::fill(got.begin(), got.end(), 0xEE);
        k.quantize(f, DType::bf16, in->data(), got.data(), in->size(), s);
        ASSERT_EQ(first_mismatch(*in, got, want), "")
            << (vbmi ? "vbmi" : "shuffles") << " row " << kvscale::format_name(f) << " scale " << std::hexfloat << s
            << order;
        if (!has_table) continue;
        std::vector<d::RowRun> runs;
        for (std::size_t i = 0; i < in->size(); i += 128) {
          const std::size_t n = std::min<std::size_t>(i + 128 == in->size() ? 37 : 128, in->size() - i);
          runs.push_back(d::RowRun{in->data() + i, got.data() + i, n});
        }
        std::fill(got.begin(), got.end(), 0xEE);
        k.quantize_step(&table, &s, f, runs.data(), nullptr, runs.size(), d::RunLookAhead{true, true});
        for (std::size_t i = in->size() - 128 + 37; i < in->size(); ++i) {  // past the last run: not written
          ASSERT_EQ(got[i], 0xEE) << (vbmi ? "vbmi" : "shuffles") << " wrote past the runs at " << i;
          got[i] = want[(*in)[i]];
        }
        ASSERT_EQ(first_mismatch(*in, got, want), "")
            << (vbmi ? "vbmi" : "shuffles") << " runs " << kvscale::format_name(f) << " scale " << std::hexfloat << s
            << order;
        ++batched;
      }
    }
  EXPECT_GT(batched, scales.size());  // most (scale, format) pairs have a table
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Avx512QuantizeForm);
INSTANTIATE_TEST_SUITE_P(CpuQuotient, Avx512QuantizeForm, ::testing::ValuesIn(avx512_forms()),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return std::string(i.param ? "vbmi" : "shuffles");
                         });
#endif

// The AVX-512 level's two 16-bit dequantize forms, called directly so that both run where the
// CPU has VBMI (the ops then take the byte-permute form): every code in order, shuffled and in
// tails of each length class, at output offsets that move the streaming form's aligned head, with
// ordinary and streaming stores, and the bytes around the output left alone. The VBMI form also
// gets a table without byte planes (built by another level), which it must compute from too.
#if defined(KVSCALE_X86_SIMD)
// The forms this CPU runs: none without the AVX-512 level, the 16-bit permutes with it, and the
// VBMI form too where the CPU has VBMI.
std::vector<bool> avx512_forms() {
  const std::vector<cpu::Isa> levels = isas();
  std::vector<bool> forms;
  if (std::find(levels.begin(), levels.end(), cpu::Isa::avx512) != levels.end()) forms.push_back(false);
  if (!forms.empty() && kvscale::cpu::detail::has_avx512_vbmi()) forms.push_back(true);
  return forms;
}

class Avx512DequantForm : public ::testing::TestWithParam<bool> {};

TEST_P(Avx512DequantForm, EveryCodeMatchesTheReference) {
  namespace d = kvscale::cpu::detail;
  const bool vbmi = GetParam();
  std::vector<float> scales;
  for (int e = -140; e <= 127; e += 7) scales.push_back(std::ldexp(1.0f, e));
  std::mt19937_64 rng(20261127);
  for (int i = 0; i < 60; ++i)
    scales.push_back(ref::from_bits(((1 + static_cast<std::uint32_t>(rng() % 254)) << 23) | (rng() & 0x7FFFFFu)));
  std::vector<std::uint8_t> codes(256 * 3 + 29);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i);
  std::shuffle(codes.begin() + 256, codes.begin() + 512, std::mt19937_64(5));
  constexpr std::uint16_t kGuard = 0xA5A5;
  std::size_t runs = 0;
  const d::RowKernels k = d::avx512_kernels(vbmi);
  for (float s : scales)
    for (Fp8Format f : kFormats)
      for (DType t : {DType::f16, DType::bf16})
        for (bool planes : {true, false}) {
          d::DequantLut lut;
          if (planes) {
            k.build_lut(f, t, s, &lut);
            ASSERT_EQ(lut.bytes_ok, vbmi);
          } else {
            d::build_dequant_lut(f, t, s, &lut);
          }
          for (bool stream : {false, true})
            for (std::size_t n :
                 {std::size_t{0}, std::size_t{1}, std::size_t{31}, std::size_t{32}, std::size_t{33}, std::size_t{63},
                  std::size_t{64}, std::size_t{65}, std::size_t{127}, std::size_t{255}, codes.size()})
              for (std::size_t off : {0u, 1u, 33u}) {
                alignas(64) std::uint16_t out[2 * 1024] = {};
                std::fill(std::begin(out), std::end(out), kGuard);
                (stream ? k.dequantize_stream : k.dequantize)(f, t, codes.data(), out + off, n, s, lut);
                ++runs;
                for (std::size_t i = 0; i < 2 * 1024; ++i) {
                  const bool inside = i >= off && i < off + n;
                  const std::uint32_t want = inside ? ref_dequant(f, t, codes[i - off], s) : kGuard;
                  ASSERT_EQ(out[i], want)
                      << (vbmi ? "vbmi" : "16-bit permutes") << (planes ? "" : " (no planes)")
                      << (stream ? " stream" : "") << " " << kvscale::format_name(f) << " " << kvscale::dtype_name(t)
                      << " scale " << std::hexfloat << s << " n " << std::dec << n << " offset " << off << " at " << i;
                }
              }
        }
  EXPECT_GT(runs, 0u);
}

// One instance per form this CPU has (none without AVX-512: there neither form can run, and the
// split-table test above checks the levels it has).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Avx512DequantForm);
INSTANTIATE_TEST_SUITE_P(CpuQuotient, Avx512DequantForm, ::testing::ValuesIn(avx512_forms()),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return std::string(i.param ? "vbmi" : "permutes16");
                         });
#endif

}  // namespace
