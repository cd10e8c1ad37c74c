// The CPU backend's paged ops (cpu.hpp: paged_write, paged_read) over the row kernels.
//
// One traversal (paged_chunk) for write and read, a template over the operation (as rocPRIM's
// transform is over its functor). Tokens are split into contiguous ranges that start at a change
// of block; 64 tokens at a time visit K then V, head by head (or whole rows when the heads continue
// each other and share one scale), and hand batches of (row run, cache place, length) of one scale
// to the operation. The split layout with 16-slot blocks goes block by block through a tile
// (TileOp).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "cpu/bf16_step.hpp"
#include "cpu/kernels.hpp"
#include "cpu/lut_cache.hpp"
#include "cpu/thread_pool.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/fp8.hpp"

namespace kvscale {
namespace cpu {
namespace {

using detail::DequantLut;
using detail::kMinChunk;
using detail::kParallelMin;
using detail::RowKernels;
using detail::RowRun;

// One side (K or V) of a paged op. `rows` are const for writes, `cache` for reads; the operation
// casts back the side it writes.
struct PagedSide {
  unsigned char* rows;
  std::size_t row_stride;  // bytes between tokens
  std::uint8_t* cache;
  CacheStrides st;
  const float* scales;  // host
  int scale_stride;
  const DequantLut* luts;  // reads: one per head (scale_stride 1) or one
  // One scale, and head h + 1 continues where head h ends with the same run stride (dense NHD,
  // split K and V): a token's whole row is one sequence of runs.
  bool whole_row;
  // Writes: the quantize kernel prefetches the cache lines of the runs ahead (kernels.hpp:
  // prefetch_out), where a token's heads lie together in its slot (NHD, strided NHD). Not for
  // one head, nor HND (a head's place 2 KiB from the next): lone 128-byte places, where the
  // prefetches cost up to 1.09x the time with AVX-512 (docs/performance.md, session 22).
  bool prefetch_out;
};

struct PagedJob {
  RowKernels k;
  Fp8Format f;
  DType t;
  const std::int64_t* slots;
  std::int64_t block_size, heads, head_size;
  int block_shift;  // log2(block_size) where it is a power of two (it nearly always is), else -1
  PagedSide side[2];
  const std::uint32_t* order;  // tokens in slot order (split), or nullptr: in call order
  std::size_t tokens;
  std::size_t chunks;
};

// Staging for heads made of several runs (split): quantize into it then scatter, or gather into it
// then dequantize. A multiple of 16 elements.
constexpr std::size_t kStage = 2048;

// Split V with 16-slot blocks: element e of a head lives at e * 16. Eight bytes per 64-bit word, so
// the loops compile to shifts and byte stores (loads) at constant offsets.
inline void scatter16(const std::uint8_t* stage, std::uint8_t* dst, std::size_t n) {
  std::size_t e = 0;
  for (; e + 8 <= n; e += 8) {
    std::uint64_t w;
    std::memcpy(&w, stage + e, 8);
    for (std::size_t k = 0; k < 8; ++k) dst[(e + k) * 16] = static_cast<std::uint8_t>(w >> (8 * k));
  }
  for (; e < n; ++e) dst[e * 16] = stage[e];
}

inline void gather16(const std::uint8_t* src, std::uint8_t* stage, std::size_t n) {
  std::size_t e = 0;
  for (; e + 8 <= n; e += 8) {
    std::uint64_t w = 0;
    for (std::size_t k = 0; k < 8; ++k) w |= static_cast<std::uint64_t>(src[(e + k) * 16]) << (8 * k);
    std::memcpy(stage + e, &w, 8);
  }
  for (; e < n; ++e) stage[e] = src[e * 16];
}

// The bf16 step tables (bf16_step.hpp) of one chunk's scales, for writes: built on this thread
// where a scale covers enough elements of the chunk (one head's rows, 128 elements, are each too
// short to build one), and copied out of the thread's cache, whose entries a later look-up may
// reuse. A row then skips the look-up. Scales past the first kHeads of a side look theirs up.
struct ChunkTables {
  static constexpr std::int64_t kHeads = 64;
  detail::Bf16StepTable table[2][kHeads];
  bool has[2][kHeads] = {};

