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
// A token's K or V row is one or more contiguous segments: one of num_kv_heads * head_size
// elements (NHD), or num_kv_heads segments of head_size (HND), `seg_stride` cache bytes apart.
// When every row, cache and segment is 16-byte aligned (kVec, decided on the host), the K and V
// segments are flattened into one index space of 16-element vectors. Otherwise each segment runs
// the scalar-head / vector / scalar-tail routine of device_codec.hpp.
// clang-format off
#include "gpu_runtime.hpp"  // first: hip_runtime.h defines __host__ / __device__
// clang-format on

#include <algorithm>
#include <cstddef>
#include <cstdint>

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

struct PagedParams {
  void* key;  // rows (const for writes)
  void* value;
  const std::int64_t* slots;
  std::uint8_t* key_cache;  // (const for reads)
  std::uint8_t* value_cache;
  const float* k_scale;
  const float* v_scale;
  std::int64_t first_token;  // of this launch: the launcher splits calls over kMaxPagedBlocks
  std::int64_t num_tokens;
  std::int64_t key_stride;  // elements
  std::int64_t value_stride;
  std::int64_t num_slots;
  std::int64_t block_size;
  std::uint32_t heads;
  std::uint32_t head_size;
  bool nhd;
};

// Where a token's segments live. Computed once per thread from the token's slot.
struct TokenPlace {
  std::int64_t base;        // cache byte offset of segment 0
  std::int64_t seg_stride;  // cache bytes between segments (HND)
  std::uint32_t nseg;
  std::uint32_t seg_len;
};

__device__ __forceinline__ bool place_token(const PagedParams& p, std::int64_t t, TokenPlace* out) {
  const std::int64_t slot = p.slots[t];
  if (slot < 0 || slot >= p.num_slots) return false;
  if (p.nhd) {
    out->base = slot * static_cast<std::int64_t>(p.heads) * p.head_size;
    out->seg_stride = 0;
    out->nseg = 1;
    out->seg_len = p.heads * p.head_size;
    return true;
  }
  std::int64_t block, off;
  if (p.num_slots <= 0xFFFFFFFFll) {  // 32-bit division is far cheaper than 64-bit on AMD
    const std::uint32_t s32 = static_cast<std::uint32_t>(slot);
    const std::uint32_t bs = static_cast<std::uint32_t>(p.block_size);
    const std::uint32_t b = s32 / bs;
    block = b;
    off = s32 - b * bs;
  } else {
    block = slot / p.block_size;
    off = slot - block * p.block_size;
  }
  out->base = (block * p.heads * p.block_size + off) * p.head_size;
  out->seg_stride = p.block_size * p.head_size;
  out->nseg = p.heads;
  out->seg_len = p.head_size;
  return true;
}

// One token's K and V rows, by the blockDim.x threads of row threadIdx.y.
template <Fp8Format F, DType T, bool kVec>
__device__ __forceinline__ void write_token(const PagedParams& p, std::int64_t t) {
  using W = typename dev::Wide<T>::type;
  TokenPlace pl;
  if (!place_token(p, t, &pl)) return;
  const W* __restrict__ krow = static_cast<const W*>(p.key) + t * p.key_stride;
  const W* __restrict__ vrow = static_cast<const W*>(p.value) + t * p.value_stride;
  std::uint8_t* __restrict__ kc = p.key_cache + pl.base;
  std::uint8_t* __restrict__ vc = p.value_cache + pl.base;
  const float ks = *p.k_scale;
  const float vs = *p.v_scale;
  const std::uint32_t lane = threadIdx.x;
  const std::uint32_t lanes = blockDim.x;
  if constexpr (kVec) {
    const std::uint32_t cps = pl.seg_len / 16;  // vectors per segment
    const std::uint32_t per_kv = pl.nseg * cps;
    for (std::uint32_t j = lane; j < 2 * per_kv; j += lanes) {
      const bool is_v = j >= per_kv;
      const std::uint32_t jj = is_v ? j - per_kv : j;
      const std::uint32_t seg = pl.nseg == 1 ? 0u : jj / cps;
      const std::uint32_t e = (jj - seg * cps) * 16;  // element within the segment
      const W* src = (is_v ? vrow : krow) + seg * pl.seg_len + e;
      std::uint8_t* dst = (is_v ? vc : kc) + seg * pl.seg_stride + e;
      dev::quantize16<F, T>(src, dst, is_v ? vs : ks);
    }
  } else {
    for (std::uint32_t seg = 0; seg < pl.nseg; ++seg) {
      dev::quantize_segment<F, T, std::uint32_t>(krow + seg * pl.seg_len, kc + seg * pl.seg_stride, pl.seg_len, ks,
                                                 lane, lanes);
      dev::quantize_segment<F, T, std::uint32_t>(vrow + seg * pl.seg_len, vc + seg * pl.seg_stride, pl.seg_len, vs,
                                                 lane, lanes);
    }
  }
}

