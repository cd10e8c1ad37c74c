// AVX2 byte transposes for the split layout's V cache with 16-slot blocks (chosen at run time; the
// AVX-512 kernels use them too).
//
// Layouts (kv_cache.hpp, CacheLayout::split): one head of one block of V is `[head_size][16]`
// bytes, element e of the token in slot o at e * 16 + o. A token's row is `head_size` contiguous
// bytes, so writing it alone is head_size one-byte stores 16 bytes apart. The paged ops instead
// quantize the tokens of one block into a tile `[16][head_size]` (row o = the token in slot o) and
// transpose it: 16 x 16 byte blocks, four rounds of unpacks (8-, 16-, 32-, 64-bit), two blocks per
// 256-bit register (one per 128-bit lane), then one 16-byte store per element. Slots without a
// token in the call keep their cache bytes: those stores blend with what is there. Reads transpose
// the other way (a 16 x 16 transpose is its own inverse).
#include <cstddef>
#include <cstdint>

#include "cpu/kernels.hpp"

#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

// In each 128-bit lane: before, byte j of x[o] is row o, column j; after, byte o of x[j] is the
// same element. Each round doubles the rows that one unit holds (2, 4, 8, 16) and halves the
// columns that one register holds (8, 4, 2, 1); the comments give each round's result.
inline void transpose16x16(__m256i x[16]) {
  __m256i y[16];
  for (int i = 0; i < 8; ++i) {
    y[i] = _mm256_unpacklo_epi8(x[2 * i], x[2 * i + 1]);
    y[i + 8] = _mm256_unpackhi_epi8(x[2 * i], x[2 * i + 1]);
  }
  // y[8h + i] (h, i < 8): 16-bit unit p = rows 2i, 2i + 1 of column 8h + p.
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      x[8 * h + i] = _mm256_unpacklo_epi16(y[8 * h + 2 * i], y[8 * h + 2 * i + 1]);
      x[8 * h + 4 + i] = _mm256_unpackhi_epi16(y[8 * h + 2 * i], y[8 * h + 2 * i + 1]);
    }
  // x[G + i] (G = 0, 4, 8, 12): 32-bit unit p = rows 4i..4i + 3 of column G + p.
  for (int g = 0; g < 16; g += 4)
    for (int i = 0; i < 2; ++i) {
      y[g + i] = _mm256_unpacklo_epi32(x[g + 2 * i], x[g + 2 * i + 1]);
      y[g + 2 + i] = _mm256_unpackhi_epi32(x[g + 2 * i], x[g + 2 * i + 1]);
    }
  // y[G + 2r + i]: 64-bit unit p = rows 8i..8i + 7 of column G + 2r + p.
  for (int g = 0; g < 16; g += 2) {
    x[g] = _mm256_unpacklo_epi64(y[g], y[g + 1]);
    x[g + 1] = _mm256_unpackhi_epi64(y[g], y[g + 1]);
  }
}

inline void store_row(std::uint8_t* p, __m128i v, __m128i keep, bool all) {
  if (!all) v = _mm_blendv_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), v, keep);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

}  // namespace

void tile_to_columns16_avx2(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                            std::uint8_t* dst) {
  alignas(16) std::uint8_t m[16];
  for (int o = 0; o < 16; ++o) m[o] = (mask >> o) & 1u ? 0xFF : 0x00;
  const __m128i keep = _mm_load_si128(reinterpret_cast<const __m128i*>(m));
  const bool all = (mask & 0xFFFFu) == 0xFFFFu;
  __m256i x[16];
  for (std::size_t c = 0; c < d; c += 32) {
    // Two 16-column blocks per register; a last single block (d % 32 == 16) is loaded into both lanes.
    const bool pair = c + 32 <= d;
    for (int o = 0; o < 16; ++o) {
      const std::uint8_t* r = tile + static_cast<std::size_t>(o) * pitch + c;
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r));
      const __m128i hi = pair ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 16)) : lo;
      x[o] = _mm256_set_m128i(hi, lo);
    }
    transpose16x16(x);
    for (int j = 0; j < 16; ++j) {
      store_row(dst + (c + static_cast<std::size_t>(j)) * 16, _mm256_castsi256_si128(x[j]), keep, all);
      if (pair)
        store_row(dst + (c + 16 + static_cast<std::size_t>(j)) * 16, _mm256_extracti128_si256(x[j], 1), keep, all);
    }
  }
}

void columns16_to_tile_avx2(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch) {
  __m256i x[16];
  for (std::size_t c = 0; c < d; c += 32) {
    const bool pair = c + 32 <= d;
    for (int j = 0; j < 16; ++j) {
      const std::uint8_t* r = src + (c + static_cast<std::size_t>(j)) * 16;
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r));
      const __m128i hi = pair ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 256)) : lo;
      x[j] = _mm256_set_m128i(hi, lo);
    }
    transpose16x16(x);
    for (int o = 0; o < 16; ++o) {
      std::uint8_t* r = tile + static_cast<std::size_t>(o) * pitch + c;
      if (pair) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(r), x[o]);
      } else {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(r), _mm256_castsi256_si128(x[o]));
      }
    }
  }
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
