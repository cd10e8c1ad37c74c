// AVX2 + FMA + F16C row kernels (chosen at run time).
//
// bf16 rows quantize through the step tables (bf16_step.hpp, the loop of bf16_step_kernel.hpp on
// 32-byte registers), and dequantize to f16/bf16 uses the table's split form where it has one
// (DequantLut in kernels.hpp, dequantize16_split below); both give the same bytes as what follows.
//
// Bit-exact with fp8.hpp: the quotient x / scale (one _mm256_div_ps, IEEE round to nearest even,
// or where reciprocal_is_exact() the reciprocal and one fused correction step), then the
// integer encode of fp8::encode (normal range: add 0x7FFFF + lsb, shift by 20, re-bias; the
// subnormal range is |y| * 2^(bias+2) rounded to an integer, ties to even, by one float add),
// saturation by clamping the magnitude bits to max, NaN and zero-sign rules as the spec says.
// Dequantize writes fp16 bits (code & 0x7F) << 7 | (code & 0x80) << 8, which equal
// decode(code) * 2^-8 (fn) or 2^-7 (fnuz) exactly for every non-NaN code, widens them exactly
// with vcvtph2ps, multiplies by 2^8 / 2^7 (exact) and then by the scale (the one rounding the spec
// defines), and narrows with round to nearest even; NaN codes are patched to the canonical NaN.
#include <algorithm>
#include <cstdint>

#include "cpu/bf16_step.hpp"
#include "cpu/kernels.hpp"
#include "kvscale/fp8.hpp"

// The instruction set is enabled for this file's functions only (cpu/simd_target.hpp).
#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx2,fma,f16c")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

struct EncodeConsts {
  __m256i absmask, maxbits, rbias, one, minnormal, nancode, b80;
  __m256 submagic;
  bool fn;
  explicit EncodeConsts(Fp8Format f) {
    fn = f == Fp8Format::e4m3fn;
    const int bias = fn ? 7 : 8;
    absmask = _mm256_set1_epi32(0x7FFFFFFF);
    maxbits = _mm256_set1_epi32(fn ? 0x43E00000 : 0x43700000);  // 448 / 240
    rbias = _mm256_set1_epi32(0x7FFFF - ((127 - bias) << 23));  // rounding bias minus the re-bias
    one = _mm256_set1_epi32(1);
    minnormal = _mm256_set1_epi32((128 - bias) << 23);
    nancode = _mm256_set1_epi32(fn ? 0x7F : 0x80);
    b80 = _mm256_set1_epi32(0x80);
    submagic = _mm256_set1_ps(fn ? 16384.0f : 8192.0f);  // 2^(23 - (bias + 2)): one ulp = one subnormal step
  }
};

// x / scale: the IEEE division, or (R) the reciprocal and one correction step (kernels.hpp).
struct Divisor {
  __m256 s, r;
  explicit Divisor(float scale) : s(_mm256_set1_ps(scale)), r(_mm256_set1_ps(1.0f / scale)) {}
};

template <bool R>
inline __m256 quotient(__m256 x, const Divisor& d) {
  if constexpr (R) {
    const __m256 q = _mm256_mul_ps(x, d.r);
    return _mm256_fmadd_ps(_mm256_fnmadd_ps(q, d.s, x), d.r, q);  // q + (x - q * scale) / scale
  } else {
    return _mm256_div_ps(x, d.s);
  }
}

