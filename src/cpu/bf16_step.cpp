// The bf16 step tables (bf16_step.hpp): built with the scalar codec, cached per thread.
#include "cpu/bf16_step.hpp"

#include <cstdint>
#include <memory>
#include <new>

#include "kvscale/fp8.hpp"

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

// Code magnitude of the positive bf16 with exponent e and mantissa m (e = 0: subnormal).
unsigned code_of(Fp8Format f, float scale, unsigned e, unsigned m) {
  return fp8::quantize(f, fp8::detail::float_of((e << 23) | (m << 16)), scale) & 0x7Fu;
}

// The first e in [lo, hi] with pred(e), or hi + 1; pred is monotone (false, then true).
template <class P>
unsigned first_true(unsigned lo, unsigned hi, P pred) {
  unsigned a = lo, b = hi + 1;
  while (a < b) {
    const unsigned mid = a + (b - a) / 2;
    if (pred(mid)) {
      b = mid;
    } else {
      a = mid + 1;
    }
  }
  return a;
}

// base/thr_m1 from the 128 codes of e_fast; false where a group has more than one step.
bool split_groups(const unsigned step[128], Bf16StepTable* t) {
  for (unsigned g = 0; g < 16; ++g) {
    const unsigned b = step[8 * g];
    if (b < 8) return false;  // cannot happen: e_fast's quotients are normal
    unsigned thr = 8;
    for (unsigned j = 1; j < 8; ++j) {
      const unsigned s = step[8 * g + j];
      if (s != b && thr == 8) thr = j;
      if (s != b + (j >= thr ? 1u : 0u)) return false;
    }
    t->base[g] = static_cast<std::uint8_t>(b - 8);  // b >= 8: e_fast's codes are normal
    t->thr_m1[g] = static_cast<std::int8_t>(thr - 1);
  }
  return true;
}

}  // namespace

bool build_bf16_step_table(Fp8Format f, float scale, Bf16StepTable* t) noexcept {
  t->valid = false;
  t->max_code = f == Fp8Format::e4m3fn ? 0x7E : 0x7F;
  // e_fast: the first exponent whose smallest quotient is in fp8's normal range. (A code of 8 is
  // not enough: a quotient just below the smallest normal rounds up to it on the subnormal grid,
  // which is twice as coarse, relative to the value, as the doubled quotient's grid.)
  const float min_normal = f == Fp8Format::e4m3fn ? 0x1p-6f : 0x1p-7f;
  const unsigned e_fast =
      first_true(1, 254, [&](unsigned e) { return fp8::detail::float_of(e << 23) / scale >= min_normal; });
  if (e_fast > 254) return false;
  // e_zero1: the first exponent whose largest value has a non-zero code (0: even subnormals do).
  const unsigned e_zero1 = first_true(0, e_fast - 1, [&](unsigned e) { return code_of(f, scale, e, 127) != 0; });
  unsigned step[128];
  for (unsigned m = 0; m < 128; ++m) step[m] = code_of(f, scale, e_fast, m);
  if (!split_groups(step, t)) return false;
  for (unsigned m = 0; m < 128; ++m) t->step[m] = static_cast<std::uint8_t>(step[m] - 8);  // step[m] >= 8
  t->e_fast = static_cast<std::uint8_t>(e_fast);
  t->e_zero1 = static_cast<std::uint8_t>(e_zero1);
  t->e_sat = static_cast<std::uint8_t>(e_fast + 16 < 254 ? e_fast + 16 : 254);
  t->valid = true;
  return true;
}

namespace {

// 256 sets of 4 ways: 1,024 tables (192 KiB a thread, allocated at its first look-up). A server
// calls layer after layer, each with its K and V scales, one or one per KV head. 32 layers of 8
// heads, K and V, are 512 scales, 2 a set on average: most stay, where the 256 direct-mapped
// tables before rebuilt them on every call once the layers took turns (docs/performance.md,
// session 25). Least recently used out first.
struct StepCache {
  static constexpr std::size_t kSets = 256, kWays = 4;
  Bf16StepTable table[kSets][kWays];  // zero-initialised: key 0 is "never built"
  std::uint32_t used[kSets][kWays];
  std::uint32_t clock;
};

}  // namespace

const Bf16StepTable* cached_bf16_step_table(Fp8Format f, float scale, std::size_t n) noexcept {
  thread_local std::unique_ptr<StepCache> cache;
  if (cache == nullptr) {
    cache.reset(new (std::nothrow) StepCache());
    if (cache == nullptr) return nullptr;  // the caller divides
  }
  StepCache& c = *cache;
  const std::uint32_t key = fp8::detail::bits_of(scale) | (f == Fp8Format::e4m3fnuz ? 0x80000000u : 0u);
  const std::size_t set = (key * 2654435761u) >> 24;
  ++c.clock;
  std::size_t victim = 0;
  for (std::size_t w = 0; w < StepCache::kWays; ++w) {
    Bf16StepTable& t = c.table[set][w];
    if (t.key == key) {
      c.used[set][w] = c.clock;
      return t.valid ? &t : nullptr;
    }
    if (c.used[set][w] < c.used[set][victim]) victim = w;
  }
  if (n < kStepBuildMin) return nullptr;
  Bf16StepTable& t = c.table[set][victim];
  build_bf16_step_table(f, scale, &t);
  t.key = key;
  c.used[set][victim] = c.clock;
  return t.valid ? &t : nullptr;
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
