// cpu::observe_amax: the calibration reduction (max |x| per tensor and per KV head, cpu.hpp).
//
// The max is taken on bits in each dtype's own domain: |x| is the value with the sign bit cleared,
// and non-negative IEEE values order like their bit patterns, so a max over the integers is the
// max over the values, exactly. NaNs (bits above the infinity pattern) become 0 before the max,
// so they are ignored; inf stays. Widening the winner to float32 afterwards is exact and
// monotone, so the result equals the max over the widened values, which is what the GPU kernel
// (kernels/amax.hip) produces too.
//
// The loops per ISA (amax.hpp): plain integer code (the scalar ISA and non-x86); AVX2 and
// AVX-512 vector loops over whole head segments (amax_avx2.cpp, amax_avx512.cpp), chosen at run
// time from detail::current_isa() (set_max_isa() and KVSCALE_CPU_ISA keep the lower paths), with
// the per-row loop for head segments that are not whole vectors. All give the same bits.
#include "cpu/amax.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "cpu/kernels.hpp"
#include "cpu/thread_pool.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace cpu {
using detail::AmaxChunkFn;
using detail::AmaxRows;
using detail::kMinChunk;  // the backend's threading sizes (kernels.hpp), K and V elements together
using detail::kParallelMin;
using detail::span_max_scalar;
using detail::SpanMaxFn;
namespace {

// max |x| of n elements, as bits of the element type (NaN -> 0). kAbs clears the sign, kInf is
// the infinity pattern.
template <typename U, U kAbs, U kInf>
U span_max(const unsigned char* p, std::size_t n) {
  U m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    U a;
    std::memcpy(&a, p + i * sizeof(U), sizeof(U));
    a = static_cast<U>(a & kAbs);
    a = a > kInf ? U{0} : a;
    m = a > m ? a : m;
  }
  return m;
}

// The chunk loop of the current ISA for rows r; without one, the row loop with `span`.
struct Loops {
  AmaxChunkFn chunk = nullptr;
  SpanMaxFn span = span_max_scalar;
};

Loops loops(const AmaxRows& r) noexcept {
  Loops l;
#if defined(KVSCALE_X86_SIMD)
  const Isa isa = detail::current_isa();
  if (isa == Isa::scalar) return l;
  l.span = detail::span_max_avx2;
  if (r.heads > detail::kAmaxMaxHeads) return l;
  if (isa == Isa::avx512 && r.seg_bytes % 64 == 0)
    l.chunk = detail::amax_chunk_avx512;
  else if (r.seg_bytes % 32 == 0)
    l.chunk = detail::amax_chunk_avx2;
#else
  (void)r;
#endif
  return l;
}

// The dtype's |x| bits (the max of a span) as float32 bits. Exact and monotone.
std::uint32_t to_f32_bits(DType t, std::uint32_t m) {
  if (t == DType::f32) return m;
  if (t == DType::bf16) return m << 16;
  const float f = half::f16_to_f32(static_cast<std::uint16_t>(m));
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

struct AmaxJob {
  Loops l;
  AmaxRows r;
  std::size_t tokens;
  std::size_t chunks;
  std::uint32_t* partial;  // [chunks][2 * heads]: K heads then V heads, in the dtype's bits
};

void amax_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const AmaxJob*>(ctx);
  std::uint32_t* km = j.partial + i * 2 * j.r.heads;
  const std::size_t b = j.tokens * i / j.chunks, e = j.tokens * (i + 1) / j.chunks;
  if (j.l.chunk != nullptr)
    j.l.chunk(j.r, b, e, km, km + j.r.heads);
  else
    detail::amax_chunk_rows(j.l.span, j.r, b, e, km, km + j.r.heads);
}

// The call's rows in bytes (validate() has checked them).
AmaxRows rows_of(const ObserveAmaxArgs& a) {
  const std::size_t es = dtype_size(a.dtype), D = static_cast<std::size_t>(a.rows.head_size);
  return AmaxRows{a.dtype,
                  static_cast<const unsigned char*>(a.key),
                  static_cast<const unsigned char*>(a.value),
                  static_cast<std::size_t>(a.rows.key_row_stride) * es,
                  static_cast<std::size_t>(a.rows.value_row_stride) * es,
                  a.slot_mapping,
                  static_cast<std::size_t>(a.rows.num_kv_heads),
                  D,
                  D * es};
}

}  // namespace