// Eight inputs x and their quotients y -> eight codes in the low byte of each lane. The sign and
// NaN-ness come from x (those of x / scale for a finite scale > 0), the magnitude from y.
inline __m256i encode8(__m256 y, __m256 x, const EncodeConsts& c) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i magc = _mm256_min_epu32(_mm256_and_si256(_mm256_castps_si256(y), c.absmask), c.maxbits);  // saturate
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(magc, 20), c.one);
  // Normal range: ((magc + 0x7FFFF + lsb) >> 20) - ((127 - bias) << 3), the re-bias folded into
  // the constant (exact for normal lanes; subnormal lanes are replaced below).
  const __m256i normal = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(magc, c.rbias), lsb), 20);
  // Subnormal range (|y| < 2^(1 - bias)): |y| + 2^(23 - (bias + 2)) rounds |y| to a multiple of the
  // subnormal step 2^-(bias + 2), ties to even (the one rounding of the add, in the default mode),
  // and the sum's bits above the magic's count the steps: the code. Codes 0..8; 8 is the first
  // normal, which the normal formula also gives.
  const __m256i sub = _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(magc), c.submagic)),
                                       _mm256_castps_si256(c.submagic));
  const __m256i is_sub = _mm256_cmpgt_epi32(c.minnormal, magc);  // both < 2^31: signed compare is fine
  __m256i code = _mm256_blendv_epi8(normal, sub, is_sub);
  __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), c.b80);
  if (!c.fn) sign = _mm256_andnot_si256(_mm256_cmpeq_epi32(code, _mm256_setzero_si256()), sign);  // no -0
  code = _mm256_or_si256(code, sign);
  const __m256i is_nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(code, c.nancode, is_nan);
}

inline __m256 load8(DType t, const unsigned char* p) {
  switch (t) {
    case DType::f32: return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    case DType::f16: return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    default:
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
  }
}

template <bool R>
inline __m256i encode8q(__m256 x, const Divisor& d, const EncodeConsts& c) {
  return encode8(quotient<R>(x, d), x, c);
}

template <bool NT>
inline void store32(void* p, __m256i v) {
  if constexpr (NT) {
    _mm256_stream_si256(static_cast<__m256i*>(p), v);
  } else {
    _mm256_storeu_si256(static_cast<__m256i*>(p), v);
  }
}

// NT: the main loop uses non-temporal stores; `out` must then be 32-byte aligned.
template <DType T, bool R, bool NT = false>
void quantize_impl(Fp8Format f, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const EncodeConsts c(f);
  const Divisor s(scale);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const auto* p = static_cast<const unsigned char*>(in);
  constexpr std::size_t es = T == DType::f32 ? 4 : 2;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i c0 = encode8q<R>(load8(T, p + (i + 0) * es), s, c);
    const __m256i c1 = encode8q<R>(load8(T, p + (i + 8) * es), s, c);
    const __m256i c2 = encode8q<R>(load8(T, p + (i + 16) * es), s, c);
    const __m256i c3 = encode8q<R>(load8(T, p + (i + 24) * es), s, c);
    const __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
    store32<NT>(out + i, _mm256_permutevar8x32_epi32(b, perm));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256i c0 = encode8q<R>(load8(T, p + i * es), s, c);
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(c0), _mm256_extracti128_si256(c0, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(w, w));
  }
  if (i < n) quantize_row_scalar(f, T, p + i * es, out + i, n - i, scale);
}

template <bool R, bool NT>
void quantize_dispatch(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  switch (t) {
    case DType::f32: quantize_impl<DType::f32, R, NT>(f, in, out, n, scale); break;
    case DType::f16: quantize_impl<DType::f16, R, NT>(f, in, out, n, scale); break;
    case DType::bf16: quantize_impl<DType::bf16, R, NT>(f, in, out, n, scale); break;
  }
}

template <bool NT>
void quantize_exact(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  if (reciprocal_is_exact(scale)) {
    quantize_dispatch<true, NT>(f, t, in, out, n, scale);
  } else {
    quantize_dispatch<false, NT>(f, t, in, out, n, scale);
  }
}

