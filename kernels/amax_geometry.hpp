// kernels/amax_geometry.hpp: launch geometry of observe_amax_kernel (kernels/amax.hip), as a pure
// host function like geometry.hpp (the emulator tests run the same launcher).
//
// Blocks of 256 threads own (one KV head, a chunk of tokens): grid.y walks the heads, grid.x the
// token chunks. A chunk holds kAmaxMinUnits to kAmaxMaxUnits units (16-byte vectors on the vector
// path, elements otherwise) of K and as many of V: the most that still gives about
// kAmaxTargetBlocks blocks, so a small call (one head at TP8, 2,048 tokens: 32 blocks at the
// maximum) still spreads over the GPU, and a large one issues ~8 loads per thread before the
// block's shared-memory reduction and its one atomic per output. (On an H200, a target of 1,024
// blocks made 2,048-16,384-token calls 10-16 % slower: too few loads per thread.) Both dimensions are capped
// (kMaxPagedBlocks, 65535) and the kernel strides over the rest, so any shape validate() accepts
// launches.
#pragma once

#include <algorithm>
#include <cstdint>

#include "geometry.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace kernels {

constexpr std::int64_t kAmaxMinUnits = 256;
constexpr std::int64_t kAmaxMaxUnits = 1024;
constexpr std::int64_t kAmaxTargetBlocks = 256;
constexpr std::uint32_t kMaxAmaxHeadBlocks = 65535;

struct AmaxGeometry : Geometry {
  bool vec = false;                  ///< 16-byte loads: every head segment and row 16-byte aligned
  std::uint32_t units_per_head = 0;  ///< vectors (vec) or elements per head segment
  std::int64_t tokens_per_block = 0;
  std::int64_t chunks = 0;  ///< token chunks; grid.x <= chunks
};

inline AmaxGeometry amax_geometry(DType dtype, const TokenRows& r, const void* key, const void* value,
                                  std::uint32_t max_blocks = kMaxPagedBlocks) {
  AmaxGeometry g;
  const std::int64_t es = static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t head_bytes = r.head_size * es;
  g.vec = head_bytes % 16 == 0 && aligned16(key) && aligned16(value) && (r.key_row_stride * es) % 16 == 0 &&
          (r.value_row_stride * es) % 16 == 0;
  g.units_per_head = static_cast<std::uint32_t>(g.vec ? head_bytes / 16 : r.head_size);
  // Units of the call (K's): <= 2^62 for up to 2^32 tokens (rows are < 2^30 elements); more tokens
  // always take the maximum.
  const std::int64_t per_token = r.num_kv_heads * g.units_per_head;
  const std::int64_t units =
      r.num_tokens > (std::int64_t{1} << 32)
          ? kAmaxMaxUnits
          : std::clamp(r.num_tokens * per_token / kAmaxTargetBlocks, kAmaxMinUnits, kAmaxMaxUnits);
  g.tokens_per_block = std::max<std::int64_t>(1, units / g.units_per_head);
  g.chunks = (r.num_tokens + g.tokens_per_block - 1) / g.tokens_per_block;
  g.block.x = kBlockThreads;
  g.grid.x = static_cast<std::uint32_t>(std::min<std::int64_t>(std::max<std::uint32_t>(1, max_blocks), g.chunks));
  g.grid.y = static_cast<std::uint32_t>(std::min<std::int64_t>(kMaxAmaxHeadBlocks, r.num_kv_heads));
  return g;
}

}  // namespace kernels
}  // namespace kvscale
