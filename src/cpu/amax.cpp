// cpu::observe_amax: the calibration reduction (max |x| per tensor and per KV head, cpu.hpp).
//
// The max is taken on bits in each dtype's own domain: |x| is the value with the sign bit cleared,
// and non-negative IEEE values order like their bit patterns, so a max over the integers is the
// max over the values, exactly. NaNs (bits above the infinity pattern) become 0 before the max,
// so they are ignored; inf stays. Widening the winner to float32 afterwards is exact and
// monotone, so the result equals the max over the widened values, which is what the GPU kernel
// (kernels/amax.hip) produces too.
//
// The row loops: plain integer code (the scalar ISA and non-x86), and AVX2 intrinsics compiled
// with a function target attribute (no per-file -mavx2, see src/CMakeLists.txt), chosen at run
// time (set_max_isa(scalar) keeps the plain loops). Both give the same bits.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#if defined(KVSCALE_X86_SIMD)
#include <immintrin.h>
#endif

#include "core/error.hpp"
#include "cpu/kernels.hpp"
#include "cpu/thread_pool.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace cpu {
namespace {

// max |x| of n elements, as bits of the element type (NaN -> 0). kAbs clears the sign, kInf is
// the infinity pattern.
template <typename U, U kAbs, U kInf>
__attribute__((always_inline)) inline U span_max(const U* __restrict__ p, std::size_t n) {
  U m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    U a = static_cast<U>(p[i] & kAbs);
    a = a > kInf ? U{0} : a;
    m = a > m ? a : m;
  }
  return m;
}

using SpanMax32 = std::uint32_t (*)(const std::uint32_t*, std::size_t);
using SpanMax16 = std::uint16_t (*)(const std::uint16_t*, std::size_t);

std::uint32_t max_f32(const std::uint32_t* p, std::size_t n) {
  return span_max<std::uint32_t, 0x7FFFFFFFu, 0x7F800000u>(p, n);
}
std::uint16_t max_f16(const std::uint16_t* p, std::size_t n) { return span_max<std::uint16_t, 0x7FFF, 0x7C00>(p, n); }
std::uint16_t max_bf16(const std::uint16_t* p, std::size_t n) { return span_max<std::uint16_t, 0x7FFF, 0x7F80>(p, n); }

#if defined(KVSCALE_X86_SIMD)
// A chunk of tokens with one vector accumulator per head and side: no horizontal reduction per
// head segment (that cost dominated short heads). Needs head_size * es % 32 == 0 and H <= kMaxAccHeads.
constexpr std::size_t kMaxAccHeads = 64;

// The vector loops reduce a key instead of |x|: key = (x << 1) + kOff, wrapping. The shift drops
// the sign (2|x|); kOff moves infinity to the top of the unsigned range, so every NaN (> 2 kInf)
// wraps around below kOff, the key of zero: an unsigned max then ignores NaNs and orders the rest
// like |x|. Three operations per vector (shift, add, max) instead of four (and, compare, andnot,
// max). A zero accumulator (< kOff) means "no number seen", which decodes to 0.
template <bool k16, std::uint32_t kInf>
constexpr std::uint32_t kOff = (k16 ? 0xFFFFu : 0xFFFFFFFFu) - (kInf << 1);

template <bool k16, std::uint32_t kInf>
__attribute__((target("avx2"))) __m256i amax_key(__m256i x) {
  if constexpr (k16) {
    return _mm256_add_epi16(_mm256_slli_epi16(x, 1), _mm256_set1_epi16(static_cast<short>(kOff<k16, kInf>)));
  } else {
    return _mm256_add_epi32(_mm256_slli_epi32(x, 1), _mm256_set1_epi32(static_cast<int>(kOff<k16, kInf>)));
  }
}

template <bool k16>
__attribute__((target("avx2"))) __m256i vmax(__m256i a, __m256i b) {
  return k16 ? _mm256_max_epu16(a, b) : _mm256_max_epu32(a, b);
}