// The byte operations of bf16_step_kernel.hpp on 32-byte registers: 32 elements a step. A mask
// is a byte vector (0xFF / 0x00, or bit 7 for sign_of).
struct StepOps {
  using V = __m256i;
  using M = __m256i;
  static constexpr std::size_t kElems = 32;
  static V load(const std::uint16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static V set1(std::uint8_t b) { return _mm256_set1_epi8(static_cast<char>(b)); }
  static V set1_16(std::uint16_t w) { return _mm256_set1_epi16(static_cast<short>(w)); }
  template <class T>
  static V table(const T* t) {
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
  }
  static V and_(V a, V b) { return _mm256_and_si256(a, b); }
  static V add8(V a, V b) { return _mm256_add_epi8(a, b); }
  static V subs_u8(V a, V b) { return _mm256_subs_epu8(a, b); }
  static V min_u8(V a, V b) { return _mm256_min_epu8(a, b); }
  template <int K>
  static V srli16(V a) {
    return _mm256_srli_epi16(a, K);
  }
  template <int K>
  static V slli16(V a) {
    return _mm256_slli_epi16(a, K);
  }
  static V packus16(V a, V b) { return _mm256_packus_epi16(a, b); }
  static V packs16(V a, V b) { return _mm256_packs_epi16(a, b); }
  static constexpr bool kPermute = false;
  static V shuffle(V t, V i) { return _mm256_shuffle_epi8(t, i); }
  static V in_order(V v) { return _mm256_permute4x64_epi64(v, 0xD8); }  // 64-bit units 0, 2, 1, 3
  static M gt8(V a, V b) { return _mm256_cmpgt_epi8(a, b); }
  static M eq8(V a, V b) { return _mm256_cmpeq_epi8(a, b); }
  static M or_m(M a, M b) { return _mm256_or_si256(a, b); }
  static M and_not_m(M a, M b) { return _mm256_andnot_si256(a, b); }
  static bool any(M m) { return !_mm256_testz_si256(m, m); }
  static V inc_where(V v, M m) { return _mm256_sub_epi8(v, m); }
  static V zero_where(V v, M m) { return _mm256_andnot_si256(m, v); }
  static M sign_of(V v) { return v; }
  static V or_sign(V v, M m) {
    return _mm256_or_si256(v, _mm256_and_si256(m, _mm256_set1_epi8(static_cast<char>(0x80))));
  }
  template <bool NT>
  static void store(std::uint8_t* p, V v) {
    store32<NT>(p, v);
  }
};

#include "cpu/bf16_step_kernel.hpp"

// bf16 rows go through the step table where it applies (bf16_step.hpp), the rest divide.
template <bool NT>
void quantize_any(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const auto exact = [&](const void* i, std::uint8_t* o, std::size_t k) { quantize_exact<NT>(f, t, i, o, k, scale); };
  if (!quantize_bf16_by_table<StepOps, NT>(f, t, scale, in, out, n, exact)) quantize_exact<NT>(f, t, in, out, n, scale);
}

// RowKernels::quantize_step: bf16 runs with the caller's tables.
void quantize_step_runs(const Bf16StepTable* tables, const float* scales, Fp8Format f, const RowRun* runs,
                        const std::uint8_t* which, std::size_t count, RunLookAhead ahead) {
  const auto exact = [f](const void* i, std::uint8_t* o, std::size_t k, float scale) {
    quantize_exact<false>(f, DType::bf16, i, o, k, scale);
  };
  quantize_bf16_runs<StepOps, false>(tables, scales, f, runs, which, count, ahead, exact);
}

void quantize_row(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  quantize_any<false>(f, t, in, out, n, scale);
}

// Aligns the output to 32 bytes with the ordinary kernel, then streams.
void quantize_row_stream(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const std::size_t head = std::min<std::size_t>(n, (32u - (reinterpret_cast<std::uintptr_t>(out) & 31u)) & 31u);
  quantize_any<false>(f, t, in, out, head, scale);
  quantize_any<true>(f, t, static_cast<const unsigned char*>(in) + head * dtype_size(t), out + head, n - head, scale);
  _mm_sfence();
}

// Sixteen codes (one per 16-bit lane) -> the fp16 bits of decode(code) * 2^-8 (fn) / 2^-7 (fnuz).
inline __m256i fake_f16(__m256i w) {
  const __m256i m = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)), 7);
  return _mm256_or_si256(m, _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8));
}

