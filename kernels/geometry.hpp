// kernels/geometry.hpp: the launch geometry of every kernel, as pure host functions.
//
// The launchers (contiguous.hip, paged.hip) launch exactly what these functions return, and the
// host emulator (tests/emulator) runs the same launchers, so the geometry is under test on any
// machine. Plain C++: no HIP or CUDA header, usable from tests built without a GPU backend.
//
// Launch limits. ROCm refuses a launch whose gridDim * blockDim exceeds 2^32 - 1 work-items in
// any dimension (hipErrorInvalidConfiguration; some hipamd versions wrap it in 32 bits), CUDA one
// whose gridDim.x exceeds 2^31 - 1. Every grid is capped, so no shape that validate() accepts can
// exceed either limit:
//   contiguous: at most kMaxContiguousBlocks x 256 = 2^21 work-items, a grid-stride loop over any n;
//   paged:      at most kMaxPagedBlocks x 256 = 2^24 work-items per launch; the launcher splits
//               any num_tokens into launches of grid.x / windows * block.y tokens (a loop in the
//               kernel would cost the scalar path its 64-VGPR budget on gfx942/gfx950).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace kernels {

/// A grid or block shape (the runtime's dim3, without the runtime).
struct Dim3 {
  std::uint32_t x = 1, y = 1, z = 1;
};

struct Geometry {
  Dim3 grid;
  Dim3 block;
};

/// Threads per block of every kernel: 4 waves of 64 (AMD), 8 warps (NVIDIA).
constexpr std::uint32_t kBlockThreads = 256;
/// Grid caps; the kernels stride over the rest. 8192 blocks are ~27 per CU on MI300X.
constexpr std::uint32_t kMaxContiguousBlocks = 8192;
constexpr std::uint32_t kMaxPagedBlocks = 65536;

/// Contiguous quantize/dequantize of n elements: 16 elements per thread and iteration.
inline Geometry contiguous_geometry(std::size_t n) {
  const std::size_t vectors = (n + 15) / 16;
  const std::size_t blocks = std::max<std::size_t>(1, (vectors + kBlockThreads - 1) / kBlockThreads);
  Geometry g;
  g.grid.x = static_cast<std::uint32_t>(std::min<std::size_t>(kMaxContiguousBlocks, blocks));
  g.block.x = kBlockThreads;
  return g;
}

/// Paged write/read: blocks of tx threads per token x ty tokens (tx * ty = 256, tx a power of two
/// in [16, 256] sized to the token's 16-element units of K and V; 16 x 16 for the split layout),
/// and the vector-path decision.
struct PagedGeometry : Geometry {
  /// Every row, cache and segment is 16-byte aligned (every cache stride a multiple of 16): the
  /// kernels flatten K and V into 16-element vectors. Otherwise each segment runs the scalar-head /
  /// vector / scalar-tail routine (split: element by element).
  bool vec = false;
  /// Blocks per group of block.y tokens: the split kernels spread a row's windows of kSplitVecs
  /// vectors over this many blocks (block x % windows), each looping over every windows-th window.
  /// grid.x is a multiple of it. 1 for the other layouts.
  std::uint32_t windows = 1;
};

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

/// The rows the paged kernels support (they index within a row with 32-bit offsets):
/// num_kv_heads * head_size <= 2^30 - 1. Any num_tokens is supported.
inline bool paged_rows_supported(const TokenRows& r) {
  constexpr std::int64_t kMaxRow = std::numeric_limits<std::int32_t>::max() / 2;
  return r.num_kv_heads > 0 && r.head_size > 0 && r.num_kv_heads <= kMaxRow / r.head_size;
}

/// The caches the paged kernels support: the heads of one slot span < 2^31 bytes
/// ((num_kv_heads - 1) * head stride + head_size), so that the kernels step between heads with
/// 32-bit offsets. Any number of blocks and slots is supported.
inline bool paged_cache_supported(const PagedCacheShape& c) {
  const std::int64_t hs = c.key_strides().head, h = c.num_kv_heads;
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  return h > 0 && hs >= 0 && c.head_size > 0 && c.head_size <= kMax &&
         (h - 1) <= (kMax - c.head_size) / std::max<std::int64_t>(1, hs);
}