template <Fp8Format F, DType T, bool kVec>
__device__ __forceinline__ void read_token(const PagedParams& p, std::int64_t t) {
  using W = typename dev::Wide<T>::type;
  TokenPlace pl;
  if (!place_token(p, t, &pl)) return;
  W* __restrict__ krow = static_cast<W*>(p.key) + t * p.key_stride;
  W* __restrict__ vrow = static_cast<W*>(p.value) + t * p.value_stride;
  const std::uint8_t* __restrict__ kc = p.key_cache + pl.base;
  const std::uint8_t* __restrict__ vc = p.value_cache + pl.base;
  const float ks = *p.k_scale;
  const float vs = *p.v_scale;
  const std::uint32_t lane = threadIdx.x;
  const std::uint32_t lanes = blockDim.x;
  if constexpr (kVec) {
    const std::uint32_t cps = pl.seg_len / 16;
    const std::uint32_t per_kv = pl.nseg * cps;
    for (std::uint32_t j = lane; j < 2 * per_kv; j += lanes) {
      const bool is_v = j >= per_kv;
      const std::uint32_t jj = is_v ? j - per_kv : j;
      const std::uint32_t seg = pl.nseg == 1 ? 0u : jj / cps;
      const std::uint32_t e = (jj - seg * cps) * 16;
      const std::uint8_t* src = (is_v ? vc : kc) + seg * pl.seg_stride + e;
      W* dst = (is_v ? vrow : krow) + seg * pl.seg_len + e;
      dev::dequantize16<F, T>(src, dst, is_v ? vs : ks);
    }
  } else {
    for (std::uint32_t seg = 0; seg < pl.nseg; ++seg) {
      dev::dequantize_segment<F, T, std::uint32_t>(kc + seg * pl.seg_stride, krow + seg * pl.seg_len, pl.seg_len, ks,
                                                   lane, lanes);
      dev::dequantize_segment<F, T, std::uint32_t>(vc + seg * pl.seg_stride, vrow + seg * pl.seg_len, pl.seg_len, vs,
                                                   lane, lanes);
    }
  }
}

template <Fp8Format F, DType T, bool kVec>
__global__ __launch_bounds__(kThreads) KVSCALE_PAGED_OCCUPANCY void paged_write_kernel(PagedParams p) {
  // One token per thread row, no loop: a grid-stride loop around the scalar path costs the gfx942 /
  // gfx950 builds their 64-VGPR budget (scratch spills). Large calls are split by the launcher.
  const std::int64_t t = p.first_token + static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (t < p.num_tokens) write_token<F, T, kVec>(p, t);
}

template <Fp8Format F, DType T, bool kVec>
__global__ __launch_bounds__(kThreads) KVSCALE_PAGED_OCCUPANCY void paged_read_kernel(PagedParams p) {
  const std::int64_t t = p.first_token + static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (t < p.num_tokens) read_token<F, T, kVec>(p, t);
}

/// Launches `kernel` over every token in launches of at most g.grid.x blocks (each a capped grid),
/// in stream order. Returns the first launch error.
template <class Kernel>
rt::error_t launch_chunks(Kernel kernel, const PagedGeometry& g, PagedParams p, rt::stream_t stream) {
  const std::int64_t per_launch = static_cast<std::int64_t>(g.grid.x) * g.block.y;
  for (p.first_token = 0; p.first_token < p.num_tokens; p.first_token += per_launch) {
    Dim3 grid = g.grid;
    const std::int64_t left = (p.num_tokens - p.first_token + g.block.y - 1) / g.block.y;
    grid.x = static_cast<std::uint32_t>(std::min<std::int64_t>(grid.x, left));
    rt::launch(kernel, rt::dim(grid), rt::dim(g.block), stream, p);
    if (rt::error_t e = rt::peek_last_error(); e != rt::success) return e;
  }
  return rt::success;
}