// The largest key of a vector, decoded to the |x| bits of the element type (0 if no number).
template <bool k16, std::uint32_t kInf>
__attribute__((target("avx2"))) std::uint32_t hmax(__m256i m) {
  __m128i h = _mm256_castsi256_si128(m), l = _mm256_extracti128_si256(m, 1);
  std::uint32_t k;
  if constexpr (k16) {
    h = _mm_max_epu16(h, l);
    h = _mm_max_epu16(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 4));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 2));
    k = static_cast<std::uint32_t>(_mm_cvtsi128_si32(h) & 0xFFFF);
  } else {
    h = _mm_max_epu32(h, l);
    h = _mm_max_epu32(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu32(h, _mm_srli_si128(h, 4));
    k = static_cast<std::uint32_t>(_mm_cvtsi128_si32(h));
  }
  return k < kOff<k16, kInf> ? 0u : (k - kOff<k16, kInf>) >> 1;
}

// max |x| of n elements (k16: 16-bit types, else f32), as bits of the element type: two vector
// accumulators over whole vectors, the scalar loop for the tail.
template <bool k16, std::uint32_t kInf>
__attribute__((target("avx2"))) std::uint32_t span_max_avx2(const unsigned char* p, std::size_t n) {
  constexpr std::size_t per = k16 ? 16 : 8, es = k16 ? 2 : 4;
  __m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 2 * per <= n; i += 2 * per) {
    m0 = vmax<k16>(m0, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * es))));
    m1 = vmax<k16>(m1, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + (i + per) * es))));
  }
  for (; i + per <= n; i += per)
    m0 = vmax<k16>(m0, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * es))));
  const std::uint32_t m = hmax<k16, kInf>(vmax<k16>(m0, m1));
  std::uint32_t rest;
  if constexpr (k16) {
    rest = span_max<std::uint16_t, 0x7FFF, static_cast<std::uint16_t>(kInf)>(
        reinterpret_cast<const std::uint16_t*>(p) + i, n - i);
  } else {
    rest = span_max<std::uint32_t, 0x7FFFFFFFu, kInf>(reinterpret_cast<const std::uint32_t*>(p) + i, n - i);
  }
  return std::max(m, rest);
}

std::uint32_t max_f32_avx2(const std::uint32_t* p, std::size_t n) {
  return span_max_avx2<false, 0x7F800000u>(reinterpret_cast<const unsigned char*>(p), n);
}
std::uint16_t max_f16_avx2(const std::uint16_t* p, std::size_t n) {
  return static_cast<std::uint16_t>(span_max_avx2<true, 0x7C00u>(reinterpret_cast<const unsigned char*>(p), n));
}
std::uint16_t max_bf16_avx2(const std::uint16_t* p, std::size_t n) {
  return static_cast<std::uint16_t>(span_max_avx2<true, 0x7F80u>(reinterpret_cast<const unsigned char*>(p), n));
}

template <bool k16, std::uint32_t kInf>
__attribute__((target("avx2"))) void chunk_avx2(const unsigned char* key, const unsigned char* value,
                                                std::size_t key_stride, std::size_t value_stride,
                                                const std::int64_t* slots, std::size_t b, std::size_t e, std::size_t H,
                                                std::size_t seg_bytes, std::uint32_t* km, std::uint32_t* vm) {
  __m256i acc[2 * kMaxAccHeads];
  for (std::size_t h = 0; h < 2 * H; ++h) acc[h] = _mm256_setzero_si256();
  const std::size_t nv = seg_bytes / 32;
  for (std::size_t t = b; t < e; ++t) {
    if (slots != nullptr && slots[t] < 0) continue;
    const auto* kr = reinterpret_cast<const __m256i*>(key + t * key_stride);
    const auto* vr = reinterpret_cast<const __m256i*>(value + t * value_stride);
    for (std::size_t h = 0; h < H; ++h) {
      __m256i ka = acc[h], va = acc[H + h];
      for (std::size_t i = 0; i < nv; ++i) {
        ka = vmax<k16>(ka, amax_key<k16, kInf>(_mm256_loadu_si256(kr + h * nv + i)));
        va = vmax<k16>(va, amax_key<k16, kInf>(_mm256_loadu_si256(vr + h * nv + i)));
      }
      acc[h] = ka;
      acc[H + h] = va;
    }
  }
  for (std::size_t h = 0; h < H; ++h) {
    km[h] = std::max(km[h], hmax<k16, kInf>(acc[h]));
    vm[h] = std::max(vm[h], hmax<k16, kInf>(acc[H + h]));
  }
}

