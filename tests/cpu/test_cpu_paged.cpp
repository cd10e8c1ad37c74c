// cpu::paged_write / cpu::paged_read against the reference: both layouts, negative (padding)
// slots, row strides wider than a row, unaligned rows, different K and V scales, every ISA level
// and 1 or 2 threads; invalid arguments and out-of-range slots write nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cpu/cpu_test_util.hpp"
#include "kvscale/cpu.hpp"

namespace {

using namespace cputest;
using kvscale::CacheLayout;
using kvscale::PagedCacheShape;
using kvscale::PagedReadArgs;
using kvscale::PagedWriteArgs;
using kvscale::Status;

constexpr unsigned char kSentinel = 0xCD;

struct Case {
  CacheLayout layout;
  std::int64_t tokens, heads, head_size, block_size, num_blocks, stride_pad;
};

// Independent cache addressing, written out from the layout definitions in kv_cache.hpp.
std::size_t cache_index(const Case& c, std::int64_t slot, std::int64_t h, std::int64_t d) {
  const std::int64_t b = slot / c.block_size, o = slot % c.block_size;
  const std::int64_t i = c.layout == CacheLayout::nhd ? ((b * c.block_size + o) * c.heads + h) * c.head_size + d
                                                      : ((b * c.heads + h) * c.block_size + o) * c.head_size + d;
  return static_cast<std::size_t>(i);
}

// Unique slots for the tokens, some of them padding (-1 or other negatives).
std::vector<std::int64_t> make_slots(const Case& c, std::mt19937& rng) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(c.num_blocks * c.block_size));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<std::int64_t> s(static_cast<std::size_t>(c.tokens));
  for (std::size_t t = 0; t < s.size(); ++t)
    s[t] = (rng() % 7 == 0) ? -static_cast<std::int64_t>(1 + rng() % 3) : all[t];
  return s;
}

const Case kCases[] = {
    {CacheLayout::nhd, 1, 1, 1, 1, 1, 0},
    {CacheLayout::hnd, 1, 1, 1, 1, 1, 0},
    {CacheLayout::nhd, 17, 3, 7, 5, 5, 3},
    {CacheLayout::hnd, 17, 3, 7, 5, 5, 3},
    {CacheLayout::nhd, 40, 8, 128, 16, 4, 0},
    {CacheLayout::hnd, 40, 8, 128, 16, 4, 64},
    {CacheLayout::nhd, 33, 1, 128, 16, 3, 1},
    {CacheLayout::hnd, 33, 1, 128, 16, 3, 1},
    {CacheLayout::nhd, 300, 2, 33, 16, 20, 5},
    {CacheLayout::hnd, 300, 2, 33, 16, 20, 5},
    // Large enough for the thread pool (> 256 Ki elements).
    {CacheLayout::nhd, 600, 8, 128, 16, 40, 0},
    {CacheLayout::hnd, 600, 8, 128, 16, 40, 8},
};

std::string describe(const Case& c) {
  return std::string(c.layout == CacheLayout::nhd ? "nhd" : "hnd") + " tokens=" + std::to_string(c.tokens) +
         " heads=" + std::to_string(c.heads) + " D=" + std::to_string(c.head_size) +
         " block=" + std::to_string(c.block_size) + " pad=" + std::to_string(c.stride_pad);
}

PagedCacheShape shape_of(const Case& c) {
  PagedCacheShape s;
  s.layout = c.layout;
  s.num_blocks = c.num_blocks;
  s.block_size = c.block_size;
  s.num_kv_heads = c.heads;
  s.head_size = c.head_size;
  return s;
}

kvscale::TokenRows rows_of(const Case& c) {
  kvscale::TokenRows r;
  r.num_tokens = c.tokens;
  r.num_kv_heads = c.heads;
  r.head_size = c.head_size;
  r.key_row_stride = c.heads * c.head_size + c.stride_pad;
  r.value_row_stride = c.heads * c.head_size + 2 * c.stride_pad;
  return r;
}