  void prepare(const PagedJob& j, std::size_t tokens) {
    if (j.t != DType::bf16 || j.k.quantize_step == nullptr) return;
    for (int i = 0; i < 2; ++i) {
      const PagedSide& s = j.side[i];
      const std::int64_t scales = s.scale_stride ? j.heads : 1;
      const std::size_t per_scale = tokens * static_cast<std::size_t>(j.head_size * (j.heads / scales));
      every[i] = scales <= kHeads;
      for (std::int64_t h = 0; h < std::min(scales, kHeads); ++h) {
        const detail::Bf16StepTable* t = detail::cached_bf16_step_table(j.f, s.scales[h], per_scale);
        if (t != nullptr) table[i][h] = *t;
        has[i][h] = t != nullptr;
        every[i] = every[i] && has[i][h];
      }
    }
  }
  bool every[2] = {};  // every scale of the side has a table
};

// What the quantize kernel prefetches (kernels.hpp: RunLookAhead): past a run's end where the
// tokens go in call order (their rows follow each other), and the cache lines as
// PagedSide::prefetch_out says where the runs write the cache.
inline detail::RunLookAhead look_ahead(const PagedJob& j, const PagedSide& s, bool to_cache) {
  return {j.order == nullptr, to_cache && s.prefetch_out};
}

// Quantizes runs of side s with the scale of head `head` (any head: one scale); `to_cache`: the
// runs write the cache (not a stage or tile), whose lines the kernel may prefetch.
inline void quantize_runs(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, std::int64_t head,
                          const RowRun* r, std::size_t count, bool to_cache) {
  const std::int64_t k = head * s.scale_stride;
  const float scale = s.scales[k];
  const int side = &s == &j.side[0] ? 0 : 1;
  if (k < ChunkTables::kHeads && ct.has[side][k]) {
    j.k.quantize_step(&ct.table[side][k], &s.scales[k], j.f, r, nullptr, count, look_ahead(j, s, to_cache));
    return;
  }
  for (std::size_t i = 0; i < count; ++i)
    j.k.quantize(j.f, j.t, r[i].in, static_cast<std::uint8_t*>(r[i].out), r[i].n, scale);
}

inline void quantize_run(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, std::int64_t head,
                         const unsigned char* in, std::uint8_t* out, std::size_t n) {
  const RowRun r{in, out, n};
  quantize_runs(j, s, ct, head, &r, 1, false);  // into a stage or tile
}

// An operation moves elements between row runs and cache places in two forms: runs(), where each
// cache place is one run (RowRun::out / in: the cache bytes), all with the scale of `head`; and
// scattered(), `len` elements of one row run whose cache place is several runs (the split layout),
// through a stage.
struct WriteOp {
  static constexpr bool kWrite = true;
  void runs(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, std::int64_t head, const RowRun* r,
            std::size_t count) const {
    quantize_runs(j, s, ct, head, r, count, true);
  }
  // Runs of heads with their own scales, run i with head which[i]: false (nothing done) where the
  // side's heads lack step tables.
  bool heads(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const RowRun* r, const std::uint8_t* which,
             std::size_t count) const {
    const int side = &s == &j.side[0] ? 0 : 1;
    if (!ct.every[side]) return false;
    j.k.quantize_step(ct.table[side], s.scales, j.f, r, which, count, look_ahead(j, s, true));
    return true;
  }
  void scattered(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const unsigned char* row,
                 std::uint8_t* cache, std::size_t len, std::int64_t head) const {
    const auto run = static_cast<std::size_t>(s.st.chunk_len);
    alignas(64) std::uint8_t stage[kStage];
    const std::size_t es = dtype_size(j.t), chunk = static_cast<std::size_t>(s.st.chunk);
    for (std::size_t b = 0; b < len; b += kStage) {
      const std::size_t n = std::min(kStage, len - b);
      quantize_run(j, s, ct, head, row + b * es, stage, n);
      std::uint8_t* dst = cache + (b / run) * chunk;
      if (run == 1 && chunk == 16) {  // split V, block size 16: a constant stride unrolls
        scatter16(stage, dst, n);
      } else if (run == 1) {
        for (std::size_t e = 0; e < n; ++e) dst[e * chunk] = stage[e];
      } else if (run == 16) {  // split K: 16-byte runs, copied inline
        for (std::size_t e = 0; e < n; e += 16) std::memcpy(dst + (e / 16) * chunk, stage + e, 16);
      } else {
        for (std::size_t e = 0; e < n; e += run) std::memcpy(dst + (e / run) * chunk, stage + e, run);
      }
    }
  }
};

// The split layout with 16-slot blocks, kTileMin or more tokens of one block: their K and V rows
// go through a tile `[16][heads x head_size]` (row o = the token in slot o; kTileRow bytes a row, so
// several passes of whole heads when a row is longer), one side after the other, and each head
// moves between the tile and the block in the block's own byte order: V transposed
// (RowKernels::tile_to_columns16), K in 16-byte pieces (element run c of slot o at c * 256 + o * 16).
// Reads move the block into the tile first, then dequantize the tokens' rows.
constexpr std::size_t kTileRow = 1024;
constexpr std::size_t kTileMin = 2;

struct TileGroup {
  std::size_t count = 0;
  std::size_t token[16];
  std::uint8_t slot[16];  // slot within the block
  std::uint32_t mask = 0;
};

// Heads [h0, h0 + nh) of token i of the group (row bytes) and its tile row.
struct TilePass {
  std::size_t h0, nh, pitch;
};

// Heads with their own scales: the pass's runs head by head, the group's tokens within a head, in
// batches of one kernel call (writes: the chunk's step tables; reads: the batched dequantize), so
// that the kernel sets up a head's table once a group rather than once a run; a batch the
// dequantize declines goes run by run. False (nothing done) where the side lacks the step tables,
// the ISA the batched dequantize, or which[] the heads.
template <bool kWrite>
bool tile_heads(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const TileGroup& g, const TilePass& p,
                std::uint8_t* tile) {
  const int side = &s == &j.side[0] ? 0 : 1;
  if (kWrite ? !ct.every[side] : (j.k.dequantize_runs == nullptr || j.heads > 255)) return false;
  const auto D = static_cast<std::size_t>(j.head_size);
  const std::size_t es = dtype_size(j.t);
  constexpr std::size_t kBatch = 128;
  RowRun runs[kBatch];
  std::uint8_t which[kBatch];
  std::size_t n = 0;
  for (std::size_t c = 0; c < p.nh; ++c)
    for (std::size_t i = 0; i < g.count; ++i) {
      unsigned char* row = s.rows + g.token[i] * s.row_stride + (p.h0 + c) * D * es;
      std::uint8_t* t = tile + g.slot[i] * p.pitch + c * D;
      runs[n].in = kWrite ? static_cast<void*>(row) : t;
      runs[n].out = kWrite ? static_cast<void*>(t) : row;
      runs[n].n = D;
      which[n++] = static_cast<std::uint8_t>(p.h0 + c);  // writes: < 64 (ChunkTables::kHeads); reads: < 256
      if (n < kBatch && (c + 1 < p.nh || i + 1 < g.count)) continue;
      if constexpr (kWrite) {
        j.k.quantize_step(ct.table[side], s.scales, j.f, runs, which, n, look_ahead(j, s, false));
      } else if (!j.k.dequantize_runs(j.f, j.t, s.scales, s.luts, runs, which, n)) {
        for (std::size_t r = 0; r < n; ++r)
          j.k.dequantize(j.f, j.t, static_cast<const std::uint8_t*>(runs[r].in), runs[r].out, D, s.scales[which[r]],
                         s.luts[which[r]]);
      }
      n = 0;
    }
  return true;
}

template <bool kWrite>
void tile_rows(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const TileGroup& g, const TilePass& p,
               std::uint8_t* tile) {
  if (s.scale_stride != 0 && tile_heads<kWrite>(j, s, ct, g, p, tile)) return;
  const auto D = static_cast<std::size_t>(j.head_size);
  const std::size_t es = dtype_size(j.t);
  for (std::size_t i = 0; i < g.count; ++i) {
    unsigned char* row = s.rows + g.token[i] * s.row_stride + p.h0 * D * es;
    std::uint8_t* t = tile + g.slot[i] * p.pitch;
    // One call for the pass when the heads share a scale, else one per head (where tile_heads
    // declines).
    const std::size_t calls = s.scale_stride == 0 ? 1 : p.nh, n = s.scale_stride == 0 ? p.pitch : D;
    for (std::size_t c = 0; c < calls; ++c) {
      const std::size_t h = s.scale_stride == 0 ? 0 : p.h0 + c;
      if constexpr (kWrite) {
        quantize_run(j, s, ct, static_cast<std::int64_t>(h), row + c * D * es, t + c * D, n);
      } else {
        j.k.dequantize(j.f, j.t, t + c * D, row + c * D * es, n, s.scales[h], s.luts[h]);
      }
    }
  }
}

// Split K, one head of one block: `[d / 16][16 slots][16]` bytes. Writes go in the block's order
// (whole lines for a full block); reads fetch the group's slots only.
template <bool kWrite>
void pieces16(const TileGroup& g, std::size_t d, std::uint8_t* tile, std::size_t pitch, std::uint8_t* head) {
  for (std::size_t c = 0; c < d / 16; ++c) {
    if constexpr (kWrite) {
      for (std::size_t o = 0; o < 16; ++o)
        if ((g.mask >> o) & 1u) std::memcpy(head + c * 256 + o * 16, tile + o * pitch + c * 16, 16);
    } else {
      for (std::size_t i = 0; i < g.count; ++i)
        std::memcpy(tile + g.slot[i] * pitch + c * 16, head + c * 256 + g.slot[i] * 16u, 16);
    }
  }
}

template <bool kWrite>
struct TileOp {
  void operator()(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const TileGroup& g,
                  std::uint8_t* cache) const {
    alignas(64) std::uint8_t tile[16 * kTileRow];
    const auto D = static_cast<std::size_t>(j.head_size), H = static_cast<std::size_t>(j.heads);
    const std::size_t per = kTileRow / D;  // heads per pass, >= 1 (tiled())
    for (std::size_t h0 = 0; h0 < H; h0 += per) {
      const TilePass p{h0, std::min(per, H - h0), std::min(per, H - h0) * D};
      if constexpr (kWrite) tile_rows<true>(j, s, ct, g, p, tile);
      for (std::size_t h = 0; h < p.nh; ++h) {
        std::uint8_t* head = cache + static_cast<std::int64_t>(h0 + h) * s.st.head;
        if (s.st.chunk_len == 16) {
          pieces16<kWrite>(g, D, tile + h * D, p.pitch, head);
        } else if constexpr (kWrite) {
          j.k.tile_to_columns16(tile + h * D, p.pitch, D, g.mask, head);
        } else {
          j.k.columns16_to_tile(head, D, tile + h * D, p.pitch);
        }
      }
      if constexpr (!kWrite) tile_rows<false>(j, s, ct, g, p, tile);
    }
  }
};
using WriteTileOp = TileOp<true>;
using ReadTileOp = TileOp<false>;

struct ReadOp {
  static constexpr bool kWrite = false;  // dequantize tables come with the job
  void runs(const PagedJob& j, const PagedSide& s, const ChunkTables&, std::int64_t head, const RowRun* r,
            std::size_t count) const {
    const std::size_t h = static_cast<std::size_t>(head * s.scale_stride);
    if (j.k.dequantize_runs != nullptr && j.k.dequantize_runs(j.f, j.t, &s.scales[h], &s.luts[h], r, nullptr, count))
      return;
    for (std::size_t i = 0; i < count; ++i) {
      detail::prefetch_run_ahead(r, i, count);  // as the batched kernels do
      j.k.dequantize(j.f, j.t, static_cast<const std::uint8_t*>(r[i].in), r[i].out, r[i].n, s.scales[h], s.luts[h]);
    }
  }
  bool heads(const PagedJob& j, const PagedSide& s, const ChunkTables&, const RowRun* r, const std::uint8_t* which,
             std::size_t count) const {
    return j.k.dequantize_runs != nullptr && j.k.dequantize_runs(j.f, j.t, s.scales, s.luts, r, which, count);
  }
  void scattered(const PagedJob& j, const PagedSide& s, const ChunkTables&, unsigned char* row,
                 const std::uint8_t* cache, std::size_t len, std::int64_t head) const {
    const std::size_t h = static_cast<std::size_t>(head * s.scale_stride);
    const float scale = s.scales[h];
    const DequantLut& lut = s.luts[h];
    const auto run = static_cast<std::size_t>(s.st.chunk_len);
    alignas(64) std::uint8_t stage[kStage];
    const std::size_t es = dtype_size(j.t), chunk = static_cast<std::size_t>(s.st.chunk);
    for (std::size_t b = 0; b < len; b += kStage) {
      const std::size_t n = std::min(kStage, len - b);
      const std::uint8_t* src = cache + (b / run) * chunk;
      if (run == 1 && chunk == 16) {
        gather16(src, stage, n);
      } else if (run == 1) {
        for (std::size_t e = 0; e < n; ++e) stage[e] = src[e * chunk];
      } else if (run == 16) {  // split K: 16-byte runs, copied inline
        for (std::size_t e = 0; e < n; e += 16) std::memcpy(stage + e, src + (e / 16) * chunk, 16);
      } else {
        for (std::size_t e = 0; e < n; e += run) std::memcpy(stage + e, src + (e / run) * chunk, run);
      }
      j.k.dequantize(j.f, j.t, stage, row + b * es, n, scale, lut);
    }
  }
};

// The block of a slot (-1 for padding), and of token k in visiting order.
std::int64_t block_of(const PagedJob& j, std::int64_t slot) {
  if (slot < 0) return -1;
  return j.block_shift >= 0 ? slot >> j.block_shift : slot / j.block_size;
}
std::int64_t block_at(const PagedJob& j, std::size_t k) { return block_of(j, j.slots[j.order ? j.order[k] : k]); }

// Chunk i's first token in visiting order. Chunks start at a change of block, so that no two
// threads write into one block (the tile path rewrites whole 16-byte lines of it).
std::size_t paged_chunk_begin(const PagedJob& j, std::size_t i) {
  if (i >= j.chunks) return j.tokens;
  std::size_t k = j.tokens * i / j.chunks;
  while (k > 0 && k < j.tokens && block_at(j, k) == block_at(j, k - 1)) ++k;
  return k;
}

// Tokens of a chunk waiting for their visit: row index, block and slot within the block. 64 a
// visit: with one scale, a one-head visit then fills a batch of runs (batch_runs), and an 8-head one four
// (bench_cpu A/B against 16: 0.81-0.97x the time of dense, HND and strided paged ops from 2,048
// tokens on; one-head rows are 256 bytes, so 16 tokens made batches of 16 runs).
struct PendingTokens {
  static constexpr std::size_t kMax = 64;
  std::size_t count = 0;
  std::size_t token[kMax];
  std::int64_t block[kMax], off[kMax];
  // Token t, whose slot lies in `block`; the caller flushes a full list first.
  void add(const PagedJob& j, std::size_t t, std::int64_t b) {
    token[count] = t;
    block[count] = b;
    off[count++] = j.slots[t] - b * j.block_size;
  }
};

// The kernel run of a row run and its cache place: writes read the row into the cache, reads the
// other way round.
template <class Op>
RowRun run_of(unsigned char* row, std::uint8_t* cache, std::size_t n) {
  return Op::kWrite ? RowRun{row, cache, n} : RowRun{cache, row, n};
}

// Runs of one side and one scale, gathered over the pending tokens and their `heads` runs of `len`
// elements, and handed to Op::runs kMax at a time: one call and one table set-up for many
// 128-element rows. A run that continues the previous one both in the rows and in the cache (a
// prefill's consecutive slots) extends it. The side's fields and the count are locals, and the
// runs are stored field by field: a RowRun built on the stack and copied in with one 16-byte move
// waited on its two 8-byte stores (a store-forwarding stall), which perf put at over half of
// visit_side's samples in BM_paged_write/2048/1.
template <class Op>
void batch_runs(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const PendingTokens& p, std::size_t heads,
                std::size_t len) {
  constexpr std::size_t kMax = 64;
  const std::size_t es = dtype_size(j.t), in_es = Op::kWrite ? es : 1, out_es = Op::kWrite ? 1 : es;
  unsigned char* const rows = s.rows;
  std::uint8_t* const cache = s.cache;
  const std::size_t row_stride = s.row_stride, row_head = len * es;
  const std::int64_t block = s.st.block, slot = s.st.slot, head = s.st.head;
  RowRun run[kMax];
  std::size_t n = 0;
  for (std::size_t i = 0; i < p.count; ++i) {
    unsigned char* row = rows + p.token[i] * row_stride;
    std::uint8_t* place = cache + p.block[i] * block + p.off[i] * slot;
    for (std::size_t h = 0; h < heads; ++h, row += row_head, place += head) {
      unsigned char* in = Op::kWrite ? row : place;
      unsigned char* out = Op::kWrite ? place : row;
      if (n > 0 && static_cast<const unsigned char*>(run[n - 1].in) + run[n - 1].n * in_es == in &&
          static_cast<unsigned char*>(run[n - 1].out) + run[n - 1].n * out_es == out) {
        run[n - 1].n += len;
        continue;
      }
      if (n == kMax) {
        Op{}.runs(j, s, ct, 0, run, n);
        n = 0;
      }
      run[n].in = in;
      run[n].out = out;
      run[n].n = len;
      ++n;
    }
  }
  if (n > 0) Op{}.runs(j, s, ct, 0, run, n);
}

// Moves the pending tokens' K or V (every head) with Op. With one scale, a batch takes every
// token's whole row (whole_row: the heads continue each other) or its heads; heads with their own
// scales go one run a call, token by token. Cache places made of several runs (split) go through
// Op::scattered.
template <class Op>
void visit_side(const PagedJob& j, const PagedSide& s, const ChunkTables& ct, const PendingTokens& p) {
  const std::size_t es = dtype_size(j.t);
  const auto D = static_cast<std::size_t>(j.head_size), H = static_cast<std::size_t>(j.heads);
  const std::size_t len = s.whole_row ? H * D : D, heads = s.whole_row ? 1 : H;
  auto row = [&](std::size_t i, std::size_t h) { return s.rows + p.token[i] * s.row_stride + h * D * es; };
  auto cache = [&](std::size_t i, std::size_t h) {
    return s.cache + p.block[i] * s.st.block + p.off[i] * s.st.slot + static_cast<std::int64_t>(h) * s.st.head;
  };
  if (s.st.chunk != s.st.chunk_len && static_cast<std::size_t>(s.st.chunk_len) < len) {
    for (std::size_t i = 0; i < p.count; ++i)
      for (std::size_t h = 0; h < heads; ++h)
        Op{}.scattered(j, s, ct, row(i, h), cache(i, h), len, static_cast<std::int64_t>(h));
  } else if (s.scale_stride == 0) {
    batch_runs<Op>(j, s, ct, p, heads, len);
  } else if (H <= 255) {
    // Heads with their own scales, in memory order, many runs a call: the kernel sets up each
    // run's head (a batch per head, reading each row in 256-byte pieces 2 KiB apart, was 1.1-1.2x
    // slower at 16,384 tokens, from DRAM). Fields one by one, as batch_runs says. Where the
    // operation has no batched form (no step tables), the runs go one a call.
    constexpr std::size_t kBatch = 128;
    RowRun runs[kBatch];
    std::uint8_t which[kBatch];
    std::size_t n = 0;
    auto flush = [&] {
      if (n > 0 && !Op{}.heads(j, s, ct, runs, which, n))
        for (std::size_t r = 0; r < n; ++r) Op{}.runs(j, s, ct, which[r], &runs[r], 1);
      n = 0;
    };
    for (std::size_t i = 0; i < p.count; ++i)
      for (std::size_t h = 0; h < H; ++h) {
        const RowRun r = run_of<Op>(row(i, h), cache(i, h), D);
        runs[n].in = r.in;
        runs[n].out = r.out;
        runs[n].n = D;
        which[n++] = static_cast<std::uint8_t>(h);
        if (n == kBatch) flush();
      }
    flush();
  } else {
    // In memory order, one run a call.
    for (std::size_t i = 0; i < p.count; ++i)
      for (std::size_t h = 0; h < H; ++h) {
        const RowRun r = run_of<Op>(row(i, h), cache(i, h), D);
        Op{}.runs(j, s, ct, static_cast<std::int64_t>(h), &r, 1);
      }
  }
}

// Whether the cache is the split layout with 16-slot blocks (K: 16-byte runs 256 bytes apart, V:
// elements 16 bytes apart) and a head the tile holds.
bool tiled(const PagedJob& j) {
  const CacheStrides &k = j.side[0].st, &v = j.side[1].st;
  return j.block_size == 16 && k.slot == 16 && k.chunk_len == 16 && k.chunk == 256 && v.slot == 1 && v.chunk_len == 1 &&
         v.chunk == 16 && j.head_size % 16 == 0 && static_cast<std::size_t>(j.head_size) <= kTileRow;
}

// The rows of the tokens that the tile path moves next, when the tokens go in slot order: their
// rows then lie at random, and the quantize kernel's look-ahead stops at a row's end
// (RunLookAhead::past_run). perf put 55 % of that kernel's samples in
// BM_paged_write_layout/16384/8/2 on the load of a row's first line. So the K and V rows of the
// kRowsAhead tokens after a group are prefetched before it moves (for reads, which write the
// rows, with write intent where the target has PREFETCHW). A split write of 16,384 tokens with
// random slots then took 0.57-0.63x the time (docs/performance.md, session 23).
struct RowLookAhead {
  static constexpr std::size_t kRowsAhead = 8;
  std::size_t next;  // the first token (visiting order) whose rows are not prefetched yet
  // Prefetches the rows of tokens [max(next, k), end). Inlined always, as kernels.hpp's look-aheads
  // are (tests/cpu/check_prefetch.sh looks for the prefetch in paged_chunk).
  template <bool kWrite>
  __attribute__((always_inline)) void upto(const PagedJob& j, std::size_t k, std::size_t end) {
    const std::size_t bytes = static_cast<std::size_t>(j.heads * j.head_size) * dtype_size(j.t);
    for (next = std::max(next, k); next < end; ++next) {
      const std::size_t t = j.order[next];
      for (const PagedSide& s : j.side) {
        const unsigned char* row = s.rows + t * s.row_stride;
        for (std::size_t o = 0; o < bytes; o += 64) __builtin_prefetch(row + o, kWrite ? 0 : 1);
      }
    }
  }
};

// Visits the tokens of chunk i in visiting order. In the split layout with the tile,
// consecutive tokens of one block form a group (at most 16), and a group of kTileMin or more goes
// through Tile. Everything else waits in `p` and goes through Op 64 tokens at a time (visit_side).
template <class Op, class Tile>
void paged_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const PagedJob*>(ctx);
  const bool tile_split = tiled(j);
  const std::size_t first = paged_chunk_begin(j, i), last = paged_chunk_begin(j, i + 1);
  ChunkTables ct;
  if constexpr (Op::kWrite) ct.prepare(j, last - first);
  PendingTokens p;
  RowLookAhead ahead{first};
  auto flush = [&] {
    if (p.count == 0) return;
    for (const PagedSide& s : j.side) visit_side<Op>(j, s, ct, p);
    p.count = 0;
  };
  if (!tile_split) {
    // No tile, so no groups: each token waits in p as it comes.
    for (std::size_t k = first; k < last; ++k) {
      const std::size_t t = j.order ? j.order[k] : k;
      const std::int64_t block = block_of(j, j.slots[t]);
      if (block < 0) continue;
      if (p.count == PendingTokens::kMax) flush();
      p.add(j, t, block);
    }
    flush();
    return;
  }
  for (std::size_t k = first, end = last; k < end;) {
    const std::int64_t block = block_at(j, k);
    std::size_t n = 1;
    while (k + n < end && n < 16 && block >= 0 && block_at(j, k + n) == block) ++n;
    if (block < 0) {
      k += n;
      continue;
    }
    if (n < kTileMin) {
      for (std::size_t m = 0; m < n; ++m) {
        if (p.count == PendingTokens::kMax) flush();
        p.add(j, j.order ? j.order[k + m] : k + m, block);
      }
      k += n;
      continue;
    }
    flush();  // tokens in visiting order, as a repeated slot needs
    if (j.order != nullptr) ahead.upto<Op::kWrite>(j, k, std::min(last, k + n + RowLookAhead::kRowsAhead));
    TileGroup g;
    g.count = n;
    for (std::size_t m = 0; m < n; ++m) {
      const std::size_t t = j.order ? j.order[k + m] : k + m;
      const std::int64_t off = j.slots[t] - block * j.block_size;  // < 16 (tiled())
      g.token[m] = t;
      g.slot[m] = static_cast<std::uint8_t>(off);
      g.mask |= 1u << off;
    }
    for (const PagedSide& s : j.side) Tile{}(j, s, ct, g, s.cache + block * s.st.block);
    k += n;
  }
  flush();
}

// Every slot must be < num_slots() (negative = padding) before anything is written.
Status check_slots(const char* op, const std::int64_t* slots, std::int64_t tokens, const PagedCacheShape& c) {
  const std::int64_t limit = c.num_slots();
  for (std::int64_t t = 0; t < tokens; ++t) {
    if (slots[t] >= limit)
      return kvscale::detail::fail(Status::invalid_argument, std::string(op) + ": slot_mapping[" + std::to_string(t) +
                                                                 "] = " + std::to_string(slots[t]) +
                                                                 " is outside the cache (" + std::to_string(limit) +
                                                                 " slots)");
  }
  return Status::success;
}

std::size_t paged_chunks(std::size_t tokens, std::size_t row_elems) {
  const int threads = detail::pool_threads();
  const std::size_t total = tokens * row_elems * 2;
  if (threads <= 1 || total < kParallelMin || tokens < 2) return 1;
  return std::min<std::size_t>(tokens, std::min<std::size_t>(total / kMinChunk, static_cast<std::size_t>(threads) * 4));
}

// The job of a paged op; `luts` (reads) holds the dequantize tables of every head that has its own
// scale (empty otherwise).
PagedJob make_job(Fp8Format f, DType t, const TokenRows& r, const PagedCacheShape& c, const std::int64_t* slots,
                  const void* key, const void* value, const std::uint8_t* kc, const std::uint8_t* vc, const float* ks,
                  const float* vs, int kss, int vss) {
  PagedJob j{};
  j.k = detail::current_kernels();
  j.f = f;
  j.t = t;
  j.slots = slots;
  j.block_size = c.block_size;
  int b = 0;
  while (b < 62 && (std::int64_t{1} << b) < c.block_size) ++b;  // validate(): block_size > 0
  j.block_shift = std::int64_t{1} << b == c.block_size ? b : -1;
  j.heads = r.num_kv_heads;
  j.head_size = r.head_size;
  const std::size_t es = dtype_size(t);
  auto side = [es](const void* rows, std::int64_t row_stride, const std::uint8_t* cache, const CacheStrides& st,
                   const float* scales, int scale_stride) {
    return PagedSide{const_cast<unsigned char*>(static_cast<const unsigned char*>(rows)),
                     static_cast<std::size_t>(row_stride) * es,
                     const_cast<std::uint8_t*>(cache),
                     st,
                     scales,
                     scale_stride,
                     nullptr,
                     false,
                     false};
  };
  j.side[0] = side(key, r.key_row_stride, kc, c.key_strides(), ks, kss);
  j.side[1] = side(value, r.value_row_stride, vc, c.value_strides(), vs, vss);
  for (PagedSide& s : j.side) {
    s.whole_row = s.scale_stride == 0 && s.st.head == (r.head_size / s.st.chunk_len) * s.st.chunk;
    s.prefetch_out = r.num_kv_heads > 1 && s.st.head < s.st.slot;
  }
  j.tokens = static_cast<std::size_t>(r.num_tokens);
  j.chunks = paged_chunks(j.tokens, static_cast<std::size_t>(r.num_kv_heads * r.head_size));
  return j;
}

// The split layout spreads a token's V over head_size cache lines of its block (one byte each), so
// tokens are visited in slot order: the tokens of one block then fill its lines together while
// they are in cache, and go through the V tile together. Empty (call order) when the layout does
// not need it, for calls so small that sorting costs more than it saves, when the call order
// already keeps the tokens of a block together (a prefill: consecutive slots), or when the order
// cannot be allocated.
constexpr std::int64_t kSlotOrderMin = 64;

bool blocks_together(const std::int64_t* slots, std::int64_t tokens, std::int64_t block_size) {
  std::int64_t same = 0;
  for (std::int64_t t = 1; t < tokens; ++t)
    same += slots[t] >= 0 && slots[t - 1] >= 0 && slots[t] / block_size == slots[t - 1] / block_size;
  return 2 * same >= tokens;
}

std::vector<std::uint32_t> slot_order(const PagedCacheShape& c, const std::int64_t* slots, std::int64_t tokens) {
  std::vector<std::uint32_t> order;
  if (c.layout != CacheLayout::split || tokens < kSlotOrderMin || tokens > 0xFFFFFFFFll ||
      blocks_together(slots, tokens, c.block_size))
    return order;
  try {
    order.resize(static_cast<std::size_t>(tokens));
  } catch (...) {
    return {};
  }
  for (std::size_t t = 0; t < order.size(); ++t) order[t] = static_cast<std::uint32_t>(t);
  std::sort(order.begin(), order.end(), [slots](std::uint32_t a, std::uint32_t b) { return slots[a] < slots[b]; });
  return order;
}

}  // namespace

Status paged_write(const PagedWriteArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_slots("paged_write", a.slot_mapping, a.rows.num_tokens, a.cache); s != Status::success) return s;
  PagedJob j = make_job(a.format, a.dtype, a.rows, a.cache, a.slot_mapping, a.key, a.value, a.key_cache, a.value_cache,
                        a.k_scale, a.v_scale, a.k_scale_stride, a.v_scale_stride);
  const std::vector<std::uint32_t> order = slot_order(a.cache, a.slot_mapping, a.rows.num_tokens);
  j.order = order.empty() ? nullptr : order.data();
  detail::parallel_for(j.chunks, paged_chunk<WriteOp, WriteTileOp>, &j);
  return Status::success;
}

