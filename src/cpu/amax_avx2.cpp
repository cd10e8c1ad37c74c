// AVX2 loops of observe_amax (amax.hpp), chosen at run time.
//
// span_max_avx2 (the exact path, any length): reduces a key instead of |x|, key = (x << 1) + kOff,
// wrapping. The shift drops the sign (2|x|); kOff moves infinity to the top of the unsigned range,
// so every NaN (> 2 kInf) wraps around below kOff, the key of zero: an unsigned max then ignores
// NaNs and orders the rest like |x|. A zero accumulator (< kOff) means "no number seen" (0).
//
// amax_chunk_avx2 (whole 32-byte vectors per head): the and-max method of amax.hpp, then
// amax_settle() per head and block of tokens, which recomputes NaN blocks with the keys
// (amax_head_exact_avx2).
#include <cstdint>

#include "cpu/amax.hpp"

// The instruction set is enabled for this file's functions only (cpu/simd_target.hpp).
#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx2")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

template <bool k16, std::uint32_t kInf>
constexpr std::uint32_t kOff = (k16 ? 0xFFFFu : 0xFFFFFFFFu) - (kInf << 1);

template <bool k16, std::uint32_t kInf>
__m256i amax_key(__m256i x) {
  if constexpr (k16) {
    return _mm256_add_epi16(_mm256_slli_epi16(x, 1), _mm256_set1_epi16(static_cast<short>(kOff<k16, kInf>)));
  } else {
    return _mm256_add_epi32(_mm256_slli_epi32(x, 1), _mm256_set1_epi32(static_cast<int>(kOff<k16, kInf>)));
  }
}

template <bool k16>
__m256i umax(__m256i a, __m256i b) {
  return k16 ? _mm256_max_epu16(a, b) : _mm256_max_epu32(a, b);
}

// The largest unsigned lane of a vector.
template <bool k16>
std::uint32_t hmax(__m256i m) {
  __m128i h = _mm256_castsi256_si128(m), l = _mm256_extracti128_si256(m, 1);
  if constexpr (k16) {
    h = _mm_max_epu16(h, l);
    h = _mm_max_epu16(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 4));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 2));
    return static_cast<std::uint32_t>(_mm_cvtsi128_si32(h) & 0xFFFF);
  } else {
    h = _mm_max_epu32(h, l);
    h = _mm_max_epu32(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu32(h, _mm_srli_si128(h, 4));
    return static_cast<std::uint32_t>(_mm_cvtsi128_si32(h));
  }
}

// The largest key of a vector, decoded to |x| bits (0 if no number).
template <bool k16, std::uint32_t kInf>
std::uint32_t key_max(__m256i m) {
  const std::uint32_t k = hmax<k16>(m);
  return k < kOff<k16, kInf> ? 0u : (k - kOff<k16, kInf>) >> 1;
}

// Two vector accumulators over whole vectors, the scalar loop for the tail.
template <bool k16, std::uint32_t kInf>
std::uint32_t span_keys(DType t, const unsigned char* p, std::size_t n) {
  constexpr std::size_t per = k16 ? 16 : 8, es = k16 ? 2 : 4;
  __m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 2 * per <= n; i += 2 * per) {
    m0 = umax<k16>(m0, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * es))));
    m1 = umax<k16>(m1, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + (i + per) * es))));
  }
  for (; i + per <= n; i += per)
    m0 = umax<k16>(m0, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * es))));
  const std::uint32_t m = key_max<k16, kInf>(umax<k16>(m0, m1)), rest = span_max_scalar(t, p + i * es, n - i);
  return m > rest ? m : rest;
}

// The keys of head h's segments (whole vectors) over tokens [b, e), padding skipped: the exact
// recomputation of a block where a NaN won the and-max (amax_settle).
template <bool k16, std::uint32_t kInf>
std::uint32_t head_keys(const AmaxRows& r, bool value, std::size_t h, std::size_t b, std::size_t e) {
  const unsigned char* base = (value ? r.value : r.key) + h * r.seg_bytes;
  const std::size_t stride = value ? r.value_stride : r.key_stride, nv = r.seg_bytes / 32;
  __m256i m = _mm256_setzero_si256();
  for (std::size_t t = b; t < e; ++t) {
    if (r.slots != nullptr && r.slots[t] < 0) continue;
    const unsigned char* p = base + t * stride;
    for (std::size_t i = 0; i < nv; ++i)
      m = umax<k16>(m, amax_key<k16, kInf>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * 32))));
  }
  return key_max<k16, kInf>(m);
}

