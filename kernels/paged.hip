// kernels/paged.hip: paged KV-cache write (vLLM reshape_and_cache_flash semantics) and read.
//
// Geometry (paged_geometry() in geometry.hpp): blocks of 256 threads = tx threads per token x ty
// tokens (tx a power of two in [16, 256], sized to the token's 16-element vectors, so small rows
// such as one 128-wide head at TP8 do not leave whole waves idle). Each grid is capped at
// kMaxPagedBlocks and the launcher splits larger calls into several stream-ordered launches, so
// every num_tokens launches (a grid of one block row per token overflowed ROCm's 2^32 work-item
// limit from 2^24 tokens of 16 x 128). The slot is
// read and split once per token; negative slots are padding and slots >= num_slots are skipped
// (they cannot be reported without a sync).
//
// One traversal per layout family, written once for both directions: a template over the
// operation (dev::Quantize: rows -> cache, dev::Dequantize: cache -> rows; rocPRIM transform style).
//   Strided layouts (nhd, hnd presets and any block/slot/head strides): a token's K or V row is
//   nseg contiguous segments, one of num_kv_heads * head_size elements (adjacent heads sharing one
//   scale) or one per head, head_stride cache bytes apart, each with its head's scale (scale
//   strides 0 or 1). When every row, cache and stride is 16-byte aligned (kVec, decided on the
//   host), K and V are flattened into one index space of 16-element vectors; otherwise each
//   segment runs the scalar-head / vector / scalar-tail routine (dev::transform_segment).
//   Split layout (vLLM ROCm): K in 16-byte chunks, V transposed and staged through shared memory
//   (paged_split_tile below).
// clang-format off
#include "gpu_runtime.hpp"  // first: hip_runtime.h defines __host__ / __device__
// clang-format on

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "device_codec.hpp"
#include "dispatch.hpp"
#include "launch.hpp"

