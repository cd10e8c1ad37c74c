// Private to the CPU backend: the byte operations of bf16_step_kernel.hpp on 64-byte registers
// (64 elements a step, masks in mask registers), for kernels_avx512.cpp and, with kPermute128 =
// true, quantize_vbmi.cpp. Include it after the file's AVX-512 target pragma (simd_target.hpp; with
// VBMI for kPermute128), inside its anonymous namespace.
#pragma once

#include "cpu/store512.hpp"

// kPermute128: the step codes come from the table's 128 codes by one byte permute (vpermi2b, AVX-512
// VBMI) instead of two 16-entry shuffles and a compare (bf16_step_kernel.hpp: step_of).
template <bool kPermute128>
struct StepOps512 {
  using V = __m512i;
  using M = __mmask64;
  static constexpr std::size_t kElems = 64;
  static V load(const std::uint16_t* p) { return _mm512_loadu_si512(p); }
  static V set1(std::uint8_t b) { return _mm512_set1_epi8(static_cast<char>(b)); }
  static V set1_16(std::uint16_t w) { return _mm512_set1_epi16(static_cast<short>(w)); }
  template <class T>
  static V table(const T* t) {
    // The zero-masked form: GCC 12 reports the plain one's undefined source as uninitialised.
    return _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(t)));
  }
  static V and_(V a, V b) { return _mm512_and_si512(a, b); }
  static V add8(V a, V b) { return _mm512_add_epi8(a, b); }
  static V subs_u8(V a, V b) { return _mm512_subs_epu8(a, b); }
  static V min_u8(V a, V b) { return _mm512_min_epu8(a, b); }
  template <int K>
  static V srli16(V a) {
    return _mm512_srli_epi16(a, K);
  }
  template <int K>
  static V slli16(V a) {
    return _mm512_slli_epi16(a, K);
  }
  static V packus16(V a, V b) { return _mm512_packus_epi16(a, b); }
  static V packs16(V a, V b) { return _mm512_packs_epi16(a, b); }
  static V shuffle(V t, V i) { return _mm512_shuffle_epi8(t, i); }
  static V in_order(V v) { return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), v); }
  static M gt8(V a, V b) { return _mm512_cmpgt_epi8_mask(a, b); }
  static M eq8(V a, V b) { return _mm512_cmpeq_epi8_mask(a, b); }
  static M or_m(M a, M b) { return a | b; }
  static M and_not_m(M a, M b) { return static_cast<M>(~a & b); }
  static bool any(M m) { return m != 0; }
  static V inc_where(V v, M m) { return _mm512_mask_add_epi8(v, m, v, _mm512_set1_epi8(1)); }
  static V zero_where(V v, M m) { return _mm512_mask_mov_epi8(v, m, _mm512_setzero_si512()); }
  static M sign_of(V v) { return _mm512_movepi8_mask(v); }
  static V or_sign(V v, M m) { return _mm512_mask_add_epi8(v, m, v, _mm512_set1_epi8(static_cast<char>(0x80))); }
  template <bool NT>
  static void store(std::uint8_t* p, V v) {
    store512<NT>(p, v);
  }
  static constexpr bool kPermute = kPermute128;
  // t[i & 127] per byte, the 128-byte table in lo (0-63) and hi (64-127). Only with kPermute128:
  // a template, so that the VBMI instruction is compiled only where it is used.
  template <bool P = kPermute128>
  static V permute128(V lo, V i, V hi) {
    static_assert(P, "VBMI only");
    return _mm512_permutex2var_epi8(lo, i, hi);
  }
  static V load64(const std::uint8_t* t) { return _mm512_load_si512(t); }
};