Status paged_read(const PagedReadArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_slots("paged_read", a.slot_mapping, a.rows.num_tokens, a.cache); s != Status::success) return s;
  PagedJob j = make_job(a.format, a.dtype, a.rows, a.cache, a.slot_mapping, a.key, a.value, a.key_cache, a.value_cache,
                        a.k_scale, a.v_scale, a.k_scale_stride, a.v_scale_stride);
  // The dequantize tables of each side's scales (one, or one per head), from the calling thread's
  // cache of recent sets (lut_cache.hpp: a server's layers take turns).
  for (PagedSide& s : j.side) {
    const auto n = s.scale_stride == 0 ? std::size_t{1} : static_cast<std::size_t>(a.rows.num_kv_heads);
    s.luts = detail::cached_dequant_luts(a.format, a.dtype, s.scales, n, j.k.build_lut);
    if (s.luts == nullptr) return kvscale::detail::fail(Status::out_of_memory, "paged_read: dequantize tables");
  }
  const std::vector<std::uint32_t> order = slot_order(a.cache, a.slot_mapping, a.rows.num_tokens);
  j.order = order.empty() ? nullptr : order.data();
  detail::parallel_for(j.chunks, paged_chunk<ReadOp, ReadTileOp>, &j);
  return Status::success;
}

}  // namespace cpu
}  // namespace kvscale
