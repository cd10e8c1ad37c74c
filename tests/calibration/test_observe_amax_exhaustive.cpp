// The proof of observe_amax's vector loops (src/cpu/amax.hpp: an unsigned max of the |x| bits,
// blocks where a NaN wins recomputed exactly) against a brute-force reference built from
// tests/codec/reference.hpp (widen to double from the format definition, skip NaN, fabs, max).
//
// Every fp16 / bf16 pattern, alone and with a partner from every special class (NaN+, NaN-, +-inf,
// +-0, +-max, +-subnormal): one case per KV head, 64 heads of K and 64 of V per call, 2 tokens;
// the pattern's lane and token move with the case number (every lane sees every class), the
// partner sits in the same lane of the other token, in the same token one or two vectors away, or
// in the next lane; the rest of the head is +0 or -0. f32: a seeded set of
// random patterns (a quarter with the NaN / inf exponent, a quarter subnormal) and the class
// patterns themselves, with the same partners. Three head sizes per dtype: whole 64-byte
// vectors (the AVX-512 loop), 32-byte but not 64-byte multiples (the AVX2 loop under AVX-512),
// and neither (the row loop and its scalar tail); rows at every element offset from a 64-byte
// boundary, and padded rows (layout()). Every ISA the CPU has.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "codec/reference.hpp"
#include "cpu/cpu_test_util.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/kv_cache.hpp"
#include "kvscale/status.hpp"