namespace kvscale {
namespace kernels {
namespace {

constexpr unsigned kThreads = kBlockThreads;

// AMD: ask for at least 8 waves per SIMD (so at most 64 VGPRs; results are unchanged). Without it
// clang-22's scheduler trades occupancy for ILP in the general (head/vector/tail) path of the f32
// and bf16 kernels in the native format and gives 85-118 VGPRs on gfx942/gfx950; the code fits in
// 55-58 when asked. Only for clang's HIP language (device and host passes); nvcc, and any host
// compiler that builds these sources as plain C++, get nothing (CUDA's __launch_bounds__ 2nd
// argument means blocks per SM, not waves).
#if defined(__clang__) && defined(__HIP__)
#define KVSCALE_PAGED_OCCUPANCY __attribute__((amdgpu_waves_per_eu(8)))
#else
#define KVSCALE_PAGED_OCCUPANCY
#endif

// The arguments of one launch, typed by the direction: Op::Row / Op::Cache are const on the side
// the op reads.
template <class Op>
struct PagedParams {
  typename std::conditional<Op::kToCache, const void*, void*>::type key;  // rows
  typename std::conditional<Op::kToCache, const void*, void*>::type value;
  const std::int64_t* slot_mapping;
  typename Op::Cache key_cache;
  typename Op::Cache value_cache;
  const float* k_scale;
  const float* v_scale;
  std::uint32_t k_scale_stride;  // 0 or 1
  std::uint32_t v_scale_stride;
  std::int64_t first_token;  // of this launch: the launcher splits calls over kMaxPagedBlocks
  std::int64_t num_tokens;
  std::int64_t key_stride;  // elements
  std::int64_t value_stride;
  std::int64_t num_slots;
  std::int64_t block_size;
  std::int64_t block_stride;  // cache bytes (K's; V's too, split included)
  std::int64_t slot_stride;   // (K's; split V's is 1)
  std::uint32_t head_stride;  // (K's; V's too, split included); < 2^31 (paged_cache_supported)
  std::int64_t vec_stride;    // cache bytes between the 16-element vectors of a head (split K: 16 * block_size)
  std::uint32_t heads;
  std::uint32_t head_size;
  std::uint32_t nseg;  // segments per token row: 1 (heads merged) or heads
  std::uint32_t seg_len;
  std::uint32_t windows;  // split: blocks per token group (PagedGeometry::windows)
  std::uint32_t v_col16;  // split: V columns of 16 slots can be stored as 16-byte pieces (see split_map)
};

// The (block, offset) of token t's slot; false for padding and slots outside the cache.
template <class Op>
__device__ __forceinline__ bool place_slot(const PagedParams<Op>& p, std::int64_t t, std::int64_t* block,
                                           std::int64_t* off) {
  const std::int64_t slot = p.slot_mapping[t];
  if (slot < 0 || slot >= p.num_slots) return false;
  if (p.num_slots <= 0xFFFFFFFFll) {  // 32-bit division is far cheaper than 64-bit on AMD
    const std::uint32_t s32 = static_cast<std::uint32_t>(slot);
    const std::uint32_t bs = static_cast<std::uint32_t>(p.block_size);
    const std::uint32_t b = s32 / bs;
    *block = b;
    *off = s32 - b * bs;
  } else {
    *block = slot / p.block_size;
    *off = slot - *block * p.block_size;
  }
  return true;
}

// The strided layouts (nhd, hnd and any strides): one token's K and V rows, by the blockDim.x
// threads of row threadIdx.y, in Op's direction. Each row is nseg contiguous segments of seg_len
// elements, head_stride cache bytes apart.
template <class Op, Fp8Format F, DType T, bool kVec>
__device__ __forceinline__ void paged_token(const PagedParams<Op>& p, std::int64_t t) {
  using Row = typename Op::template Row<T>;
  using Cache = typename Op::Cache;
  std::int64_t block, off;
  if (!place_slot(p, t, &block, &off)) return;
  const std::int64_t base = block * p.block_stride + off * p.slot_stride;
  const Row KVSCALE_RESTRICT_DEP krow = static_cast<Row>(p.key) + t * p.key_stride;
  const Row KVSCALE_RESTRICT_DEP vrow = static_cast<Row>(p.value) + t * p.value_stride;
  const Cache KVSCALE_RESTRICT_DEP kc = p.key_cache + base;
  const Cache KVSCALE_RESTRICT_DEP vc = p.value_cache + base;
  const std::uint32_t lane = threadIdx.x;
  const std::uint32_t lanes = blockDim.x;
  if constexpr (kVec) {
    const std::uint32_t cps = p.seg_len / 16;  // vectors per segment
    const std::uint32_t per_kv = p.nseg * cps;
    for (std::uint32_t j = lane; j < 2 * per_kv; j += lanes) {
      const bool is_v = j >= per_kv;
      const std::uint32_t jj = is_v ? j - per_kv : j;
      const std::uint32_t seg = p.nseg == 1 ? 0u : jj / cps;
      const std::uint32_t e = (jj - seg * cps) * 16;  // element within the segment
      // One pointer select and a 32-bit index (selecting between two loaded scales costs the
      // native f32 writers on gfx942/gfx950 their last VGPRs).
      const float* sp = is_v ? p.v_scale : p.k_scale;
      const std::uint32_t si = seg * (is_v ? p.v_scale_stride : p.k_scale_stride);
      Op::template move16<F, T>((is_v ? vrow : krow) + seg * p.seg_len + e,
                                (is_v ? vc : kc) + (seg * p.head_stride + e), sp[si]);
    }
  } else {
    for (std::uint32_t seg = 0; seg < p.nseg; ++seg) {
      dev::transform_segment<Op, F, T, std::uint32_t>(krow + seg * p.seg_len, kc + seg * p.head_stride, p.seg_len,
                                                      p.k_scale[seg * p.k_scale_stride], lane, lanes);
      dev::transform_segment<Op, F, T, std::uint32_t>(vrow + seg * p.seg_len, vc + seg * p.head_stride, p.seg_len,
                                                      p.v_scale[seg * p.v_scale_stride], lane, lanes);
    }
  }
}

// The split layout. V is transposed relative to the rows (element e of a head is a column of
// block_size bytes), so it is staged through shared memory. A block owns kSplitTokens tokens
// (threadIdx.y) and walks their rows in windows of kSplitVecs 16-element vectors (threadIdx.x: one
// vector per thread), windows blockIdx.x % p.windows, + p.windows, ...:
//   row side:   each thread converts its token's vector; K goes straight to its 16-byte chunk
//               of the cache (vector path), V to the tile [token][window byte] in shared memory;
//   cache side: the 256 threads move the tile's 16 x 256 bytes to V's columns, mapped by how the
//               block's tokens lie in the cache (the same decision for the whole block):
//     column:   the 16 tokens fill 16 consecutive slots from a 16-aligned offset (a prefill): one
//               thread per column, one 16-byte store of its 16 tokens;
//     token:    the tokens mostly follow each other: thread i takes token i % 16 and window byte
//               i / 16 (+ 16 per step), so the 16 tokens of a column are adjacent lanes (one
//               32-byte sector per pair of columns);
//     scatter:  otherwise (decode: one slot per sequence): thread i takes token i / 16 and window
//               byte i % 16 (+ 16 per step), so a warp's store covers 16 columns of one token,
//               2 lines, as a per-element kernel's would; the token mapping would touch 16 lines.
// Every byte has one owner thread and one address derived from its own token's slot, so the result
// never depends on slot order (any slots, any blocks in one group). Writes run row side, barrier,
// cache side; reads the other way round.
// The block barrier of the split kernels. On AMD device code: what __syncthreads() expands to (a
// work-group release fence, s_barrier, an acquire fence), written with the compiler builtins so
// that the device-only clang-22 build (-nogpulib, gfx942/gfx950) needs no device-library fence.
// Elsewhere (CUDA, the host emulator) __syncthreads().
__device__ __forceinline__ void block_sync() {
#if defined(__HIP_DEVICE_COMPILE__) && defined(__AMDGCN__)
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_s_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
#else
  __syncthreads();
#endif
}

struct SplitStage {
  static constexpr std::uint32_t kPitch = kSplitVecs * 16 + 16;  // padded against bank conflicts
  std::uint8_t tile[kSplitTokens * kPitch];
  std::int64_t vbase[kSplitTokens];  // V cache offset of each token's (block, offset); -1 = skip
};

enum class SplitMap { column, token, scatter };

// The cache-side mapping of a block (SplitStage::vbase filled and visible).
__device__ __forceinline__ SplitMap split_map(const SplitStage& st, bool col16) {
  const std::int64_t v0 = st.vbase[0];
  bool run = v0 >= 0;
  std::uint32_t breaks = 0;
  for (std::uint32_t i = 1; i < kSplitTokens; ++i) {
    const std::int64_t v = st.vbase[i], prev = st.vbase[i - 1];
    run = run && v == v0 + i;
    breaks += (v < 0 || prev < 0 || v != prev + 1) ? 1u : 0u;
  }
  if (run && col16 && v0 % 16 == 0) return SplitMap::column;
  return breaks <= 2 ? SplitMap::token : SplitMap::scatter;
}

template <class Op, Fp8Format F, DType T, bool kVec>
__device__ __forceinline__ void move16_any(typename Op::template Row<T> row, typename Op::Cache cache, float s) {
  if constexpr (kVec) {
    Op::template move16<F, T>(row, cache, s);
  } else {
#pragma unroll 1
    for (int i = 0; i < 16; ++i) Op::template move1<F, T>(row + i, cache + i, s);
  }
}

// The V cache offset of window vector vi's element k (< 16), relative to a token's vbase.
template <class Op>
__device__ __forceinline__ std::int64_t split_v_offset(const PagedParams<Op>& p, std::uint32_t vi, std::uint32_t k) {
  const std::uint32_t cpv = p.head_size / 16;
  const std::uint32_t h = vi / cpv;
  const std::uint32_t e = (vi - h * cpv) * 16 + k;
  return static_cast<std::int64_t>(h) * p.head_stride + static_cast<std::int64_t>(e) * p.block_size;
}

// Cache side, column mapping: thread i owns window byte i of all 16 tokens, one 16-byte column
// piece at vbase[0] + offset (16-aligned: split_map checked it).
template <class Op>
__device__ __forceinline__ void split_columns(const PagedParams<Op>& p, SplitStage& st, std::uint32_t w0,
                                              std::uint32_t nvec, std::uint32_t tid) {
  const std::uint32_t i = tid / 16, k = tid % 16;
  if (w0 + i >= nvec) return;
  const std::int64_t at = st.vbase[0] + split_v_offset(p, w0 + i, k);
  std::uint8_t* col = st.tile + tid;
  if constexpr (Op::kToCache) {
    std::uint32_t w[4];
#pragma unroll
    for (std::uint32_t q = 0; q < 4; ++q) {
      const std::uint8_t* b = col + 4 * q * SplitStage::kPitch;
      w[q] = b[0] | (b[SplitStage::kPitch] << 8) | (b[2 * SplitStage::kPitch] << 16) |
             (static_cast<std::uint32_t>(b[3 * SplitStage::kPitch]) << 24);
    }
    *reinterpret_cast<uint4*>(p.value_cache + at) = make_uint4(w[0], w[1], w[2], w[3]);
  } else {
    const uint4 x = *reinterpret_cast<const uint4*>(p.value_cache + at);
    const std::uint32_t w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (std::uint32_t tok = 0; tok < kSplitTokens; ++tok)
      col[tok * SplitStage::kPitch] = static_cast<std::uint8_t>(w[tok / 4] >> (8 * (tok % 4)));
  }
}

// Cache side, token and scatter mappings: thread (tok, k) moves byte k of each window vector of
// token tok.
template <class Op>
__device__ __forceinline__ void split_bytes(const PagedParams<Op>& p, SplitStage& st, std::uint32_t w0,
                                            std::uint32_t nvec, std::uint32_t tok, std::uint32_t k) {
  const std::int64_t vb = st.vbase[tok];
  if (vb < 0) return;
  for (std::uint32_t i = 0; i < kSplitVecs && w0 + i < nvec; ++i) {
    std::uint8_t* tb = st.tile + tok * SplitStage::kPitch + i * 16 + k;
    const std::int64_t at = vb + split_v_offset(p, w0 + i, k);
    if constexpr (Op::kToCache) {
      p.value_cache[at] = *tb;
    } else {
      *tb = p.value_cache[at];
    }
  }
}

template <class Op, Fp8Format F, DType T, bool kVec>
__device__ __forceinline__ void paged_split_tile(const PagedParams<Op>& p, SplitStage& st) {
  using Row = typename Op::template Row<T>;
  const std::uint32_t g = threadIdx.y, c = threadIdx.x, tid = g * kSplitVecs + c;
  const std::uint32_t group = blockIdx.x / p.windows, first_window = blockIdx.x - group * p.windows;
  const std::int64_t t = p.first_token + static_cast<std::int64_t>(group) * kSplitTokens + g;
  std::int64_t block = 0, off = 0;
  const bool valid = t < p.num_tokens && place_slot(p, t, &block, &off);
  const std::int64_t bbase = block * p.block_stride;
  if (c == 0) st.vbase[g] = valid ? bbase + off : -1;
  block_sync();
  const SplitMap map = split_map(st, p.v_col16 != 0);
  const std::uint32_t cpv = p.head_size / 16;  // vectors per head
  const std::uint32_t nvec = p.heads * cpv;    // vectors per row
  for (std::uint32_t w0 = first_window * kSplitVecs; w0 < nvec; w0 += p.windows * kSplitVecs) {
    auto row_side = [&] {
      const std::uint32_t vi = w0 + c;
      if (!valid || vi >= nvec) return;
      const std::uint32_t h = vi / cpv, v = vi - h * cpv;
      const Row krow = static_cast<Row>(p.key) + t * p.key_stride + vi * 16;
      const Row vrow = static_cast<Row>(p.value) + t * p.value_stride + vi * 16;
      move16_any<Op, F, T, kVec>(
          krow,
          p.key_cache + bbase + off * p.slot_stride + static_cast<std::int64_t>(h) * p.head_stride + v * p.vec_stride,
          p.k_scale[h * p.k_scale_stride]);
      move16_any<Op, F, T, kVec>(vrow, st.tile + g * SplitStage::kPitch + c * 16, p.v_scale[h * p.v_scale_stride]);
    };
    auto cache_side = [&] {
      if (map == SplitMap::column) {
        split_columns(p, st, w0, nvec, tid);
      } else if (map == SplitMap::token) {
        split_bytes(p, st, w0, nvec, tid % kSplitTokens, tid / kSplitTokens);
      } else {
        split_bytes(p, st, w0, nvec, tid / 16, tid % 16);
      }
    };
    if constexpr (Op::kToCache) {
      row_side();
      block_sync();
      cache_side();
    } else {
      cache_side();
      block_sync();
      row_side();
    }
    block_sync();  // the tile is reused by the next window
  }
}

// Entry points: one per direction and layout family (distinct names for messages and the ISA
// report); each is the one traversal above instantiated with its Op. One token per thread row, no
// loop: a grid-stride loop around the scalar path costs the gfx942 / gfx950 builds their 64-VGPR
// budget (scratch spills). Large calls are split by the launcher.
template <Fp8Format F, DType T, bool kVec>
__global__ __launch_bounds__(kThreads) KVSCALE_PAGED_OCCUPANCY void paged_write_kernel(PagedParams<dev::Quantize> p) {
  const std::int64_t t = p.first_token + static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (t < p.num_tokens) paged_token<dev::Quantize, F, T, kVec>(p, t);
}

template <Fp8Format F, DType T, bool kVec>
__global__ __launch_bounds__(kThreads) KVSCALE_PAGED_OCCUPANCY void paged_read_kernel(PagedParams<dev::Dequantize> p) {
  const std::int64_t t = p.first_token + static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (t < p.num_tokens) paged_token<dev::Dequantize, F, T, kVec>(p, t);
}

template <Fp8Format F, DType T, bool kVec>
__global__ __launch_bounds__(kThreads) KVSCALE_PAGED_OCCUPANCY
    void paged_write_split_kernel(PagedParams<dev::Quantize> p) {
  __shared__ SplitStage stage;
  paged_split_tile<dev::Quantize, F, T, kVec>(p, stage);
}

template <Fp8Format F, DType T, bool kVec>
__global__ __launch_bounds__(kThreads) KVSCALE_PAGED_OCCUPANCY
    void paged_read_split_kernel(PagedParams<dev::Dequantize> p) {
  __shared__ SplitStage stage;
  paged_split_tile<dev::Dequantize, F, T, kVec>(p, stage);
}

/// Launches `kernel` over every token in launches of at most g.grid.x blocks (each a capped grid),
/// in stream order. Returns the first launch error.
template <class Kernel, class Params>
rt::error_t launch_chunks(Kernel kernel, const PagedGeometry& g, Params p, rt::stream_t stream) {
  const std::int64_t groups = g.grid.x / g.windows;  // token groups (of block.y) per launch
  const std::int64_t per_launch = groups * g.block.y;
  p.windows = g.windows;
  for (p.first_token = 0; p.first_token < p.num_tokens; p.first_token += per_launch) {
    Dim3 grid = g.grid;
    const std::int64_t left = (p.num_tokens - p.first_token + g.block.y - 1) / g.block.y;
    grid.x = static_cast<std::uint32_t>(std::min<std::int64_t>(groups, left)) * g.windows;
    rt::launch(kernel, rt::dim(grid), rt::dim(g.block), stream, p);
    if (rt::error_t e = rt::peek_last_error(); e != rt::success) return e;
  }
  return rt::success;
}

// The host half of the launch: parameters and the geometry (vector decision included), the same
// for both directions (Args: PagedWriteArgs or PagedReadArgs).
template <class Op, class Args>
PagedParams<Op> params(const Args& a) {
  const TokenRows& r = a.rows;
  const PagedCacheShape& c = a.cache;
  const CacheStrides s = c.key_strides();
  const bool merged = paged_heads_merged(c, a.k_scale_stride != 0 || a.v_scale_stride != 0);
  PagedParams<Op> p{};
  p.key = a.key;
  p.value = a.value;
  p.slot_mapping = a.slot_mapping;
  p.key_cache = a.key_cache;
  p.value_cache = a.value_cache;
  p.k_scale = a.k_scale;
  p.v_scale = a.v_scale;
  p.k_scale_stride = static_cast<std::uint32_t>(a.k_scale_stride);
  p.v_scale_stride = static_cast<std::uint32_t>(a.v_scale_stride);
  p.num_tokens = r.num_tokens;
  p.key_stride = r.key_row_stride;
  p.value_stride = r.value_row_stride;
  p.num_slots = c.num_slots();
  p.block_size = c.block_size;
  p.block_stride = s.block;
  p.slot_stride = s.slot;
  p.head_stride = static_cast<std::uint32_t>(s.head);
  p.vec_stride = s.chunk_len == 16 ? s.chunk : 16;
  p.heads = static_cast<std::uint32_t>(r.num_kv_heads);
  p.head_size = static_cast<std::uint32_t>(r.head_size);
  p.nseg = merged ? 1u : p.heads;
  p.seg_len = merged ? p.heads * p.head_size : p.head_size;
  p.windows = 1;
  p.v_col16 = c.layout == CacheLayout::split && c.block_size % 16 == 0 && s.head % 16 == 0 && s.block % 16 == 0 &&
              aligned16(a.value_cache);
  return p;
}

template <class Args>
PagedGeometry geometry(const Args& a, std::uint32_t max_blocks) {
  return paged_geometry(a.dtype, a.rows, a.cache, a.k_scale_stride != 0 || a.v_scale_stride != 0, a.key, a.value,
                        a.key_cache, a.value_cache, max_blocks);
}

constexpr const char* kWriteNames[2][3] = {
    {"paged_write_kernel<e4m3fn, f32>", "paged_write_kernel<e4m3fn, f16>", "paged_write_kernel<e4m3fn, bf16>"},
    {"paged_write_kernel<e4m3fnuz, f32>", "paged_write_kernel<e4m3fnuz, f16>", "paged_write_kernel<e4m3fnuz, bf16>"}};
constexpr const char* kReadNames[2][3] = {
    {"paged_read_kernel<e4m3fn, f32>", "paged_read_kernel<e4m3fn, f16>", "paged_read_kernel<e4m3fn, bf16>"},
    {"paged_read_kernel<e4m3fnuz, f32>", "paged_read_kernel<e4m3fnuz, f16>", "paged_read_kernel<e4m3fnuz, bf16>"}};
constexpr const char* kWriteSplitNames[2][3] = {
    {"paged_write_split_kernel<e4m3fn, f32>", "paged_write_split_kernel<e4m3fn, f16>",
     "paged_write_split_kernel<e4m3fn, bf16>"},
    {"paged_write_split_kernel<e4m3fnuz, f32>", "paged_write_split_kernel<e4m3fnuz, f16>",
     "paged_write_split_kernel<e4m3fnuz, bf16>"}};
constexpr const char* kReadSplitNames[2][3] = {
    {"paged_read_split_kernel<e4m3fn, f32>", "paged_read_split_kernel<e4m3fn, f16>",
     "paged_read_split_kernel<e4m3fn, bf16>"},
    {"paged_read_split_kernel<e4m3fnuz, f32>", "paged_read_split_kernel<e4m3fnuz, f16>",
     "paged_read_split_kernel<e4m3fnuz, bf16>"}};

}  // namespace

rt::error_t launch_paged_write(const PagedWriteArgs& a, rt::stream_t stream, const char** kernel,
                               std::uint32_t max_blocks) noexcept {
  const bool split = a.cache.layout == CacheLayout::split;
  *kernel = split ? kernel_name(kWriteSplitNames, a.format, a.dtype) : kernel_name(kWriteNames, a.format, a.dtype);
  const PagedParams<dev::Quantize> p = params<dev::Quantize>(a);
  const PagedGeometry g = geometry(a, max_blocks);
  dispatch(a.format, a.dtype, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    if (split) {
      (void)(g.vec ? launch_chunks(paged_write_split_kernel<F, T, true>, g, p, stream)
                   : launch_chunks(paged_write_split_kernel<F, T, false>, g, p, stream));
    } else {
      (void)(g.vec ? launch_chunks(paged_write_kernel<F, T, true>, g, p, stream)
                   : launch_chunks(paged_write_kernel<F, T, false>, g, p, stream));
    }
    return 0;
  });
  return rt::get_last_error();
}

rt::error_t launch_paged_read(const PagedReadArgs& a, rt::stream_t stream, const char** kernel,
                              std::uint32_t max_blocks) noexcept {
  const bool split = a.cache.layout == CacheLayout::split;
  *kernel = split ? kernel_name(kReadSplitNames, a.format, a.dtype) : kernel_name(kReadNames, a.format, a.dtype);
  const PagedParams<dev::Dequantize> p = params<dev::Dequantize>(a);
  const PagedGeometry g = geometry(a, max_blocks);
  dispatch(a.format, a.dtype, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    if (split) {
      (void)(g.vec ? launch_chunks(paged_read_split_kernel<F, T, true>, g, p, stream)
                   : launch_chunks(paged_read_split_kernel<F, T, false>, g, p, stream));
    } else {
      (void)(g.vec ? launch_chunks(paged_read_kernel<F, T, true>, g, p, stream)
                   : launch_chunks(paged_read_kernel<F, T, false>, g, p, stream));
    }
    return 0;
  });
  return rt::get_last_error();
}

}  // namespace kernels
}  // namespace kvscale