/// The split layout's kernels: blocks of kSplitVecs threads (16-element vectors of a window of the
/// row) x kSplitTokens tokens, staging V through shared memory (paged.hip). A row's windows are
/// spread over up to kSplitMaxWindows blocks, so that a few tokens of a wide row still fill the GPU.
constexpr std::uint32_t kSplitTokens = 16;
constexpr std::uint32_t kSplitVecs = 16;
constexpr std::uint32_t kSplitMaxWindows = 64;

/// Whether the paged kernels treat a token's heads as one segment: adjacent heads (head stride ==
/// head_size) sharing one scale. The split layout never does.
inline bool paged_heads_merged(const PagedCacheShape& c, bool per_head_scales) {
  return c.layout != CacheLayout::split && !per_head_scales && c.key_strides().head == c.head_size;
}

/// `max_blocks` is kMaxPagedBlocks in the library; tests lower it to exercise the split launches.
/// `per_head_scales`: a scale stride of the call is 1.
inline PagedGeometry paged_geometry(DType dtype, const TokenRows& r, const PagedCacheShape& c, bool per_head_scales,
                                    const void* key, const void* value, const void* key_cache, const void* value_cache,
                                    std::uint32_t max_blocks = kMaxPagedBlocks) {
  PagedGeometry g;
  const std::int64_t es = static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t row = r.num_kv_heads * r.head_size;
  const bool rows16 =
      aligned16(key) && aligned16(value) && (r.key_row_stride * es) % 16 == 0 && (r.value_row_stride * es) % 16 == 0;
  std::uint32_t tx = 16;
  if (c.layout == CacheLayout::split) {
    // Only K is stored with vectors (V goes through shared memory one byte per thread).
    g.vec = rows16 && aligned16(key_cache) && r.head_size % 16 == 0;
    tx = kSplitVecs;
  } else {
    const CacheStrides s = c.key_strides();
    const bool merged = paged_heads_merged(c, per_head_scales);
    const std::int64_t seg_len = merged ? row : r.head_size;
    g.vec = rows16 && seg_len % 16 == 0 && aligned16(key_cache) && aligned16(value_cache) && s.block % 16 == 0 &&
            s.slot % 16 == 0 && (merged || s.head % 16 == 0);
    const std::int64_t work = 2 * ((row + 15) / 16);  // 16-element units of K and V per token
    while (tx < kBlockThreads && static_cast<std::int64_t>(tx) < work) tx *= 2;
  }
  const std::uint32_t ty = kBlockThreads / tx;
  g.block.x = tx;
  g.block.y = ty;
  const std::uint32_t cap = std::max<std::uint32_t>(1, max_blocks);
  if (c.layout == CacheLayout::split) {
    const std::int64_t windows = (row / 16 + kSplitVecs - 1) / kSplitVecs;  // head_size % 16 == 0
    g.windows = static_cast<std::uint32_t>(std::clamp<std::int64_t>(windows, 1, std::min(kSplitMaxWindows, cap)));
  }
  const std::int64_t groups = std::max<std::int64_t>(1, (r.num_tokens + ty - 1) / ty);
  g.grid.x = static_cast<std::uint32_t>(std::min<std::int64_t>(cap / g.windows, groups)) * g.windows;
  return g;
}

/// The dense preset of `layout` with per-tensor scales (the geometry does not depend on
/// num_blocks or block_size there).
inline PagedGeometry paged_geometry(DType dtype, const TokenRows& r, CacheLayout layout, const void* key,
                                    const void* value, const void* key_cache, const void* value_cache,
                                    std::uint32_t max_blocks = kMaxPagedBlocks) {
  const PagedCacheShape c{layout, 1, 1, r.num_kv_heads, r.head_size};
  return paged_geometry(dtype, r, c, false, key, value, key_cache, value_cache, max_blocks);
}

}  // namespace kernels
}  // namespace kvscale