bool have_avx2() noexcept {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return yes;
}
#endif

struct Kernels {
  SpanMax32 f32 = max_f32;
  SpanMax16 f16 = max_f16;
  SpanMax16 bf16 = max_bf16;
  bool avx2 = false;
};

Kernels kernels() noexcept {
  Kernels k;
#if defined(KVSCALE_X86_SIMD)
  // Honour set_max_isa(): anything below avx2 keeps the baseline loops.
  if (have_avx2() && detail::current_isa() != Isa::scalar) {
    k.f32 = max_f32_avx2;
    k.f16 = max_f16_avx2;
    k.bf16 = max_bf16_avx2;
    k.avx2 = true;
  }
#endif
  return k;
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
  Kernels k;
  DType t;
  const ObserveAmaxArgs* a;
  std::size_t tokens;
  std::size_t chunks;
  std::uint32_t* partial;  // [chunks][2 * heads]: K heads then V heads, in the dtype's bits
};

std::uint32_t row_max(const Kernels& k, DType t, const unsigned char* p, std::size_t n) {
  if (t == DType::f32) return k.f32(reinterpret_cast<const std::uint32_t*>(p), n);
  if (t == DType::f16) return k.f16(reinterpret_cast<const std::uint16_t*>(p), n);
  return k.bf16(reinterpret_cast<const std::uint16_t*>(p), n);
}

void amax_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const AmaxJob*>(ctx);
  const TokenRows& r = j.a->rows;
  const std::size_t H = static_cast<std::size_t>(r.num_kv_heads), D = static_cast<std::size_t>(r.head_size);
  const std::size_t es = dtype_size(j.t);
  std::uint32_t* km = j.partial + i * 2 * H;
  std::uint32_t* vm = km + H;
  const auto* key = static_cast<const unsigned char*>(j.a->key);
  const auto* value = static_cast<const unsigned char*>(j.a->value);
  const std::size_t b = j.tokens * i / j.chunks, e = j.tokens * (i + 1) / j.chunks;
#if defined(KVSCALE_X86_SIMD)
  if (j.k.avx2 && (D * es) % 32 == 0 && H <= kMaxAccHeads) {
    const std::size_t ks = static_cast<std::size_t>(r.key_row_stride) * es,
                      vs = static_cast<std::size_t>(r.value_row_stride) * es;
    if (j.t == DType::f32)
      chunk_avx2<false, 0x7F800000u>(key, value, ks, vs, j.a->slot_mapping, b, e, H, D * es, km, vm);
    else if (j.t == DType::f16)
      chunk_avx2<true, 0x7C00u>(key, value, ks, vs, j.a->slot_mapping, b, e, H, D * es, km, vm);
    else
      chunk_avx2<true, 0x7F80u>(key, value, ks, vs, j.a->slot_mapping, b, e, H, D * es, km, vm);
    return;
  }
#endif
  for (std::size_t t = b; t < e; ++t) {
    if (j.a->slot_mapping != nullptr && j.a->slot_mapping[t] < 0) continue;
    const unsigned char* kr = key + t * static_cast<std::size_t>(r.key_row_stride) * es;
    const unsigned char* vr = value + t * static_cast<std::size_t>(r.value_row_stride) * es;
    for (std::size_t h = 0; h < H; ++h) {
      km[h] = std::max(km[h], row_max(j.k, j.t, kr + h * D * es, D));
      vm[h] = std::max(vm[h], row_max(j.k, j.t, vr + h * D * es, D));
    }
  }
}

// Elements (K and V) below which a call stays on the calling thread; chunks of at least this.
constexpr std::size_t kParallelMin = std::size_t{1} << 18;
constexpr std::size_t kMinChunk = std::size_t{1} << 15;

}  // namespace

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
  AmaxJob j{kernels(), a.dtype, &a, tokens, chunks, partial.data()};
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