// The host half of the launch: parameters and the geometry (vector decision included).
struct Plan {
  PagedParams p;
  PagedGeometry g;
};

Plan plan(DType dtype, const TokenRows& r, const PagedCacheShape& c, const void* key, const void* value,
          const std::int64_t* slots, const std::uint8_t* kc, const std::uint8_t* vc, const float* ks, const float* vs,
          std::uint32_t max_blocks) {
  Plan pl{};
  pl.p.key = const_cast<void*>(key);
  pl.p.value = const_cast<void*>(value);
  pl.p.slots = slots;
  pl.p.key_cache = const_cast<std::uint8_t*>(kc);
  pl.p.value_cache = const_cast<std::uint8_t*>(vc);
  pl.p.k_scale = ks;
  pl.p.v_scale = vs;
  pl.p.num_tokens = r.num_tokens;
  pl.p.key_stride = r.key_row_stride;
  pl.p.value_stride = r.value_row_stride;
  pl.p.num_slots = c.num_slots();
  pl.p.block_size = c.block_size;
  pl.p.heads = static_cast<std::uint32_t>(r.num_kv_heads);
  pl.p.head_size = static_cast<std::uint32_t>(r.head_size);
  pl.p.nhd = c.layout == CacheLayout::nhd;
  pl.g = paged_geometry(dtype, r, c.layout, key, value, kc, vc, max_blocks);
  return pl;
}

constexpr const char* kWriteNames[2][3] = {
    {"paged_write_kernel<e4m3fn, f32>", "paged_write_kernel<e4m3fn, f16>", "paged_write_kernel<e4m3fn, bf16>"},
    {"paged_write_kernel<e4m3fnuz, f32>", "paged_write_kernel<e4m3fnuz, f16>", "paged_write_kernel<e4m3fnuz, bf16>"}};
constexpr const char* kReadNames[2][3] = {
    {"paged_read_kernel<e4m3fn, f32>", "paged_read_kernel<e4m3fn, f16>", "paged_read_kernel<e4m3fn, bf16>"},
    {"paged_read_kernel<e4m3fnuz, f32>", "paged_read_kernel<e4m3fnuz, f16>", "paged_read_kernel<e4m3fnuz, bf16>"}};

}  // namespace

rt::error_t launch_paged_write(const PagedWriteArgs& a, rt::stream_t stream, const char** kernel,
                               std::uint32_t max_blocks) noexcept {
  *kernel = kernel_name(kWriteNames, a.format, a.dtype);
  const Plan pl = plan(a.dtype, a.rows, a.cache, a.key, a.value, a.slot_mapping, a.key_cache, a.value_cache, a.k_scale,
                       a.v_scale, max_blocks);
  dispatch(a.format, a.dtype, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    if (pl.g.vec) {
      (void)launch_chunks(paged_write_kernel<F, T, true>, pl.g, pl.p, stream);
    } else {
      (void)launch_chunks(paged_write_kernel<F, T, false>, pl.g, pl.p, stream);
    }
    return 0;
  });
  return rt::get_last_error();
}

rt::error_t launch_paged_read(const PagedReadArgs& a, rt::stream_t stream, const char** kernel,
                              std::uint32_t max_blocks) noexcept {
  *kernel = kernel_name(kReadNames, a.format, a.dtype);
  const Plan pl = plan(a.dtype, a.rows, a.cache, a.key, a.value, a.slots, a.key_cache, a.value_cache, a.k_scale,
                       a.v_scale, max_blocks);
  dispatch(a.format, a.dtype, [&](auto fc, auto tc) {
    constexpr Fp8Format F = decltype(fc)::value;
    constexpr DType T = decltype(tc)::value;
    if (pl.g.vec) {
      (void)launch_chunks(paged_read_kernel<F, T, true>, pl.g, pl.p, stream);
    } else {
      (void)launch_chunks(paged_read_kernel<F, T, false>, pl.g, pl.p, stream);
    }
    return 0;
  });
  return rt::get_last_error();
}

}  // namespace kernels
}  // namespace kvscale