namespace detail {

std::uint32_t span_max_scalar(DType t, const unsigned char* p, std::size_t n) {
  if (t == DType::f32) return span_max<std::uint32_t, 0x7FFFFFFFu, 0x7F800000u>(p, n);
  if (t == DType::f16) return span_max<std::uint16_t, 0x7FFF, 0x7C00>(p, n);
  return span_max<std::uint16_t, 0x7FFF, 0x7F80>(p, n);
}

void amax_chunk_rows(SpanMaxFn f, const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km,
                     std::uint32_t* vm) {
  for (std::size_t t = b; t < e; ++t) {
    if (r.slots != nullptr && r.slots[t] < 0) continue;
    const unsigned char* kr = r.key + t * r.key_stride;
    const unsigned char* vr = r.value + t * r.value_stride;
    for (std::size_t h = 0; h < r.heads; ++h) {
      km[h] = std::max(km[h], f(r.dtype, kr + h * r.seg_bytes, r.head_size));
      vm[h] = std::max(vm[h], f(r.dtype, vr + h * r.seg_bytes, r.head_size));
    }
  }
}

#if defined(KVSCALE_X86_SIMD)
void amax_settle(const AmaxRows& r, bool value, std::size_t h, std::size_t b, std::size_t e, std::uint32_t m,
                 std::uint32_t* out) {
  if (m > amax_inf_bits(r.dtype)) m = amax_head_exact_avx2(r, value, h, b, e);  // a NaN won: exact path
  *out = std::max(*out, m);
}
#endif

}  // namespace detail

Status observe_amax(const ObserveAmaxArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  const std::size_t H = static_cast<std::size_t>(a.rows.num_kv_heads);
  const std::size_t tokens = static_cast<std::size_t>(a.rows.num_tokens);
  const std::size_t total = tokens * H * static_cast<std::size_t>(a.rows.head_size) * 2;
  const int threads = detail::pool_threads();
  std::size_t chunks = 1;
  if (threads > 1 && total >= kParallelMin && tokens >= 2)
    chunks = std::min(tokens, std::min(total / kMinChunk, static_cast<std::size_t>(threads) * 4));
  std::vector<std::uint32_t> partial;
  try {
    partial.assign(chunks * 2 * H, 0u);
  } catch (const std::bad_alloc&) {
    return kvscale::detail::fail(Status::out_of_memory, "observe_amax: no memory for the per-thread maxima");
  }
  const AmaxRows r = rows_of(a);
  AmaxJob j{loops(r), r, tokens, chunks, partial.data()};
  detail::parallel_for(chunks, amax_chunk, &j);
  // Merge the chunks, widen once, and fold into the caller's buffer on the float bits (the GPU
  // kernel's atomicMax on the same bits gives the same result for any buffer content).
  std::uint32_t* out = reinterpret_cast<std::uint32_t*>(a.amax);
  std::uint32_t kt = 0, vt = 0;
  for (std::size_t h = 0; h < H; ++h) {
    std::uint32_t k = 0, v = 0;
    for (std::size_t c = 0; c < chunks; ++c) {
      k = std::max(k, partial[c * 2 * H + h]);
      v = std::max(v, partial[c * 2 * H + H + h]);
    }
    k = to_f32_bits(a.dtype, k);
    v = to_f32_bits(a.dtype, v);
    kt = std::max(kt, k);
    vt = std::max(vt, v);
    std::uint32_t old = 0;
    std::memcpy(&old, &out[2 + h], 4);
    old = std::max(old, k);
    std::memcpy(&out[2 + h], &old, 4);
    std::memcpy(&old, &out[2 + H + h], 4);
    old = std::max(old, v);
    std::memcpy(&out[2 + H + h], &old, 4);
  }
  for (std::size_t i = 0; i < 2; ++i) {
    std::uint32_t old = 0;
    std::memcpy(&old, &out[i], 4);
    old = std::max(old, i == 0 ? kt : vt);
    std::memcpy(&out[i], &old, 4);
  }
  return Status::success;
}

}  // namespace cpu
}  // namespace kvscale