inline __m256i nan_mask16(Fp8Format f, __m256i w) {
  if (f == Fp8Format::e4m3fn) {
    const __m256i x7f = _mm256_set1_epi16(0x7F);
    return _mm256_cmpeq_epi16(_mm256_and_si256(w, x7f), x7f);
  }
  return _mm256_cmpeq_epi16(w, _mm256_set1_epi16(0x80));
}

// NT: non-temporal stores; `out` must then be 32-byte aligned.
template <DType T, bool NT = false>
void dequantize_impl(Fp8Format f, const std::uint8_t* in, void* out, std::size_t n, float scale,
                     const DequantLut& lut) {
  const __m256 pow2 = _mm256_set1_ps(f == Fp8Format::e4m3fn ? 256.0f : 128.0f);
  const __m256 s = _mm256_set1_ps(scale);
  auto* o = static_cast<unsigned char*>(out);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    const __m256i h = fake_f16(w);
    const __m256i nan = nan_mask16(f, w);
    const __m256 lo = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(h)), pow2), s);
    const __m256 hi = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)), pow2), s);
    if constexpr (T == DType::f32) {
      const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000));
      const __m256 nlo = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(nan)));
      const __m256 nhi = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(nan, 1)));
      float* d = reinterpret_cast<float*>(o + i * 4);
      _mm256_storeu_ps(d, _mm256_blendv_ps(lo, qnan, nlo));
      _mm256_storeu_ps(d + 8, _mm256_blendv_ps(hi, qnan, nhi));
    } else {
      __m256i r;
      if constexpr (T == DType::f16) {
        r = _mm256_set_m128i(_mm256_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT),
                             _mm256_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
        r = _mm256_blendv_epi8(r, _mm256_set1_epi16(0x7E00), nan);
      } else {
        const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
        const __m256i ul = _mm256_castps_si256(lo), uh = _mm256_castps_si256(hi);
        const __m256i rl = _mm256_srli_epi32(
            _mm256_add_epi32(_mm256_add_epi32(ul, bias), _mm256_and_si256(_mm256_srli_epi32(ul, 16), one)), 16);
        const __m256i rh = _mm256_srli_epi32(
            _mm256_add_epi32(_mm256_add_epi32(uh, bias), _mm256_and_si256(_mm256_srli_epi32(uh, 16), one)), 16);
        r = _mm256_permute4x64_epi64(_mm256_packus_epi32(rl, rh), 0xD8);
        r = _mm256_blendv_epi8(r, _mm256_set1_epi16(0x7FC0), nan);
      }
      store32<NT>(o + i * 2, r);
    }
  }
  if (i < n) dequantize_row_scalar(f, T, in + i, o + i * dtype_size(T), n - i, scale, lut);
}

// 16-bit outputs where lut.split_ok: the table's byte form of out16 (kernels.hpp, DequantLut),
// 32 codes a step: low and high bytes by shuffles, then interleaved. Bf16: a(c) = e >> 1, else
// (f16) e << 2. The constants of one table, set up once for a row or a batch of runs.
template <bool Bf16>
struct SplitConsts {
  __m256i lo_t, hi_t, sub_lo, sub_hi, x0f, x78, x7f, x80, zero, add_mask, nan_lo, nan_hi;
  bool fn;
  SplitConsts(Fp8Format f, const DequantLut& lut)
      : lo_t(StepOps::table(lut.split_lo)),
        hi_t(StepOps::table(lut.split_hi)),
        sub_lo(StepOps::table(lut.sub_lo)),
        sub_hi(StepOps::table(lut.sub_hi)),
        x0f(_mm256_set1_epi8(0x0F)),
        x78(_mm256_set1_epi8(0x78)),
        x7f(_mm256_set1_epi8(0x7F)),
        x80(_mm256_set1_epi8(static_cast<char>(0x80))),
        zero(_mm256_setzero_si256()),
        add_mask(_mm256_set1_epi8(Bf16 ? 0x07 : 0x3C)),
        nan_lo(_mm256_set1_epi8(static_cast<char>(lut.nan16 & 0xFF))),
        nan_hi(_mm256_set1_epi8(static_cast<char>(lut.nan16 >> 8))),
        fn(f == Fp8Format::e4m3fn) {}
};

