// cpu::paged_write / cpu::paged_read on every cache layout (dense NHD/HND presets, explicit
// strides, K and V in one allocation, split) with per-tensor and per-head scales (strides 0 and 1
// mixed for K and V), against a brute-force reference written out from the layout definitions in
// kv_cache.hpp: every byte of every buffer (caches, rows, guards) must be what the reference says.
// The cases are op_case.hpp's layout_cases(), which the emulated kernels and GPUs also run.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/op_case.hpp"
#include "cpu/cpu_test_util.hpp"
#include "kvscale/cpu.hpp"

namespace kvscale {
namespace test {
namespace {

// Byte offset of element e of (slot, head h) in the key (k) or value cache, from the case's own
// numbers (not PagedCacheShape's accessors).
std::int64_t ref_offset(const OpCase& c, bool k, std::int64_t slot, std::int64_t h, std::int64_t e) {
  const std::int64_t H = c.shape.heads, D = c.shape.head_size, bs = c.shape.block_size;
  const std::int64_t b = slot / bs, o = slot % bs;
  const PagedCacheShape s = c.cache();
  switch (c.kind) {
    case CacheKind::strided:
    case CacheKind::kv_shared:
      return b * s.block_stride + o * s.slot_stride + h * s.head_stride + e +
             (k || c.kind == CacheKind::strided ? 0 : c.value_offset());
    default: break;
  }
  if (c.layout == CacheLayout::nhd) return ((b * bs + o) * H + h) * D + e;
  if (c.layout == CacheLayout::hnd) return ((b * H + h) * bs + o) * D + e;
  // split: K [nb, H, D/16, bs, 16], V [nb, H, D, bs]
  if (k) return (((b * H + h) * (D / 16) + e / 16) * bs + o) * 16 + e % 16;
  return ((b * H + h) * D + e) * bs + o;
}

// The buffers the CPU backend must leave, computed element by element.
std::vector<std::vector<std::uint8_t>> reference(const OpCase& c, const std::vector<Buffer>& init) {
  std::vector<std::vector<std::uint8_t>> out;
  for (const Buffer& b : init) out.push_back(b.reference_bytes.empty() ? b.bytes : b.reference_bytes);
  const bool write = c.op == Op::paged_write;
  const bool shared = c.kind == CacheKind::kv_shared;
  std::vector<std::int64_t> slots(static_cast<std::size_t>(c.shape.tokens));
  std::memcpy(slots.data(), out[2].data(), slots.size() * 8);
  const std::size_t es = c.es(), first = static_cast<std::size_t>(c.base) * es;
  for (std::int64_t t = 0; t < c.shape.tokens; ++t) {
    const std::int64_t slot = slots[static_cast<std::size_t>(t)];
    if (slot < 0) continue;
    for (int kv = 0; kv < 2; ++kv) {
      const bool k = kv == 0;
      // write: rows 0/1, caches 3/4; read: caches 0/1, rows 3/4. kv_shared: V lives in the K buffer.
      const std::size_t rows_i = (write ? 0 : 3) + static_cast<std::size_t>(kv);
      const std::size_t cache_i = (write ? 3 : 0) + (shared ? 0 : static_cast<std::size_t>(kv));
      for (std::int64_t h = 0; h < c.shape.heads; ++h) {
        const float scale = k ? c.k_scale_of(h) : c.v_scale_of(h);
        for (std::int64_t e = 0; e < c.shape.head_size; ++e) {
          const auto at = static_cast<std::size_t>(ref_offset(c, k, slot, h, e));
          const std::size_t elem = static_cast<std::size_t>(t * c.stride() + h * c.shape.head_size + e);
          if (write) {
            const std::uint32_t raw = cputest::load_raw(c.dtype, out[rows_i].data() + first, elem);
            out[cache_i][at] = ref::quantize(c.format, cputest::widen(c.dtype, raw), scale);
          } else {
            const std::uint32_t raw = cputest::ref_dequant(c.format, c.dtype, out[cache_i][at], scale);
            cputest::store_raw(c.dtype, &raw, 1, out[rows_i].data() + first + elem * es);
          }
        }
      }
    }
  }
  return out;
}

// Runs c on the CPU backend and compares every buffer with the brute-force reference.
void expect_matches_reference(const OpCase& c, CpuBackend& cpu, const std::string& where) {
  const std::vector<Buffer> init = c.init();
  const RunResult got = run(c, init, cpu);
  ASSERT_EQ(got.status, Status::success) << c.name() << where << ": " << got.message;
  const auto want = reference(c, init);
  for (std::size_t i = 0; i < init.size(); ++i)
    ASSERT_EQ(diff_bytes(want[i], got.buffers[i]), "") << c.name() << where << " buffer " << init[i].name;
}

std::string isa_threads(cpu::Isa isa, int threads) {
  return std::string(" isa ") + cpu::isa_name(isa) + " threads " + std::to_string(threads);
}

// A case with seeded format, dtype and scales: f32 or bf16, per-tensor and per-head scales mixed
// for K and V by the seed's low bits.
OpCase seeded_case(Op op, CacheLayout layout, CacheKind kind, const PagedShape& shape, std::int64_t pad,
                   std::uint32_t seed, bool prefill) {
  OpCase c;
  c.op = op;
  c.format = seed % 2 ? Fp8Format::e4m3fnuz : Fp8Format::e4m3fn;
  c.dtype = seed % 3 == 0 ? DType::f32 : DType::bf16;
  c.layout = layout;
  c.kind = kind;
  c.shape = shape;
  c.pad = pad;
  c.seed = seed;
  c.prefill_slots = prefill;
  c.scale_k = c.seed % 5;
  c.scale_v = (c.seed + 2) % 5;
  c.k_scale_stride = c.seed & 1;
  c.v_scale_stride = (c.seed >> 1) & 1;
  return c;
}

void check_all(Op op, int threads) {
  CpuBackend cpu;
  cpu::set_num_threads(threads);
  int n = 0;
  for (const OpCase& c : layout_cases(op)) {
    ASSERT_NO_FATAL_FAILURE(expect_matches_reference(c, cpu, ""));
    ++n;
  }
  EXPECT_GT(n, 0);
  cpu::set_num_threads(0);
}

// Split-layout calls over `shapes` from `seed` on: every ISA level of this CPU, 1 and 2 threads,
// writes and reads, random and prefill slots; `adjust` may change each seeded case.
template <class Adjust>
void check_split_calls(const std::vector<PagedShape>& shapes, std::uint32_t seed, Adjust adjust) {
  CpuBackend cpu;
  for (cpu::Isa isa : cputest::isas()) {
    cpu::set_max_isa(isa);
    for (const PagedShape& shape : shapes)
      for (int threads : {1, 2})
        for (Op op : {Op::paged_write, Op::paged_read})
          for (bool prefill : {false, true}) {
            cpu::set_num_threads(threads);
            OpCase c = seeded_case(op, CacheLayout::split, CacheKind::dense, shape, 0, seed++, prefill);
            adjust(c);
            ASSERT_NO_FATAL_FAILURE(expect_matches_reference(c, cpu, isa_threads(isa, threads)));
          }
  }
  cpu::set_max_isa(cpu::Isa::best);
  cpu::set_num_threads(0);
}

// Split calls of >= 64 tokens visit tokens in slot order (smaller ones in call order, which
// layout_cases() covers), and the tokens of one block go through the tile transposes of split V
// (16-slot blocks) together: random slots with padding (blocks partly written) and prefill slots
// (whole blocks, partial first and last), on 1 and 2 threads (chunks end at block boundaries),
// for every ISA level of this CPU, with head sizes that leave 16, 32 or 48 columns after the widest
// transposes (16, 32, 48), rows longer than one tile (3 x 512: two passes), block size 32 (no
// tiles), and per-tensor and per-head scales.
TEST(CpuLayouts, SplitLargeCallsMatchBruteForce) {
  check_split_calls(
      {{8, 128, 16, 300}, {3, 48, 16, 200}, {4, 32, 16, 100}, {2, 16, 16, 100}, {3, 512, 16, 80}, {2, 32, 32, 150}},
      9100, [](OpCase&) {});
}

// Split writes and reads of bf16 with per-head scales hand the kernels a tile pass's runs head by
// head, in batches of 128 (src/cpu/paged.cpp, tile_heads): 12 heads of 32 elements fill a batch in
// the middle of a head, 8 of 128 fill one exactly. K and V per head, both formats, the rest as
// above.
TEST(CpuLayouts, SplitPerHeadTileBatchesMatchBruteForce) {
  check_split_calls({{12, 32, 16, 200}, {8, 128, 16, 300}}, 9200, [](OpCase& c) {
    c.dtype = DType::bf16;
    c.k_scale_stride = c.v_scale_stride = 1;
  });
}

// bf16 writes look up the step tables of a chunk's scales once (src/cpu/paged.cpp, ChunkTables:
// the first 64 per side; heads past them look theirs up per row): 80 heads with per-head scales,
// enough tokens for every head's table to be built, in each layout, on every ISA level and on 1 and
// 2 threads.
TEST(CpuLayouts, ManyHeadsPerHeadBf16WritesMatchBruteForce) {
  CpuBackend cpu;
  std::uint32_t seed = 9300;
  for (cpu::Isa isa : cputest::isas()) {
    cpu::set_max_isa(isa);
    for (CacheLayout layout : {CacheLayout::nhd, CacheLayout::hnd, CacheLayout::split})
      for (int threads : {1, 2}) {
        cpu::set_num_threads(threads);
        OpCase c;
        c.op = Op::paged_write;
        c.format = seed % 2 ? Fp8Format::e4m3fnuz : Fp8Format::e4m3fn;
        c.dtype = DType::bf16;
        c.layout = layout;
        c.kind = CacheKind::dense;
        c.shape = PagedShape{80, 32, 16, 70};
        c.pad = 0;
        c.seed = seed++;
        c.scale_k = c.seed % 5;
        c.scale_v = (c.seed + 2) % 5;
        c.k_scale_stride = 1;
        c.v_scale_stride = c.seed & 1;
        ASSERT_NO_FATAL_FAILURE(expect_matches_reference(c, cpu, isa_threads(isa, threads)));
      }
  }
  cpu::set_max_isa(cpu::Isa::best);
  cpu::set_num_threads(0);
}

// Paged ops hand the kernels batches of runs of one scale, 64 tokens at a time (src/cpu/paged.cpp,
// batch_runs), and a run that continues the previous one in the rows and in the cache joins it:
// prefill slots (whole blocks) with dense rows make runs of several tokens, padded rows do not;
// enough heads and tokens fill a batch (64 runs) and the 64-token window several times; block
// sizes 16 (shift) and 6 (division) find the slot's block. Dense NHD/HND presets and explicit
// NHD- and HND-like strides, per-tensor and per-head scales, every ISA level, 1 and 2 threads.
TEST(CpuLayouts, RunBatchesMatchBruteForce) {
  CpuBackend cpu;
  std::uint32_t seed = 9500;
  const PagedShape shapes[] = {{8, 128, 16, 200}, {5, 32, 6, 150}, {1, 128, 16, 140}};
  for (cpu::Isa isa : cputest::isas()) {
    cpu::set_max_isa(isa);
    for (const PagedShape& shape : shapes)
      for (CacheKind kind : {CacheKind::dense, CacheKind::strided})
        for (CacheLayout layout : {CacheLayout::nhd, CacheLayout::hnd})
          for (std::int64_t pad : {0, 16})
            for (int threads : {1, 2})
              for (Op op : {Op::paged_write, Op::paged_read}) {
                cpu::set_num_threads(threads);
                const OpCase c = seeded_case(op, layout, kind, shape, pad, seed++, true);
                ASSERT_NO_FATAL_FAILURE(expect_matches_reference(c, cpu, isa_threads(isa, threads)));
              }
  }
  cpu::set_max_isa(cpu::Isa::best);
  cpu::set_num_threads(0);
}

TEST(CpuLayouts, WriteMatchesBruteForce) { check_all(Op::paged_write, 1); }
TEST(CpuLayouts, ReadMatchesBruteForce) { check_all(Op::paged_read, 1); }
TEST(CpuLayouts, WriteMatchesBruteForceThreaded) { check_all(Op::paged_write, 2); }
TEST(CpuLayouts, ReadMatchesBruteForceThreaded) { check_all(Op::paged_read, 2); }

// validate(): the stride, allocation and scale-stride rules of kv_cache.hpp.
struct ValidateFixture {
  std::vector<std::uint16_t> rows = std::vector<std::uint16_t>(4 * 64);
  std::vector<std::int64_t> slots{0, 1, 2, 3};
  std::vector<std::uint8_t> mem = std::vector<std::uint8_t>(1 << 16);
  float scales[4] = {1, 1, 1, 1};
  PagedWriteArgs a;
  ValidateFixture() {
    a.dtype = DType::bf16;
    a.rows = TokenRows{4, 2, 32, 64, 64};
    a.key = a.value = rows.data();
    a.slot_mapping = slots.data();
    a.cache = PagedCacheShape{CacheLayout::nhd, 4, 4, 2, 32};
    a.key_cache = mem.data();
    a.value_cache = mem.data() + 8192;
    a.k_scale = a.v_scale = scales;
  }
};

TEST(CpuLayouts, ValidateChecksStridesAllocationAndScaleStrides) {
  auto status = [](const std::function<void(PagedWriteArgs&)>& edit) {
    ValidateFixture fx;
    edit(fx.a);
    return validate(fx.a);
  };
  EXPECT_EQ(status([](PagedWriteArgs&) {}), Status::success);
  // Strides: all or none; positive; nested.
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.cache.head_stride = 32; }), Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) {
              a.cache.head_stride = 48;
              a.cache.slot_stride = 96;
              a.cache.block_stride = 400;
            }),
            Status::success);
  EXPECT_EQ(status([](PagedWriteArgs& a) {  // heads overlap (head stride < head_size)
              a.cache.head_stride = 16;
              a.cache.slot_stride = 64;
              a.cache.block_stride = 256;
            }),
            Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) {  // slot 1 lands inside block 0's heads
              a.cache.head_stride = 32;
              a.cache.slot_stride = 32;
              a.cache.block_stride = 256;
            }),
            Status::invalid_argument);
  // K and V: overlapping ranges are refused unless they interleave (vLLM v1 [nb, 2, bs, H, D]).
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.value_cache = a.key_cache; }), Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.value_cache = a.key_cache + 64; }), Status::invalid_argument);
  auto v1 = [](PagedWriteArgs& a) {
    a.cache.head_stride = 32;
    a.cache.slot_stride = 64;
    a.cache.block_stride = 2 * 4 * 64;
    a.value_cache = a.key_cache + 4 * 64;
    a.cache.allocation_bytes = 4 * 2 * 4 * 64;
  };
  EXPECT_EQ(status(v1), Status::success);
  EXPECT_EQ(status([&](PagedWriteArgs& a) {
              v1(a);
              a.value_cache = a.key_cache + 4 * 64 - 32;
            }),
            Status::invalid_argument);
  EXPECT_EQ(status([&](PagedWriteArgs& a) {
              v1(a);
              a.cache.allocation_bytes -= 1;
            }),
            Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.cache.allocation_bytes = 8192 + 1024 - 1; }), Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.cache.allocation_bytes = 8192 + 1024; }), Status::success);
  // Split: dense only, head_size % 16 == 0.
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.cache.layout = CacheLayout::split; }), Status::success);
  EXPECT_EQ(status([](PagedWriteArgs& a) {
              a.cache.layout = CacheLayout::split;
              a.cache.head_stride = 32;
              a.cache.slot_stride = 64;
              a.cache.block_stride = 256;
            }),
            Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) {
              a.cache.layout = CacheLayout::split;
              a.rows = TokenRows{4, 2, 24, 64, 64};
              a.cache.head_size = 24;
            }),
            Status::invalid_argument);
  EXPECT_NE(last_error_message().find("multiple of 16"), std::string::npos) << last_error_message();
  // Scale strides: 0 or 1.
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.k_scale_stride = 1; }), Status::success);
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.v_scale_stride = 2; }), Status::invalid_argument);
  EXPECT_EQ(status([](PagedWriteArgs& a) { a.k_scale_stride = -1; }), Status::invalid_argument);
}

TEST(CpuLayouts, PresetsResolveToTheirDenseStrides) {
  const PagedCacheShape nhd{CacheLayout::nhd, 3, 16, 8, 128}, hnd{CacheLayout::hnd, 3, 16, 8, 128};
  EXPECT_EQ(nhd.bytes(), 3 * 16 * 8 * 128);
  EXPECT_EQ(hnd.bytes(), 3 * 16 * 8 * 128);
  EXPECT_EQ(nhd.offset(17, 3), ((1 * 16 + 1) * 8 + 3) * 128);
  EXPECT_EQ(hnd.offset(17, 3), ((1 * 8 + 3) * 16 + 1) * 128);
  const PagedCacheShape split{CacheLayout::split, 3, 16, 8, 128};
  EXPECT_EQ(split.bytes(), 3 * 16 * 8 * 128);
  EXPECT_EQ(split.key_offset(17, 3, 37), (((1 * 8 + 3) * 8 + 2) * 16 + 1) * 16 + 5);
  EXPECT_EQ(split.value_offset(17, 3, 37), ((1 * 8 + 3) * 128 + 37) * 16 + 1);
}

}  // namespace
}  // namespace test
}  // namespace kvscale