TEST(CpuPaged, WriteThenReadMatchReference) {
  BackendGuard g;
  std::mt19937 rng(1234);
  const auto levels = isas();
  for (const Case& c : kCases) {
    const std::vector<std::int64_t> slots = make_slots(c, rng);
    const kvscale::TokenRows rows = rows_of(c);
    const PagedCacheShape shape = shape_of(c);
    const std::size_t cache_bytes = static_cast<std::size_t>(shape.bytes());
    const std::size_t row = static_cast<std::size_t>(c.heads * c.head_size);
    const auto ks_elems = static_cast<std::size_t>(rows.key_row_stride * c.tokens);
    const auto vs_elems = static_cast<std::size_t>(rows.value_row_stride * c.tokens);
    for (DType t : kDTypes) {
      const std::size_t es = kvscale::dtype_size(t);
      const std::vector<std::uint32_t> kraw = random_raw(t, ks_elems, rng()), vraw = random_raw(t, vs_elems, rng());
      // One element of offset: the rows start unaligned to any vector width.
      std::vector<unsigned char> kbuf((ks_elems + 1) * es), vbuf((vs_elems + 1) * es);
      store_raw(t, kraw.data(), ks_elems, kbuf.data() + es);
      store_raw(t, vraw.data(), vs_elems, vbuf.data() + es);
      for (Fp8Format f : kFormats) {
        const float k_scale = 0.05f, v_scale = 2.5f;
        const RefQuant rk(f, t, k_scale), rv(f, t, v_scale);
        std::vector<std::uint8_t> want_k(cache_bytes, kSentinel), want_v(cache_bytes, kSentinel);
        for (std::int64_t tok = 0; tok < c.tokens; ++tok) {
          const std::int64_t s = slots[static_cast<std::size_t>(tok)];
          if (s < 0) continue;
          for (std::int64_t h = 0; h < c.heads; ++h)
            for (std::int64_t d = 0; d < c.head_size; ++d) {
              const auto e = static_cast<std::size_t>(h * c.head_size + d);
              want_k[cache_index(c, s, h, d)] = rk(kraw[static_cast<std::size_t>(tok * rows.key_row_stride) + e]);
              want_v[cache_index(c, s, h, d)] = rv(vraw[static_cast<std::size_t>(tok * rows.value_row_stride) + e]);
            }
        }
        // Expected read-back: only valid rows' first `row` elements change.
        std::vector<unsigned char> want_kr((ks_elems + 1) * es, kSentinel), want_vr((vs_elems + 1) * es, kSentinel);
        for (std::int64_t tok = 0; tok < c.tokens; ++tok) {
          const std::int64_t s = slots[static_cast<std::size_t>(tok)];
          if (s < 0) continue;
          for (std::int64_t h = 0; h < c.heads; ++h)
            for (std::int64_t d = 0; d < c.head_size; ++d) {
              const auto e = static_cast<std::size_t>(h * c.head_size + d);
              const std::uint32_t kq = ref_dequant(f, t, want_k[cache_index(c, s, h, d)], k_scale);
              const std::uint32_t vq = ref_dequant(f, t, want_v[cache_index(c, s, h, d)], v_scale);
              store_raw(t, &kq, 1, want_kr.data() + (1 + static_cast<std::size_t>(tok * rows.key_row_stride) + e) * es);
              store_raw(t, &vq, 1,
                        want_vr.data() + (1 + static_cast<std::size_t>(tok * rows.value_row_stride) + e) * es);
            }
        }
        (void)row;
        for (cpu::Isa isa : levels) {
          cpu::set_max_isa(isa);
          for (int threads : {1, 2}) {
            cpu::set_num_threads(threads);
            const std::string ctx = describe(c) + " " + where(isa, threads, f, t);
            std::vector<std::uint8_t> kc(cache_bytes, kSentinel), vc(cache_bytes, kSentinel);
            PagedWriteArgs w;
            w.format = f;
            w.dtype = t;
            w.rows = rows;
            w.key = kbuf.data() + es;
            w.value = vbuf.data() + es;
            w.slot_mapping = slots.data();
            w.cache = shape;
            w.key_cache = kc.data();
            w.value_cache = vc.data();
            w.k_scale = &k_scale;
            w.v_scale = &v_scale;
            ASSERT_EQ(cpu::paged_write(w), Status::success) << ctx << ": " << kvscale::last_error_message();
            ASSERT_TRUE(kc == want_k) << ctx << " (key cache)";
            ASSERT_TRUE(vc == want_v) << ctx << " (value cache)";

            std::vector<unsigned char> kr((ks_elems + 1) * es, kSentinel), vr((vs_elems + 1) * es, kSentinel);
            PagedReadArgs r;
            r.format = f;
            r.dtype = t;
            r.rows = rows;
            r.key_cache = kc.data();
            r.value_cache = vc.data();
            r.cache = shape;
            r.slot_mapping = slots.data();
            r.key = kr.data() + es;
            r.value = vr.data() + es;
            r.k_scale = &k_scale;
            r.v_scale = &v_scale;
            ASSERT_EQ(cpu::paged_read(r), Status::success) << ctx << ": " << kvscale::last_error_message();
            ASSERT_TRUE(kr == want_kr) << ctx << " (key rows)";
            ASSERT_TRUE(vr == want_vr) << ctx << " (value rows)";
          }
        }
      }
    }
  }
}

