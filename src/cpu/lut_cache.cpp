// The calling thread's dequantize tables of recent scale sets (lut_cache.hpp).
//
// Sets: 64 buckets of 4 ways, least recently used out first, and kLutCacheTables tables in all
// (80 layers of 8 KV heads, K and V, are 1,280). A set larger than a quarter of that goes to one
// of two scratch sets that take turns, so that the previous look-up's array stays valid.
#include "cpu/lut_cache.hpp"

#include <cstdint>
#include <vector>

#include "kvscale/fp8.hpp"

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

struct LutSet {
  std::uint64_t used = 0;  // the look-up that last returned it; 0: empty
  std::uint64_t hash = 0;
  Fp8Format f = Fp8Format::e4m3fn;
  DType t = DType::bf16;
  BuildLutFn build = nullptr;
  std::vector<std::uint32_t> bits;
  std::vector<DequantLut> luts;

  bool holds(std::uint64_t h, Fp8Format f_, DType t_, const float* scales, std::size_t n, BuildLutFn b) const {
    if (used == 0 || hash != h || f != f_ || t != t_ || build != b || bits.size() != n) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (bits[i] != fp8::detail::bits_of(scales[i])) return false;
    return true;
  }
  // Rebuilds the set for the scales; false (left empty) where memory runs out.
  bool fill(std::uint64_t h, Fp8Format f_, DType t_, const float* scales, std::size_t n, BuildLutFn b) {
    used = 0;
    try {
      bits.resize(n);
      luts.resize(n);
    } catch (...) {
      bits.clear();
      luts.clear();
      return false;
    }
    hash = h;
    f = f_;
    t = t_;
    build = b;
    for (std::size_t i = 0; i < n; ++i) {
      bits[i] = fp8::detail::bits_of(scales[i]);
      b(f_, t_, scales[i], &luts[i]);
      luts[i].built_by = b;
    }
    return true;
  }
  void clear() {
    used = 0;
    bits = {};
    luts = {};
  }
};

constexpr std::size_t kBuckets = 64, kWays = 4;

struct LutCache {
  LutSet set[kBuckets][kWays];
  LutSet scratch[2];
  std::size_t tables = 0;  // in set[][]
  std::uint64_t clock = 0;

  // Evicts the least recently used sets until `n` more tables fit, never the one the previous
  // look-up returned (used == clock - 1).
  void make_room(std::size_t n) {
    while (tables + n > kLutCacheTables) {
      LutSet* lru = nullptr;
      for (auto& b : set)
        for (LutSet& s : b)
          if (s.used != 0 && s.used + 1 < clock && (lru == nullptr || s.used < lru->used)) lru = &s;
      if (lru == nullptr) return;
      tables -= lru->luts.size();
      lru->clear();
    }
  }
};

std::uint64_t hash_of(Fp8Format f, DType t, const float* scales, std::size_t n) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(f) << 8) ^ static_cast<std::uint64_t>(t) ^
                    (static_cast<std::uint64_t>(n) << 16);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= fp8::detail::bits_of(scales[i]);
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  return h;
}

}  // namespace

const DequantLut* cached_dequant_luts(Fp8Format f, DType t, const float* scales, std::size_t n,
                                      BuildLutFn build) noexcept {
  thread_local LutCache c;
  const std::uint64_t h = hash_of(f, t, scales, n);
  ++c.clock;
  if (n > kLutCacheTables / 4) {
    LutSet* s = &c.scratch[0];
    if (!s->holds(h, f, t, scales, n, build)) {
      s = &c.scratch[1];
      if (!s->holds(h, f, t, scales, n, build)) {
        // Refill the one the previous look-up did not return.
        s = c.scratch[0].used < c.scratch[1].used ? &c.scratch[0] : &c.scratch[1];
        if (!s->fill(h, f, t, scales, n, build)) return nullptr;
      }
    }
    s->used = c.clock;
    return s->luts.data();
  }
  LutSet* bucket = c.set[h % kBuckets];
  for (std::size_t w = 0; w < kWays; ++w)
    if (bucket[w].holds(h, f, t, scales, n, build)) {
      bucket[w].used = c.clock;
      return bucket[w].luts.data();
    }
  // The way to refill: an empty one, else the least recently used (never the previous look-up's:
  // its `used` is the largest but this one's).
  LutSet* v = &bucket[0];
  for (std::size_t w = 1; w < kWays; ++w)
    if (bucket[w].used < v->used) v = &bucket[w];
  c.tables -= v->luts.size();
  v->clear();
  c.make_room(n);
  if (!v->fill(h, f, t, scales, n, build)) return nullptr;
  c.tables += n;
  v->used = c.clock;
  return v->luts.data();
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
