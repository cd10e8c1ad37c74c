// Private to the CPU backend: the 16 x 16 byte transpose of the split-V tiles (tile16_avx2.cpp,
// tile16_avx512.cpp), written once over the including ISA's unpack instructions.
//
// Include it inside an anonymous namespace after the file's target pragma, with U a struct of the
// ISA's register type V and its per-128-bit-lane unpacks (lo8/hi8, lo16/hi16, lo32/hi32,
// lo64/hi64, as _mm256_unpacklo_epi8 and so on): the functions then take that target.
#pragma once

// In each 128-bit lane: before, byte j of x[o] is row o, column j; after, byte o of x[j] is the
// same element. Each round doubles the rows that one unit holds (2, 4, 8, 16) and halves the
// columns that one register holds (8, 4, 2, 1); the comments give each round's result.
template <class U>
inline void transpose16x16(typename U::V x[16]) {
  typename U::V y[16];
  for (int i = 0; i < 8; ++i) {
    y[i] = U::lo8(x[2 * i], x[2 * i + 1]);
    y[i + 8] = U::hi8(x[2 * i], x[2 * i + 1]);
  }
  // y[8h + i] (h < 2, i < 8): 16-bit unit p = rows 2i, 2i + 1 of column 8h + p.
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      x[8 * h + i] = U::lo16(y[8 * h + 2 * i], y[8 * h + 2 * i + 1]);
      x[8 * h + 4 + i] = U::hi16(y[8 * h + 2 * i], y[8 * h + 2 * i + 1]);
    }
  // x[G + i] (G = 0, 4, 8, 12; i < 4): 32-bit unit p = rows 4i..4i + 3 of column G + p.
  for (int g = 0; g < 16; g += 4)
    for (int i = 0; i < 2; ++i) {
      y[g + i] = U::lo32(x[g + 2 * i], x[g + 2 * i + 1]);
      y[g + 2 + i] = U::hi32(x[g + 2 * i], x[g + 2 * i + 1]);
    }
  // y[G + 2r + i]: 64-bit unit p = rows 8i..8i + 7 of column G + 2r + p.
  for (int g = 0; g < 16; g += 2) {
    x[g] = U::lo64(y[g], y[g + 1]);
    x[g + 1] = U::hi64(y[g], y[g + 1]);
  }
}
