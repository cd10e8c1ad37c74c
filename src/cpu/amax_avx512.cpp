// AVX-512 (F, BW) chunk loop of observe_amax (amax.hpp), chosen at run time: the and-max method
// of amax.hpp on whole 64-byte vectors per head (the token loop is amax_block.hpp's), then
// amax_settle() per head and block of tokens.
#include <cstdint>

#include "cpu/amax.hpp"

// The instruction set is enabled for this file's functions only (cpu/simd_target.hpp).
#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx512f,avx512bw,avx2")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

template <bool k16>
__m512i vmax(__m512i a, __m512i b) {
  return k16 ? _mm512_max_epu16(a, b) : _mm512_max_epu32(a, b);
}

// |x| bits of every lane: the sign bit cleared.
template <bool k16>
__m512i vabs(__m512i x) {
  return _mm512_and_si512(x, k16 ? _mm512_set1_epi16(0x7FFF) : _mm512_set1_epi32(0x7FFFFFFF));
}

// The largest lane (unsigned).
template <bool k16>
std::uint32_t hmax(__m512i a) {
  if constexpr (!k16) return _mm512_reduce_max_epu32(a);
  const __m256i h = _mm256_max_epu16(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
  __m128i x = _mm_max_epu16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  x = _mm_minpos_epu16(_mm_xor_si128(x, _mm_set1_epi16(-1)));  // the max is the min of ~x
  return static_cast<std::uint32_t>(~_mm_cvtsi128_si32(x) & 0xFFFF);
}

template <bool k16>
__m512i load_lanes(const unsigned char* p, std::uint64_t lanes) {
  if constexpr (k16) return _mm512_maskz_loadu_epi16(static_cast<__mmask32>(lanes), p);
  return _mm512_maskz_loadu_epi32(static_cast<__mmask16>(lanes), p);
}

// Folds max |x| bits of the nv vectors of one head segment at p into *acc. A segment that does
// not start on 64 bytes is read as the nv + 1 aligned vectors that cover it, the first and last
// with zero-masked loads (lanes outside the segment read as +0, which changes no max): an
// unaligned 64-byte load reads two cache lines. kNv: nv where it is a common count (the loop then
// unrolls completely), else 0.
template <bool k16, std::size_t kNv>
void fold_head(const unsigned char* p, std::size_t nv_any, std::size_t mis, __m512i* acc) {
  const std::size_t nv = kNv != 0 ? kNv : nv_any;
  __m512i m = *acc;
  if (mis == 0) {
    for (std::size_t i = 0; i < nv; ++i) m = vmax<k16>(m, vabs<k16>(_mm512_load_si512(p + i * 64)));
  } else {
    const unsigned char* a = p - mis;
    const std::uint64_t first = ~std::uint64_t{0} << (mis / (k16 ? 2 : 4));  // the lanes from p on
    m = vmax<k16>(m, vabs<k16>(load_lanes<k16>(a, first)));
    for (std::size_t i = 1; i < nv; ++i) m = vmax<k16>(m, vabs<k16>(_mm512_load_si512(a + i * 64)));
    m = vmax<k16>(m, vabs<k16>(load_lanes<k16>(a + nv * 64, ~first)));
  }
  *acc = m;
}

struct Avx512 {  // for amax_block.hpp, with fold_head and hmax above
  using Reg = __m512i;
  static constexpr std::size_t kBytes = 64;
  static Reg zero() { return _mm512_setzero_si512(); }
};

#include "cpu/amax_block.hpp"

}  // namespace

void amax_chunk_avx512(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  amax_chunk_simd<Avx512>(r, b, e, km, vm);
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()

#elif defined(KVSCALE_X86_SIMD)
namespace kvscale {
namespace cpu {
namespace detail {
void amax_chunk_avx512(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  amax_chunk_avx2(r, b, e, km, vm);
}
}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
#endif
