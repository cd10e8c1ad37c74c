// AVX2 byte transposes for the split layout's V cache with 16-slot blocks (RowKernels of the AVX2
// level; chosen at run time).
//
// Layouts (kv_cache.hpp, CacheLayout::split): one head of one block of V is `[head_size][16]`
// bytes, element e of the token in slot o at e * 16 + o. A token's row is `head_size` contiguous
// bytes, so writing it alone is head_size one-byte stores 16 bytes apart. The paged ops instead
// quantize the tokens of one block into a tile (row o = the token in slot o, `pitch` bytes apart)
// and transpose it 32 columns at a time: one 32-byte load per tile row, the 16 x 16 transpose of
// transpose16.hpp in each 128-bit lane (lanes: columns c..c+15 and c+16..c+31), then one lane
// exchange per pair of registers so that each 32-byte store covers two consecutive elements. Slots
// without a token keep their cache bytes: those stores blend with what is there. Reads run the
// same steps backwards (the transposes are their own inverses). A last block of 16 columns
// (head_size % 32 == 16) uses the low lanes only.
#include <cstddef>
#include <cstdint>

#include "cpu/kernels.hpp"

#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx2")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

struct Unpack256 {
  using V = __m256i;
  static V lo8(V a, V b) { return _mm256_unpacklo_epi8(a, b); }
  static V hi8(V a, V b) { return _mm256_unpackhi_epi8(a, b); }
  static V lo16(V a, V b) { return _mm256_unpacklo_epi16(a, b); }
  static V hi16(V a, V b) { return _mm256_unpackhi_epi16(a, b); }
  static V lo32(V a, V b) { return _mm256_unpacklo_epi32(a, b); }
  static V hi32(V a, V b) { return _mm256_unpackhi_epi32(a, b); }
  static V lo64(V a, V b) { return _mm256_unpacklo_epi64(a, b); }
  static V hi64(V a, V b) { return _mm256_unpackhi_epi64(a, b); }
};

#include "cpu/transpose16.hpp"

// Stores 16 or 32 bytes of consecutive elements; `keep` has 0xFF at the slots to write.
inline void store_rows(std::uint8_t* p, __m256i v, __m256i keep, bool all) {
  if (!all) v = _mm256_blendv_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), v, keep);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}
inline void store_row(std::uint8_t* p, __m128i v, __m256i keep, bool all) {
  if (!all) v = _mm_blendv_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), v, _mm256_castsi256_si128(keep));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

inline __m128i load16(const std::uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

}  // namespace

void tile_to_columns16_avx2(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                            std::uint8_t* dst) {
  alignas(32) std::uint8_t m[32];
  for (int o = 0; o < 32; ++o) m[o] = (mask >> (o % 16)) & 1u ? 0xFF : 0x00;
  const __m256i keep = _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
  const bool all = (mask & 0xFFFFu) == 0xFFFFu;
  __m256i x[16];
  std::size_t c = 0;
  for (; c + 32 <= d; c += 32) {
    for (int o = 0; o < 16; ++o)
      x[o] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + static_cast<std::size_t>(o) * pitch + c));
    transpose16x16<Unpack256>(x);  // x[j]: lanes = elements c + j, c + 16 + j
    for (std::size_t k = 0; k < 16; k += 2) {
      store_rows(dst + (c + k) * 16, _mm256_permute2x128_si256(x[k], x[k + 1], 0x20), keep, all);
      store_rows(dst + (c + 16 + k) * 16, _mm256_permute2x128_si256(x[k], x[k + 1], 0x31), keep, all);
    }
  }
  if (c < d) {  // 16 columns left
    for (int o = 0; o < 16; ++o) x[o] = _mm256_zextsi128_si256(load16(tile + static_cast<std::size_t>(o) * pitch + c));
    transpose16x16<Unpack256>(x);
    for (std::size_t j = 0; j < 16; ++j) store_row(dst + (c + j) * 16, _mm256_castsi256_si128(x[j]), keep, all);
  }
}

void columns16_to_tile_avx2(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch) {
  __m256i x[16];
  std::size_t c = 0;
  for (; c + 32 <= d; c += 32) {
    for (std::size_t k = 0; k < 16; k += 2) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + (c + k) * 16));
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + (c + 16 + k) * 16));
      x[k] = _mm256_permute2x128_si256(a, b, 0x20);      // elements c + k, c + 16 + k
      x[k + 1] = _mm256_permute2x128_si256(a, b, 0x31);  // elements c + k + 1, c + 17 + k
    }
    transpose16x16<Unpack256>(x);  // x[o]: slot o, elements c..c+31
    for (int o = 0; o < 16; ++o)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + static_cast<std::size_t>(o) * pitch + c), x[o]);
  }
  if (c < d) {
    for (std::size_t j = 0; j < 16; ++j) x[j] = _mm256_zextsi128_si256(load16(src + (c + j) * 16));
    transpose16x16<Unpack256>(x);
    for (int o = 0; o < 16; ++o)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(tile + static_cast<std::size_t>(o) * pitch + c),
                       _mm256_castsi256_si128(x[o]));
  }
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()
#endif