struct Fixture {
  Case c{CacheLayout::nhd, 4, 2, 8, 4, 2, 0};
  std::vector<std::uint16_t> key = std::vector<std::uint16_t>(64, 0x3F80),
                             value = std::vector<std::uint16_t>(64, 0x4000);
  std::vector<std::int64_t> slots{0, -1, 5, 7};
  std::vector<std::uint8_t> kc = std::vector<std::uint8_t>(128, kSentinel),
                            vc = std::vector<std::uint8_t>(128, kSentinel);
  float ks = 1.0f, vs = 1.0f;
  PagedWriteArgs write() {
    PagedWriteArgs w;
    w.dtype = DType::bf16;
    w.rows = rows_of(c);
    w.key = key.data();
    w.value = value.data();
    w.slot_mapping = slots.data();
    w.cache = shape_of(c);
    w.key_cache = kc.data();
    w.value_cache = vc.data();
    w.k_scale = &ks;
    w.v_scale = &vs;
    return w;
  }
  PagedReadArgs read() {
    PagedReadArgs r;
    r.dtype = DType::bf16;
    r.rows = rows_of(c);
    r.key = key.data();
    r.value = value.data();
    r.slot_mapping = slots.data();
    r.cache = shape_of(c);
    r.key_cache = kc.data();
    r.value_cache = vc.data();
    r.k_scale = &ks;
    r.v_scale = &vs;
    return r;
  }
};