// The whole steps of n codes; returns the elements done.
template <bool Bf16, bool NT>
std::size_t dequantize16_split(const SplitConsts<Bf16>& k, const std::uint8_t* in, std::uint16_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    if (i + kRunPrefetchBytes < n) _mm_prefetch(reinterpret_cast<const char*>(in + i + kRunPrefetchBytes), _MM_HINT_T0);
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i idx = _mm256_and_si256(c, k.x0f);
    // a(c) per byte: the 16-bit shift brings the next byte's bits into the ones the mask drops.
    const __m256i add = _mm256_and_si256(Bf16 ? _mm256_srli_epi16(c, 4) : _mm256_srli_epi16(c, 1), k.add_mask);
    const __m256i sub = _mm256_cmpeq_epi8(_mm256_and_si256(c, k.x78), k.zero);  // exponent 0
    const __m256i nan = k.fn ? _mm256_cmpeq_epi8(_mm256_and_si256(c, k.x7f), k.x7f) : _mm256_cmpeq_epi8(c, k.x80);
    __m256i lo = _mm256_blendv_epi8(_mm256_shuffle_epi8(k.lo_t, idx), _mm256_shuffle_epi8(k.sub_lo, idx), sub);
    __m256i hi = _mm256_blendv_epi8(_mm256_add_epi8(_mm256_shuffle_epi8(k.hi_t, idx), add),
                                    _mm256_shuffle_epi8(k.sub_hi, idx), sub);
    hi = _mm256_or_si256(hi, _mm256_and_si256(c, k.x80));
    lo = _mm256_blendv_epi8(lo, k.nan_lo, nan);
    hi = _mm256_blendv_epi8(hi, k.nan_hi, nan);
    const __m256i a = _mm256_unpacklo_epi8(lo, hi), b = _mm256_unpackhi_epi8(lo, hi);  // codes 0-7 16-23, 8-15 24-31
    store32<NT>(out + i, _mm256_permute2x128_si256(a, b, 0x20));
    store32<NT>(out + i + 16, _mm256_permute2x128_si256(a, b, 0x31));
  }
  return i;
}

// dequantize_impl for 16-bit outputs, through dequantize16_split where the table allows.
template <DType T, bool NT = false>
void dequantize16(Fp8Format f, const std::uint8_t* in, void* out, std::size_t n, float scale, const DequantLut& lut) {
  auto* o = static_cast<std::uint16_t*>(out);
  const std::size_t done =
      lut.split_ok ? dequantize16_split<T == DType::bf16, NT>(SplitConsts<T == DType::bf16>(f, lut), in, o, n) : 0;
  dequantize_impl<T, NT>(f, in + done, o + done, n - done, scale, lut);
}

// RowKernels::dequantize_runs for 16-bit outputs from tables with the split form: the constants
// are set up once a stretch of one table, and the runs ahead are prefetched (prefetch_run_ahead).
template <DType T>
void dequantize16_runs(Fp8Format f, const float* scales, const DequantLut* luts, const RowRun* runs,
                       const std::uint8_t* which, std::size_t count) {
  for (std::size_t r = 0; r < count;) {
    const TableStretch st = table_stretch(which, r, count);
    const SplitConsts<T == DType::bf16> k(f, luts[st.w]);
    for (; r < st.end; ++r) {
      prefetch_run_ahead(runs, r, count);
      const auto* in = static_cast<const std::uint8_t*>(runs[r].in);
      auto* out = static_cast<std::uint16_t*>(runs[r].out);
      const std::size_t done = dequantize16_split<T == DType::bf16, false>(k, in, out, runs[r].n);
      if (done < runs[r].n) dequantize_impl<T>(f, in + done, out + done, runs[r].n - done, scales[st.w], luts[st.w]);
    }
  }
}

