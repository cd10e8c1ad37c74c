// AVX-512 VBMI dequantize to f16/bf16: a table look-up of all 256 results (DequantLut, built with
// the scalar codec's values), done with byte permutes. vpermi2b picks one byte of 128 per lane
// (code bits 0-6), so each byte plane of out16 (lo8, hi8) is two look-ups, selected by code bit 7;
// the planes' bytes then interleave into 16-bit results. 64 codes take 4 look-ups, 2 blends and 2
// unpacks, where the 16-bit permutes of kernels_avx512.cpp take 8 look-ups and 6 blends for 64.
// The results are out16's bytes by construction; tests/cpu compare them with the reference.
#include <cstdint>

#include "cpu/kernels.hpp"

#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx2")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

// unpacklo/hi_epi8 interleave within 128-bit lanes: lane L of the low result takes bytes 0-7 of
// lane L, the high result bytes 8-15. Codes are permuted first so that the low result holds
// elements 0-31 in order and the high one 32-63: byte 16 L + j <- element 8 L + j (j < 8), and
// byte 16 L + 8 + j <- element 32 + 8 L + j.
struct Order {
  alignas(64) std::uint8_t idx[64];
  constexpr Order() : idx{} {
    for (int l = 0; l < 4; ++l)
      for (int j = 0; j < 8; ++j) {
        idx[16 * l + j] = static_cast<std::uint8_t>(8 * l + j);
        idx[16 * l + 8 + j] = static_cast<std::uint8_t>(32 + 8 * l + j);
      }
  }
};
constexpr Order kOrder{};

// The byte planes in registers. Named members, not arrays: with arrays GCC kept the planes on the
// stack and reloaded them per call (perf: a quarter of the kernel's samples on one reload in
// BM_paged_read/2048/1, two 64-element steps a call).
struct BytePlanes {
  __m512i lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3, order;
  explicit BytePlanes(const DequantLut& lut)
      : lo0(_mm512_load_si512(lut.lo8)),
        lo1(_mm512_load_si512(lut.lo8 + 64)),
        lo2(_mm512_load_si512(lut.lo8 + 128)),
        lo3(_mm512_load_si512(lut.lo8 + 192)),
        hi0(_mm512_load_si512(lut.hi8)),
        hi1(_mm512_load_si512(lut.hi8 + 64)),
        hi2(_mm512_load_si512(lut.hi8 + 128)),
        hi3(_mm512_load_si512(lut.hi8 + 192)),
        order(_mm512_load_si512(kOrder.idx)) {}
  // 64 codes -> the 16-bit results of elements 0-31 (*a) and 32-63 (*b).
  inline void lookup(__m512i codes, __m512i* a, __m512i* b) const {
    const __m512i c = _mm512_permutexvar_epi8(order, codes);
    const __mmask64 upper = _mm512_movepi8_mask(c);  // code bit 7
    const __m512i l =
        _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(lo0, c, lo1), _mm512_permutex2var_epi8(lo2, c, lo3));
    const __m512i h =
        _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(hi0, c, hi1), _mm512_permutex2var_epi8(hi2, c, hi3));
    *a = _mm512_unpacklo_epi8(l, h);
    *b = _mm512_unpackhi_epi8(l, h);
  }
};

#include "cpu/store512.hpp"

template <bool NT>
void run(const BytePlanes& t, const std::uint8_t* in, std::uint16_t* out, std::size_t n) {
  __m512i a, b;
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    // kRunPrefetchBytes ahead within the row, as the 16-bit kernel (past it lie other blocks'
    // codes: from a paged read's short runs, a wasted DRAM access).
    if (i + kRunPrefetchBytes < n) _mm_prefetch(reinterpret_cast<const char*>(in + i + kRunPrefetchBytes), _MM_HINT_T0);
    t.lookup(_mm512_loadu_si512(in + i), &a, &b);
    store512<NT>(out + i, a);
    store512<NT>(out + i + 32, b);
  }
  if (i < n) {  // the tail: masked loads and stores (a partial store is never a streaming one)
    const std::size_t left = n - i;
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1u;
    t.lookup(_mm512_maskz_loadu_epi8(m, in + i), &a, &b);
    _mm512_mask_storeu_epi16(out + i, static_cast<__mmask32>(m), a);
    if (left > 32) _mm512_mask_storeu_epi16(out + i + 32, static_cast<__mmask32>(m >> 32), b);
  }
}

}  // namespace

void dequantize16_vbmi(const std::uint8_t* in, std::uint16_t* out, std::size_t n, const DequantLut& lut) noexcept {
  run<false>(BytePlanes(lut), in, out, n);
}

void dequantize16_vbmi_stream(const std::uint8_t* in, std::uint16_t* out, std::size_t n,
                              const DequantLut& lut) noexcept {
  run<true>(BytePlanes(lut), in, out, n);
}

void dequantize16_vbmi_runs(const DequantLut* luts, const RowRun* runs, const std::uint8_t* which,
                            std::size_t count) noexcept {
  for (std::size_t r = 0; r < count;) {
    const TableStretch st = table_stretch(which, r, count);
    const BytePlanes t(luts[st.w]);
    for (; r < st.end; ++r) {
      prefetch_run_ahead(runs, r, count);
      run<false>(t, static_cast<const std::uint8_t*>(runs[r].in), static_cast<std::uint16_t*>(runs[r].out), runs[r].n);
    }
  }
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()

#endif

namespace kvscale {
namespace cpu {
namespace detail {

bool has_avx512_vbmi() noexcept {
#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
  static const bool vbmi = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vbmi") != 0;
  }();
  return vbmi;
#else
  return false;
#endif
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