namespace kvscale {
namespace test {
namespace {

constexpr std::size_t kHeads = 64, kTokens = 2;

// |x| of a pattern, or -1 for a NaN: from the format definitions, not from kvscale.
double ref_abs(DType t, std::uint32_t u) {
  const double x = t == DType::f32   ? static_cast<double>(ref::from_bits(u))
                   : t == DType::f16 ? ref::f16_value(static_cast<std::uint16_t>(u))
                                     : ref::bf16_value(static_cast<std::uint16_t>(u));
  return std::isnan(x) ? -1.0 : std::fabs(x);
}

// One pattern of each special class (and "no partner", 0 = +0 like the background).
std::vector<std::uint32_t> classes(DType t) {
  const std::uint32_t inf = t == DType::f32 ? 0x7F800000u : t == DType::f16 ? 0x7C00u : 0x7F80u;
  const std::uint32_t sign = t == DType::f32 ? 0x80000000u : 0x8000u, top = sign - 1, quiet = (inf | (inf >> 1)) & top;
  const std::uint32_t sub_max = t == DType::f32 ? 0x007FFFFFu : t == DType::f16 ? 0x03FFu : 0x007Fu;
  std::vector<std::uint32_t> c = {0};
  for (std::uint32_t s : {0u, sign})
    for (std::uint32_t m : {inf + 1, quiet, top, inf, 0u, inf - 1, 1u, sub_max}) c.push_back(s | m);
  return c;
}

// The patterns to test: all 16-bit ones, or for f32 a seeded random set plus the classes.
std::vector<std::uint32_t> patterns(DType t) {
  std::vector<std::uint32_t> p;
  if (t != DType::f32) {
    for (std::uint32_t i = 0; i < 65536; ++i) p.push_back(i);
    return p;
  }
  p = classes(t);
  std::mt19937 rng(2024);
  for (int i = 0; i < 65536; ++i) {
    std::uint32_t u = static_cast<std::uint32_t>(rng());
    if (i % 4 == 1) u |= 0x7F800000u;  // NaN or inf
    if (i % 4 == 2) u &= 0x807FFFFFu;  // subnormal or zero
    p.push_back(u);
  }
  return p;
}

void put(DType t, unsigned char* buf, std::size_t i, std::uint32_t u) {
  if (t == DType::f32)
    std::memcpy(buf + 4 * i, &u, 4);
  else
    std::memcpy(buf + 2 * i, &u, 2);  // little-endian: the low half
}

// Call `batch`'s rows start `off` bytes past a 64-byte boundary (each multiple of the element size
// below 64 in turn) and are `row` elements apart, 0, 1 or 5 more than the heads: the vector loops
// see aligned rows, rows they read with masked aligned loads, and rows they read unaligned.
struct Layout {
  std::size_t off, row;
};
Layout layout(std::size_t batch, std::size_t es, std::size_t D) {
  static const std::size_t pads[] = {0, 1, 5};
  const std::size_t offs = 64 / es;
  return Layout{batch % offs * es, kHeads * D + pads[batch / offs % 3]};
}

// Case n of a head: pattern p at (token, lane d), its partner c at one of four places.
struct Place {
  std::size_t p, c;  // element indices in the head's rows: token * row + h * D + d
};
Place place(std::size_t n, std::size_t D, std::size_t row, std::size_t h) {
  const std::size_t tp = n % kTokens, d = (n / 7) % D, base = h * D;
  std::size_t tc = tp, dc = d;
  switch (n % 4) {
    case 0: tc = 1 - tp; break;        // same lane, other token
    case 1: dc = (d + 32) % D; break;  // a vector (AVX2) or half a vector (AVX-512, 16-bit) away
    case 2: dc = (d + 64) % D; break;  // same lane two AVX2 vectors away (16-bit, D % 32 == 0)
    default: dc = (d + 1) % D; break;  // the next lane
  }
  if (tc == tp && dc == d) tc = 1 - tp;
  return Place{tp * row + base + d, tc * row + base + dc};
}

// Runs every (pattern, class) case for head size D on the current ISA; returns the first mismatch.
std::string run_all(DType t, std::size_t D) {
  const std::vector<std::uint32_t> pat = patterns(t), cls = classes(t);
  const std::size_t es = t == DType::f32 ? 4 : 2, total = pat.size() * cls.size();
  std::vector<unsigned char> store[2];
  unsigned char* aligned[2];
  for (int s = 0; s < 2; ++s) {
    store[s].assign(kTokens * (kHeads * D + 5) * es + 128, 0);
    aligned[s] = store[s].data() + (64 - reinterpret_cast<std::uintptr_t>(store[s].data()) % 64);
  }
  std::vector<double> pabs(pat.size()), cabs(cls.size());  // the reference |x| of each pattern
  for (std::size_t i = 0; i < pat.size(); ++i) pabs[i] = ref_abs(t, pat[i]);
  for (std::size_t i = 0; i < cls.size(); ++i) cabs[i] = ref_abs(t, cls[i]);
  std::vector<unsigned char> bgs[2] = {std::vector<unsigned char>(D * es), std::vector<unsigned char>(D * es)};
  for (std::size_t d = 0; d < D; ++d) put(t, bgs[1].data(), d, t == DType::f32 ? 0x80000000u : 0x8000u);  // -0
  std::vector<float> got(2 + 2 * kHeads);
  std::vector<double> want(2 * kHeads);
  for (std::size_t first = 0; first < total; first += 2 * kHeads) {
    const Layout L = layout(first / (2 * kHeads), es, D);
    for (std::size_t k = 0; k < 2 * kHeads; ++k) {  // case first + k: K head k, or V head k - kHeads
      const std::size_t n = (first + k) % total, h = k % kHeads;
      unsigned char* b = aligned[k / kHeads] + L.off;
      for (std::size_t tok = 0; tok < kTokens; ++tok)  // the background: +0, or -0 for every third case
        std::memcpy(b + (tok * L.row + h * D) * es, bgs[n % 3 == 0].data(), D * es);
      const Place at = place(n, D, L.row, h);
      put(t, b, at.c, cls[n % cls.size()]);
      put(t, b, at.p, pat[n / cls.size()]);
      want[k] = std::max({0.0, pabs[n / cls.size()], cabs[n % cls.size()]});
    }
    std::fill(got.begin(), got.end(), 0.0f);
    const auto row = static_cast<std::int64_t>(L.row);
    const TokenRows r{static_cast<std::int64_t>(kTokens), static_cast<std::int64_t>(kHeads),
                      static_cast<std::int64_t>(D), row, row};
    const ObserveAmaxArgs args{t, r, aligned[0] + L.off, aligned[1] + L.off, nullptr, got.data()};
    if (cpu::observe_amax(args) != Status::success) return "observe_amax failed: " + last_error_message();
    for (std::size_t k = 0; k < 2 * kHeads; ++k)
      if (ref::bits(got[2 + k]) != ref::bits(static_cast<float>(want[k]))) {
        const std::size_t n = (first + k) % total;
        char buf[200];
        std::snprintf(buf, sizeof buf, "D=%zu offset %zu row %zu: pattern %08x with %08x (case %zu): want %g got %g", D,
                      L.off, L.row, pat[n / cls.size()], cls[n % cls.size()], n, want[k],
                      static_cast<double>(got[2 + k]));
        return buf;
      }
  }
  return {};
}

// Every dtype and head size class on one ISA level (the scalar level has one loop for every head
// size). Instantiated only for the levels this CPU runs (cputest::isas(), which KVSCALE_CPU_ISA
// caps), so nothing skips: a level the CPU lacks has no test.
class ObserveAmaxExhaustive : public ::testing::TestWithParam<cpu::Isa> {};

TEST_P(ObserveAmaxExhaustive, EveryPatternWithEverySpecialClass) {
  cputest::BackendGuard restore;
  const cpu::Isa isa = GetParam();
  ASSERT_EQ(cpu::set_max_isa(isa), isa);
  for (DType t : {DType::f16, DType::bf16, DType::f32}) {
    const std::size_t v = t == DType::f32 ? 16 : 32;  // elements per 64 bytes
    for (std::size_t D : {2 * v + v / 4, 2 * v + v / 2, 2 * v}) {
      if (isa == cpu::Isa::scalar && D != 2 * v + v / 4) continue;
      const std::string d = run_all(t, D);
      ASSERT_TRUE(d.empty()) << cpu::isa_name(isa) << " " << dtype_name(t) << ": " << d;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, ObserveAmaxExhaustive, ::testing::ValuesIn(cputest::isas()),
                         [](const ::testing::TestParamInfo<cpu::Isa>& i) { return cpu::isa_name(i.param); });

}  // namespace
}  // namespace test
}  // namespace kvscale