bool dequantize_runs(Fp8Format f, DType t, const float* scales, const DequantLut* luts, const RowRun* runs,
                     const std::uint8_t* which, std::size_t count) {
  if (t == DType::f32 || !every_run_table(luts, which, count, &DequantLut::split_ok)) return false;
  if (t == DType::bf16) {
    dequantize16_runs<DType::bf16>(f, scales, luts, runs, which, count);
  } else {
    dequantize16_runs<DType::f16>(f, scales, luts, runs, which, count);
  }
  return true;
}

void dequantize_row(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                    const DequantLut& lut) {
  switch (t) {
    case DType::f32: dequantize_impl<DType::f32>(f, in, out, n, scale, lut); break;
    case DType::f16: dequantize16<DType::f16>(f, in, out, n, scale, lut); break;
    case DType::bf16: dequantize16<DType::bf16>(f, in, out, n, scale, lut); break;
  }
}

// Aligns 16-bit outputs to 32 bytes with the ordinary kernel, then streams (f32: ordinary).
void dequantize_row_stream(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                           const DequantLut& lut) {
  if (t == DType::f32) {
    dequantize_impl<DType::f32>(f, in, out, n, scale, lut);
    return;
  }
  auto* o = static_cast<std::uint16_t*>(out);
  const std::size_t head = std::min<std::size_t>(n, ((32u - (reinterpret_cast<std::uintptr_t>(o) & 31u)) & 31u) / 2);
  if (t == DType::f16) {
    dequantize16<DType::f16>(f, in, o, head, scale, lut);
    dequantize16<DType::f16, true>(f, in + head, o + head, n - head, scale, lut);
  } else {
    dequantize16<DType::bf16>(f, in, o, head, scale, lut);
    dequantize16<DType::bf16, true>(f, in + head, o + head, n - head, scale, lut);
  }
  _mm_sfence();
}

}  // namespace

void build_dequant_lut_avx2(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept {
  lut->split_ok = false;  // the kernels below compute; build_dequant_lut_split adds the split form
  lut->bytes_ok = false;  // and the AVX-512 VBMI builder the byte planes
  alignas(32) std::uint8_t codes[256];
  for (int c = 0; c < 256; ++c) codes[c] = static_cast<std::uint8_t>(c);
  // 256 is a multiple of 16: the kernels never reach their scalar tail, which reads the table.
  dequantize_impl<DType::f32>(f, codes, lut->out32, 256, scale, *lut);
  if (t == DType::f16) {
    dequantize_impl<DType::f16>(f, codes, lut->out16, 256, scale, *lut);
  } else {
    dequantize_impl<DType::bf16>(f, codes, lut->out16, 256, scale, *lut);
  }
  lut->format = f;
  lut->dtype = t;
  lut->scale_bits = fp8::detail::bits_of(scale);
  lut->valid = true;
}

namespace {
// RowKernels::build_lut of this file's kernels: the table and its split form.
void build_dequant_lut_split(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept {
  build_dequant_lut_avx2(f, t, scale, lut);
  derive_split16(lut);
}
}  // namespace

RowKernels avx2_kernels() noexcept {
  return RowKernels{quantize_row,           dequantize_row,          quantize_row_stream,
                    dequantize_row_stream,  build_dequant_lut_split, tile_to_columns16_avx2,
                    columns16_to_tile_avx2, quantize_step_runs,      dequantize_runs};
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()

#elif defined(KVSCALE_X86_SIMD)
namespace kvscale {
namespace cpu {
namespace detail {
RowKernels avx2_kernels() noexcept { return scalar_kernels(); }
}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
#endif