// |x| bits of every lane: the sign bit cleared.
template <bool k16>
__m256i vabs(__m256i x) {
  return _mm256_and_si256(x, k16 ? _mm256_set1_epi16(0x7FFF) : _mm256_set1_epi32(0x7FFFFFFF));
}

// Folds max |x| bits of the nv vectors of one head segment at p into *acc. A segment that starts
// 4-byte but not 32-byte aligned is read as the nv + 1 aligned vectors that cover it, the first
// and last with masked loads (lanes outside the segment read as +0, which changes no max): an
// unaligned load across a cache line costs two. kNv: nv where it is a common count, else 0.
template <bool k16, std::size_t kNv>
void fold_head(const unsigned char* p, std::size_t nv_any, std::size_t mis, __m256i* acc) {
  const std::size_t nv = kNv != 0 ? kNv : nv_any;
  __m256i m = *acc;
  if (mis == 0 || mis % 4 != 0) {
    for (std::size_t i = 0; i < nv; ++i)
      m = umax<k16>(m, vabs<k16>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * 32))));
  } else {
    const unsigned char* a = p - mis;
    const __m256i first = _mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32(static_cast<int>(mis / 4) - 1));  // lanes from p on
    m = umax<k16>(m, vabs<k16>(_mm256_maskload_epi32(reinterpret_cast<const int*>(a), first)));
    for (std::size_t i = 1; i < nv; ++i)
      m = umax<k16>(m, vabs<k16>(_mm256_load_si256(reinterpret_cast<const __m256i*>(a + i * 32))));
    const __m256i last = _mm256_xor_si256(first, _mm256_set1_epi32(-1));
    m = umax<k16>(m, vabs<k16>(_mm256_maskload_epi32(reinterpret_cast<const int*>(a + nv * 32), last)));
  }
  *acc = m;
}

struct Avx2 {  // for amax_block.hpp, with fold_head and hmax above
  using Reg = __m256i;
  static constexpr std::size_t kBytes = 32;
  static Reg zero() { return _mm256_setzero_si256(); }
};

#include "cpu/amax_block.hpp"

}  // namespace

std::uint32_t span_max_avx2(DType t, const unsigned char* p, std::size_t n) {
  if (t == DType::f32) return span_keys<false, 0x7F800000u>(t, p, n);
  if (t == DType::f16) return span_keys<true, 0x7C00u>(t, p, n);
  return span_keys<true, 0x7F80u>(t, p, n);
}

std::uint32_t amax_head_exact_avx2(const AmaxRows& r, bool value, std::size_t h, std::size_t b, std::size_t e) {
  if (r.dtype == DType::f32) return head_keys<false, 0x7F800000u>(r, value, h, b, e);
  if (r.dtype == DType::f16) return head_keys<true, 0x7C00u>(r, value, h, b, e);
  return head_keys<true, 0x7F80u>(r, value, h, b, e);
}

void amax_chunk_avx2(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  amax_chunk_simd<Avx2>(r, b, e, km, vm);
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()

#elif defined(KVSCALE_X86_SIMD)
namespace kvscale {
namespace cpu {
namespace detail {
std::uint32_t span_max_avx2(DType t, const unsigned char* p, std::size_t n) { return span_max_scalar(t, p, n); }
std::uint32_t amax_head_exact_avx2(const AmaxRows& r, bool value, std::size_t h, std::size_t b, std::size_t e) {
  std::uint32_t m = 0;
  for (std::size_t t = b; t < e; ++t) {
    if (r.slots != nullptr && r.slots[t] < 0) continue;
    const std::uint32_t x = span_max_scalar(
        r.dtype, (value ? r.value + t * r.value_stride : r.key + t * r.key_stride) + h * r.seg_bytes, r.head_size);
    m = x > m ? x : m;
  }
  return m;
}
void amax_chunk_avx2(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  amax_chunk_rows(span_max_scalar, r, b, e, km, vm);
}
}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
#endif