TEST(CpuPaged, SlotOutOfRangeWritesNothing) {
  for (std::int64_t badslot : {std::int64_t{8}, std::int64_t{1} << 40}) {
    Fixture fx;
    fx.slots[3] = badslot;  // 8 slots in the cache; earlier tokens are valid
    EXPECT_EQ(cpu::paged_write(fx.write()), Status::invalid_argument);
    const std::string msg = kvscale::last_error_message();
    EXPECT_NE(msg.find("slot_mapping[3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(badslot)), std::string::npos) << msg;
    EXPECT_TRUE(std::all_of(fx.kc.begin(), fx.kc.end(), [](std::uint8_t b) { return b == kSentinel; }));
    EXPECT_TRUE(std::all_of(fx.vc.begin(), fx.vc.end(), [](std::uint8_t b) { return b == kSentinel; }));

    const std::vector<std::uint16_t> key0 = fx.key, value0 = fx.value;
    EXPECT_EQ(cpu::paged_read(fx.read()), Status::invalid_argument);
    EXPECT_NE(kvscale::last_error_message().find("slot_mapping[3]"), std::string::npos)
        << kvscale::last_error_message();
    EXPECT_TRUE(fx.key == key0);
    EXPECT_TRUE(fx.value == value0);
  }
}

TEST(CpuPaged, NegativeSlotsOnlyIsNoOp) {
  Fixture fx;
  fx.slots = {-1, -1, -5, -1};
  EXPECT_EQ(cpu::paged_write(fx.write()), Status::success);
  EXPECT_TRUE(std::all_of(fx.kc.begin(), fx.kc.end(), [](std::uint8_t b) { return b == kSentinel; }));
}

TEST(CpuPaged, InvalidArguments) {
  Fixture fx;
  ASSERT_EQ(cpu::paged_write(fx.write()), Status::success) << kvscale::last_error_message();
  ASSERT_EQ(cpu::paged_read(fx.read()), Status::success) << kvscale::last_error_message();
  auto w = [&fx](auto mutate) {
    PagedWriteArgs a = fx.write();
    mutate(a);
    return cpu::paged_write(a);
  };
  auto r = [&fx](auto mutate) {
    PagedReadArgs a = fx.read();
    mutate(a);
    return cpu::paged_read(a);
  };
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.key = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.value_cache = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.slot_mapping = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.k_scale = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.cache.num_kv_heads = 3; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.rows.key_row_stride = 15; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.cache.block_size = 0; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.rows.num_tokens = -1; }), Status::invalid_argument);
  EXPECT_EQ(w([](PagedWriteArgs& a) { a.cache.layout = static_cast<CacheLayout>(7); }), Status::invalid_argument);
  EXPECT_EQ(r([](PagedReadArgs& a) { a.key = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(r([](PagedReadArgs& a) { a.slot_mapping = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(r([](PagedReadArgs& a) { a.v_scale = nullptr; }), Status::invalid_argument);
  EXPECT_EQ(r([](PagedReadArgs& a) { a.rows.head_size = 4; }), Status::invalid_argument);
  EXPECT_EQ(r([](PagedReadArgs& a) { a.value = reinterpret_cast<unsigned char*>(a.value) + 1; }),
            Status::invalid_argument);
  // num_tokens == 0: no-op even with null pointers.
  PagedWriteArgs empty;
  EXPECT_EQ(cpu::paged_write(empty), Status::success);
  PagedReadArgs empty_r;
  EXPECT_EQ(cpu::paged_read(empty_r), Status::success);
}

}  // namespace

namespace {

// Every code through cpu::dequantize at seeded scales (tiny ones give subnormal and zero outputs,
// huge ones infinities): the dequantize tables each SIMD level builds with its own kernels.
TEST(CpuDequantTables, EveryCodeSeededScalesEveryIsa) {
  BackendGuard g;
  std::mt19937_64 rng(99);
  std::vector<float> scales = {1.0f, 0x1p-149f, 0x1p-140f, 0x1p-126f, 0x1.fffffep127f, 0x1p120f, 0.1f};
  for (int i = 0; i < 200; ++i) scales.push_back(ref::from_bits(static_cast<std::uint32_t>(1 + rng() % 0x7F7FFFFFu)));
  std::vector<std::uint8_t> codes(256);
  for (int c = 0; c < 256; ++c) codes[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c);
  for (cpu::Isa isa : isas()) {
    cpu::set_max_isa(isa);
    for (DType t : kDTypes)
      for (Fp8Format f : kFormats)
        for (float s : scales) {
          std::vector<unsigned char> out(256 * kvscale::dtype_size(t));
          kvscale::DequantizeArgs a;
          a.format = f;
          a.dtype = t;
          a.in = codes.data();
          a.out = out.data();
          a.n = 256;
          a.scale = &s;
          ASSERT_EQ(cpu::dequantize(a), Status::success);
          for (int c = 0; c < 256; ++c)
            ASSERT_EQ(load_raw(t, out.data(), static_cast<std::size_t>(c)), ref_dequant(f, t, c, s))
                << where(isa, 1, f, t) << " scale " << s << " code " << c;
        }
  }
}

// One block of 4 slots (NHD, `heads` x D) holding fixed byte patterns, and three tokens read back
// from slots 2, 0, 3: the table-cache tests below read it with changing scales.
struct SmallBlock {
  static constexpr std::int64_t kTokens = 3;
  std::int64_t heads, D;
  PagedCacheShape shape;
  std::vector<std::uint8_t> kc, vc;
  std::vector<std::int64_t> slots = {2, 0, 3};
  SmallBlock(std::int64_t heads_, std::int64_t D_) : heads(heads_), D(D_) {
    shape.layout = CacheLayout::nhd;
    shape.num_blocks = 1;
    shape.block_size = 4;
    shape.num_kv_heads = heads;
    shape.head_size = D;
    const auto n = static_cast<std::size_t>(shape.bytes());
    kc.resize(n);
    vc.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      kc[i] = static_cast<std::uint8_t>(i * 7 + 1);
      vc[i] = static_cast<std::uint8_t>(i * 13 + 5);
    }
  }
  std::size_t row() const { return static_cast<std::size_t>(heads * D); }
  // Reads the tokens into key / value (kTokens rows of t each) with scales ks / vs (per head where
  // per_head), and asserts every element against the reference; `where` names the case.
  void read_and_check(Fp8Format f, DType t, const float* ks, const float* vs, bool per_head,
                      const std::string& where) const {
    std::vector<unsigned char> key(kTokens * row() * kvscale::dtype_size(t)), value(key.size());
    PagedReadArgs a;
    a.format = f;
    a.dtype = t;
    a.rows = kvscale::TokenRows{kTokens, heads, D, heads * D, heads * D};
    a.key_cache = kc.data();
    a.value_cache = vc.data();
    a.cache = shape;
    a.slot_mapping = slots.data();
    a.key = key.data();
    a.value = value.data();
    a.k_scale = ks;
    a.v_scale = vs;
    a.k_scale_stride = a.v_scale_stride = per_head ? 1 : 0;
    ASSERT_EQ(cpu::paged_read(a), Status::success) << where;
    for (std::size_t tok = 0; tok < static_cast<std::size_t>(kTokens); ++tok)
      for (std::size_t e = 0; e < row(); ++e) {
        const std::size_t h = per_head ? e / static_cast<std::size_t>(D) : 0;
        const std::size_t at = static_cast<std::size_t>(slots[tok]) * row() + e;
        ASSERT_EQ(load_raw(t, key.data(), tok * row() + e), ref_dequant(f, t, kc[at], ks[h])) << where;
        ASSERT_EQ(load_raw(t, value.data(), tok * row() + e), ref_dequant(f, t, vc[at], vs[h])) << where;
      }
  }
};

// Per-head reads keep the calling thread's tables between calls: changing some heads' scales, the
// head count or the dtype must rebuild exactly what changed.
TEST(CpuPaged, PerHeadTablesFollowScaleChanges) {
  BackendGuard g;
  for (cpu::Isa isa : isas()) {
    cpu::set_max_isa(isa);
    for (std::int64_t heads : {4, 2, 6}) {
      for (DType t : {DType::bf16, DType::f16}) {
        for (int round = 0; round < 3; ++round) {
          const SmallBlock b(heads, 32);
          std::vector<float> ks(static_cast<std::size_t>(heads)), vs(ks.size());
          for (std::size_t h = 0; h < ks.size(); ++h) {
            ks[h] = 0.5f + static_cast<float>(h) + (h % 2 == 0 ? static_cast<float>(round) : 0.0f);
            vs[h] = 0.25f * static_cast<float>(h + 1) + static_cast<float>(round);
          }
          ASSERT_NO_FATAL_FAILURE(b.read_and_check(
              Fp8Format::e4m3fn, t, ks.data(), vs.data(), true,
              std::string(cpu::isa_name(isa)) + " heads " + std::to_string(heads) + " round " + std::to_string(round)));
        }
      }
    }
  }
}

// A server writes layer after layer, each with its own scales, and each thread keeps the bf16
// step tables of recent scales (src/cpu/bf16_step.cpp: 1,024). 70 layers of 8 heads with per-head
// scales (1,120 scales a pass), or one K and one V scale, odd layers in e4m3fnuz, in order, in
// reverse and at random; every head's 1,024 elements a call are enough to build its table. Every
// write must match the reference, whatever the caches kept.
TEST(CpuPaged, WritesFollowLayersInTurn) {
  BackendGuard g;
  std::mt19937 rng(26);
  const std::int64_t heads = 8, D = 128, tokens = 8, layers = 70;
  const auto H = static_cast<std::size_t>(heads), row = H * static_cast<std::size_t>(D);
  // Inputs the step tables take (quotients far from fp8's subnormals), with a NaN in every 997th
  // element: that element's step divides.
  const auto inputs = [&](std::uint32_t seed) {
    std::mt19937 r(seed);
    std::vector<std::uint32_t> v(tokens * row);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto u = static_cast<std::uint32_t>(r());
      const float x = std::ldexp((u & 1 ? -1.0f : 1.0f) * (1.0f + static_cast<float>((u >> 1) & 127) / 128.0f),
                                 static_cast<int>((u >> 8) % 9) - 2);
      v[i] = i % 997 == 996 ? 0x7FC0u : ref::to_bf16(x);
    }
    return v;
  };
  const std::vector<std::uint32_t> kraw = inputs(1), vraw = inputs(2);
  std::vector<unsigned char> key(kraw.size() * 2), value(key.size());
  store_raw(DType::bf16, kraw.data(), kraw.size(), key.data());
  store_raw(DType::bf16, vraw.data(), vraw.size(), value.data());
  std::vector<std::int64_t> slots(static_cast<std::size_t>(tokens));
  for (std::size_t t = 0; t < slots.size(); ++t) slots[t] = static_cast<std::int64_t>((t * 5 + 3) % 16);
  PagedCacheShape shape;
  shape.layout = CacheLayout::nhd;
  shape.num_blocks = 1;
  shape.block_size = 16;
  shape.num_kv_heads = heads;
  shape.head_size = D;
  std::vector<std::uint8_t> kc(static_cast<std::size_t>(shape.bytes())), vc(kc.size());
  // scales[l][0, heads): K of layer l, [heads, 2 heads): V; layers 2k and 2k + 1 share them (in two
  // formats, whose tables differ).
  std::vector<std::vector<float>> scales(static_cast<std::size_t>(layers), std::vector<float>(2 * H));
  for (std::size_t l = 0; l < scales.size(); ++l)
    for (std::size_t i = 0; i < 2 * H; ++i)
      scales[l][i] = 0.01f * (1.0f + 0.37f * static_cast<float>(l / 2 * 2 * H + i));
  std::vector<std::size_t> order;
  for (std::size_t l = 0; l < scales.size(); ++l) order.push_back(l);
  for (std::size_t l = scales.size(); l-- > 0;) order.push_back(l);
  for (std::size_t l = 0; l < scales.size(); ++l) order.push_back(rng() % scales.size());
  for (cpu::Isa isa : isas()) {
    cpu::set_max_isa(isa);
    for (int per_head : {1, 0})
      for (std::size_t l : order) {
        PagedWriteArgs a;
        a.format = l % 2 == 1 ? Fp8Format::e4m3fnuz : Fp8Format::e4m3fn;
        a.dtype = DType::bf16;
        a.rows = kvscale::TokenRows{tokens, heads, D, heads * D, heads * D};
        a.key = key.data();
        a.value = value.data();
        a.slot_mapping = slots.data();
        a.cache = shape;
        a.key_cache = kc.data();
        a.value_cache = vc.data();
        a.k_scale = scales[l].data();
        a.v_scale = scales[l].data() + H;
        a.k_scale_stride = a.v_scale_stride = per_head;
        ASSERT_EQ(cpu::paged_write(a), Status::success);
        for (std::size_t tok = 0; tok < slots.size(); ++tok)
          for (std::size_t e = 0; e < row; ++e) {
            const std::size_t h = per_head ? e / static_cast<std::size_t>(D) : 0, i = tok * row + e;
            const std::size_t at = static_cast<std::size_t>(slots[tok]) * row + e;
            ASSERT_EQ(kc[at], ref::quantize(a.format, widen(DType::bf16, kraw[i]), scales[l][h]))
                << cpu::isa_name(isa) << " layer " << l << " per_head " << per_head << " element " << i;
            ASSERT_EQ(vc[at], ref::quantize(a.format, widen(DType::bf16, vraw[i]), scales[l][H + h]))
                << cpu::isa_name(isa) << " layer " << l << " per_head " << per_head << " element " << i;
          }
      }
  }
}

// A server reads layer after layer, each with its own scales, and the calling thread keeps the
// tables of recent scale sets (src/cpu/lut_cache.hpp). 300 layers of 8 heads (4,800 tables, more
// than the cache holds) in order, in reverse and at random; odd layers give V the scales of K; and
// 600 heads (a set too large for the cache, built for its call) over 3 layers in turn. Every read
// must match the reference, whatever the cache kept.
TEST(CpuPaged, TablesFollowLayersInTurn) {
  BackendGuard g;
  std::mt19937 rng(25);
  for (cpu::Isa isa : isas()) {
    cpu::set_max_isa(isa);
    for (const auto& [heads, layers, per_head] :
         {std::tuple<std::int64_t, int, bool>{8, 300, true}, {8, 300, false}, {600, 3, true}}) {
      const SmallBlock b(heads, 16);
      const DType t = heads > 8 ? DType::f32 : DType::bf16;
      // scales[l][0, heads): K of layer l; [heads, 2 heads): V (K's again on odd layers). Head 0
      // has one scale in every layer: sets differ past their first scale.
      const auto H = static_cast<std::size_t>(heads);
      std::vector<std::vector<float>> scales(static_cast<std::size_t>(layers), std::vector<float>(2 * H));
      for (std::size_t l = 0; l < scales.size(); ++l)
        for (std::size_t i = 0; i < 2 * H; ++i)
          scales[l][i] = i % H == 0 ? 0.5f : 0.001f * static_cast<float>(1 + l * 2 * H + (l % 2 == 1 ? i % H : i));
      std::vector<int> order;
      for (int l = 0; l < layers; ++l) order.push_back(l);
      for (int l = layers - 1; l >= 0; --l) order.push_back(l);
      for (int l = 0; l < layers; ++l) order.push_back(static_cast<int>(rng() % static_cast<unsigned>(layers)));
      for (int l : order) {
        const float* sc = scales[static_cast<std::size_t>(l)].data();
        ASSERT_NO_FATAL_FAILURE(b.read_and_check(Fp8Format::e4m3fnuz, t, sc, sc + H, per_head,
                                                 std::string(cpu::isa_name(isa)) + " heads " + std::to_string(heads) +
                                                     " layer " + std::to_string(l) + " per_head " +
                                                     std::to_string(per_head)));
      }
    }
  }
}

}  // namespace
