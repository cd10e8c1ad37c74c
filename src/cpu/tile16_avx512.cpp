// AVX-512 (F, BW) byte transposes for the split layout's V cache with 16-slot blocks
// (RowKernels of the AVX-512 level; chosen at run time). The layouts and the method are those of
// tile16_avx2.cpp, 64 columns at a time: one 64-byte load per tile row (masked for a last block of
// 16, 32 or 48 columns), the 16 x 16 transpose of transpose16.hpp in each 128-bit lane (lane L:
// columns c + 16L ..), then a 4 x 4 exchange of lanes per four registers, so that each 64-byte
// store covers four consecutive elements. Slots without a token are masked out of the stores.
#include <cstddef>
#include <cstdint>

#include "cpu/kernels.hpp"

#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx512f,avx512bw")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

struct Unpack512 {
  using V = __m512i;
  static V lo8(V a, V b) { return _mm512_unpacklo_epi8(a, b); }
  static V hi8(V a, V b) { return _mm512_unpackhi_epi8(a, b); }
  static V lo16(V a, V b) { return _mm512_unpacklo_epi16(a, b); }
  static V hi16(V a, V b) { return _mm512_unpackhi_epi16(a, b); }
  static V lo32(V a, V b) { return _mm512_unpacklo_epi32(a, b); }
  static V hi32(V a, V b) { return _mm512_unpackhi_epi32(a, b); }
  static V lo64(V a, V b) { return _mm512_unpacklo_epi64(a, b); }
  static V hi64(V a, V b) { return _mm512_unpackhi_epi64(a, b); }
};

#include "cpu/transpose16.hpp"

// r[L] = lane i of x[i] for ... : the 4 x 4 transpose of 128-bit lanes, x[i] lane L -> r[L] lane i.
inline void transpose_lanes(const __m512i x[4], __m512i r[4]) {
  const __m512i t0 = _mm512_shuffle_i64x2(x[0], x[1], 0x44);  // x0.0 x0.1 x1.0 x1.1
  const __m512i t1 = _mm512_shuffle_i64x2(x[0], x[1], 0xEE);  // x0.2 x0.3 x1.2 x1.3
  const __m512i t2 = _mm512_shuffle_i64x2(x[2], x[3], 0x44);
  const __m512i t3 = _mm512_shuffle_i64x2(x[2], x[3], 0xEE);
  r[0] = _mm512_shuffle_i64x2(t0, t2, 0x88);  // x0.0 x1.0 x2.0 x3.0
  r[1] = _mm512_shuffle_i64x2(t0, t2, 0xDD);
  r[2] = _mm512_shuffle_i64x2(t1, t3, 0x88);
  r[3] = _mm512_shuffle_i64x2(t1, t3, 0xDD);
}

// Bytes [0, n) of a 64-byte vector, n <= 64.
inline __mmask64 first_bytes(std::size_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

}  // namespace

void tile_to_columns16_avx512(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                              std::uint8_t* dst) {
  const __mmask64 keep = static_cast<__mmask64>(mask & 0xFFFFu) * 0x0001000100010001ull;  // each 16-byte row
  __m512i x[16], r[4];
  for (std::size_t c = 0; c < d; c += 64) {
    const std::size_t n = d - c < 64 ? d - c : 64;  // columns in this block: 16, 32, 48 or 64
    const __mmask64 in = first_bytes(n);
    for (int o = 0; o < 16; ++o) x[o] = _mm512_maskz_loadu_epi8(in, tile + static_cast<std::size_t>(o) * pitch + c);
    transpose16x16<Unpack512>(x);  // x[j] lane L = element c + 16L + j
    for (std::size_t k = 0; k < 16; k += 4) {
      transpose_lanes(x + k, r);  // r[L] = elements c + 16L + k .. + 3
      for (std::size_t L = 0; L * 16 < n; ++L) _mm512_mask_storeu_epi8(dst + (c + 16 * L + k) * 16, keep, r[L]);
    }
  }
}

void columns16_to_tile_avx512(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch) {
  __m512i x[16], r[4];
  for (std::size_t c = 0; c < d; c += 64) {
    const std::size_t n = d - c < 64 ? d - c : 64;
    for (std::size_t k = 0; k < 16; k += 4) {
      for (std::size_t L = 0; L < 4; ++L)
        r[L] = L * 16 < n ? _mm512_loadu_si512(src + (c + 16 * L + k) * 16) : _mm512_setzero_si512();
      transpose_lanes(r, x + k);  // x[k + i] lane L = element c + 16L + k + i
    }
    transpose16x16<Unpack512>(x);  // x[o] lane L = slot o, elements c + 16L ..
    const __mmask64 out = first_bytes(n);
    for (int o = 0; o < 16; ++o) _mm512_mask_storeu_epi8(tile + static_cast<std::size_t>(o) * pitch + c, out, x[o]);
  }
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()
#endif
