// AVX-512 (F, BW, VL, DQ) + F16C row kernels (chosen at run time).
//
// Quantize: bf16 rows through the step tables (bf16_step.hpp; the loop of bf16_step_kernel.hpp on
// 64-byte registers), everything else by the AVX2 algorithm (see kernels_avx2.cpp) on 16 lanes,
// with mask registers and explicit round-to-nearest-even conversions, and the same quotient
// (division, or reciprocal and correction, see reciprocal_is_exact() in kernels.hpp).
// With VBMI, the bf16 step codes come by one byte permute instead (quantize_vbmi.cpp; not for the
// streaming form, whose outputs go to DRAM).
// Dequantize to fp16/bf16 looks the 256 results up in the scalar-built table: with VBMI by byte
// permutes (dequant16_vbmi.cpp), else four vpermt2w over 64 entries each, selected by code bits 6
// and 7; to f32 it uses the exact fp16 widening trick of the AVX2 kernel.
#include <algorithm>
#include <cstdint>

#include "cpu/bf16_step.hpp"
#include "cpu/kernels.hpp"

// The instruction set is enabled for this file's functions only (cpu/simd_target.hpp).
#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

struct EncodeConsts {
  __m512i absmask, maxbits, rbias, one, minnormal, nancode, b80;
  __m512 subscale;
  bool fn;
  explicit EncodeConsts(Fp8Format f) {
    fn = f == Fp8Format::e4m3fn;
    const int bias = fn ? 7 : 8;
    absmask = _mm512_set1_epi32(0x7FFFFFFF);
    maxbits = _mm512_set1_epi32(fn ? 0x43E00000 : 0x43700000);  // 448 / 240
    rbias = _mm512_set1_epi32(0x7FFFF - ((127 - bias) << 23));  // rounding bias minus the re-bias
    one = _mm512_set1_epi32(1);
    minnormal = _mm512_set1_epi32((128 - bias) << 23);
    nancode = _mm512_set1_epi32(fn ? 0x7F : 0x80);
    b80 = _mm512_set1_epi32(0x80);
    subscale = _mm512_set1_ps(fn ? 512.0f : 1024.0f);  // 2^(bias+2)
  }
};

// x / scale: the IEEE division, or (R) the reciprocal and one correction step, which give the same
// codes (kernels.hpp). `r` is 1 / scale rounded, used only when R.
struct Divisor {
  __m512 s, r;
  explicit Divisor(float scale) : s(_mm512_set1_ps(scale)), r(_mm512_set1_ps(1.0f / scale)) {}
};

template <bool R>
inline __m512 quotient(__m512 x, const Divisor& d) {
  if constexpr (R) {
    const __m512 q = _mm512_mul_ps(x, d.r);
    return _mm512_fmadd_ps(_mm512_fnmadd_ps(q, d.s, x), d.r, q);  // q + (x - q * scale) / scale
  } else {
    return _mm512_div_ps(x, d.s);
  }
}

// Sixteen quotients y of the inputs x -> sixteen codes, one per 32-bit lane. The sign and NaN-ness
// come from x (those of x / scale for a finite scale > 0), the magnitude from y.
inline __m512i encode16_lanes(__m512 y, __m512 x, const EncodeConsts& c) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i magc = _mm512_min_epu32(_mm512_and_si512(_mm512_castps_si512(y), c.absmask), c.maxbits);  // saturate
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(magc, 20), c.one);
  // Normal range: ((magc + 0x7FFFF + lsb) >> 20) - ((127 - bias) << 3), with the re-bias folded
  // into the constant (exact for normal lanes; subnormal lanes are replaced below).
  const __m512i normal = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(magc, c.rbias), lsb), 20);
  const __m512i sub = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_castsi512_ps(magc), c.subscale),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512i code = _mm512_mask_blend_epi32(_mm512_cmplt_epu32_mask(magc, c.minnormal), normal, sub);
  __mmask16 neg = _mm512_movepi32_mask(u);
  if (!c.fn) neg = static_cast<__mmask16>(neg & _mm512_test_epi32_mask(code, code));  // fnuz: no -0
  code = _mm512_mask_or_epi32(code, neg, code, c.b80);
  return _mm512_mask_mov_epi32(code, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), c.nancode);
}

template <bool R>
inline __m128i encode16(__m512 x, const Divisor& d, const EncodeConsts& c) {
  return _mm512_cvtepi32_epi8(encode16_lanes(quotient<R>(x, d), x, c));
}

// Thirty-two bf16 -> thirty-two codes: even elements come from (x << 16), odd ones from
// (x & 0xFFFF0000), and the two code vectors interleave back as (even | odd << 8) per 16 bits.
template <bool R>
inline __m256i encode32_bf16(__m512i x, const Divisor& d, const EncodeConsts& c) {
  const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
  const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  const __m512i ce = encode16_lanes(quotient<R>(even, d), even, c);
  const __m512i co = encode16_lanes(quotient<R>(odd, d), odd, c);
  return _mm512_cvtepi32_epi16(_mm512_or_si512(ce, _mm512_slli_epi32(co, 8)));
}

template <DType T>
inline __m512 load16(const unsigned char* p) {
  if constexpr (T == DType::f32) {
    return _mm512_loadu_ps(p);
  } else if constexpr (T == DType::f16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
  }
}

template <bool NT>
inline void store32(std::uint8_t* p, __m256i v) {
  if constexpr (NT) {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
  } else {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }
}

#include "cpu/store512.hpp"

// NT: the main loops use non-temporal stores; `out` must then be 32-byte aligned. R: quotient<R>.
template <DType T, bool NT, bool R>
void quantize_impl(Fp8Format f, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const EncodeConsts c(f);
  const Divisor s(scale);
  const auto* p = static_cast<const unsigned char*>(in);
  constexpr std::size_t es = T == DType::f32 ? 4 : 2;
  std::size_t i = 0;
  if constexpr (T == DType::bf16) {
    for (; i + 64 <= n; i += 64) {
      const __m256i c0 = encode32_bf16<R>(_mm512_loadu_si512(p + i * es), s, c);
      const __m256i c1 = encode32_bf16<R>(_mm512_loadu_si512(p + (i + 32) * es), s, c);
      store32<NT>(out + i, c0);
      store32<NT>(out + i + 32, c1);
    }
  }
  for (; i + 32 <= n; i += 32) {
    const __m128i c0 = encode16<R>(load16<T>(p + i * es), s, c);
    const __m128i c1 = encode16<R>(load16<T>(p + (i + 16) * es), s, c);
    store32<NT>(out + i, _mm256_set_m128i(c1, c0));
  }
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), encode16<R>(load16<T>(p + i * es), s, c));
  if (i < n) {  // masked tail: the lanes past n are neither read nor written
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    __m512 x;
    if constexpr (T == DType::f32) {
      x = _mm512_maskz_loadu_ps(m, p + i * es);
    } else {
      const __m256i h = _mm256_maskz_loadu_epi16(m, p + i * es);
      x = T == DType::f16 ? _mm512_cvtph_ps(h) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    _mm_mask_storeu_epi8(out + i, m, encode16<R>(x, s, c));
  }
}

template <bool NT, bool R>
void quantize_dispatch(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  switch (t) {
    case DType::f32: quantize_impl<DType::f32, NT, R>(f, in, out, n, scale); break;
    case DType::f16: quantize_impl<DType::f16, NT, R>(f, in, out, n, scale); break;
    case DType::bf16: quantize_impl<DType::bf16, NT, R>(f, in, out, n, scale); break;
  }
}

template <bool NT>
void quantize_exact(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  if (reciprocal_is_exact(scale)) {
    quantize_dispatch<NT, true>(f, t, in, out, n, scale);
  } else {
    quantize_dispatch<NT, false>(f, t, in, out, n, scale);
  }
}

#include "cpu/step_ops512.hpp"
using StepOps = StepOps512<false>;

#include "cpu/bf16_step_kernel.hpp"

// bf16 rows go through the step table where it applies (bf16_step.hpp), the rest divide.
template <bool NT>
void quantize_any(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const auto exact = [&](const void* i, std::uint8_t* o, std::size_t k) { quantize_exact<NT>(f, t, i, o, k, scale); };
  if (!quantize_bf16_by_table<StepOps, NT>(f, t, scale, in, out, n, exact)) quantize_exact<NT>(f, t, in, out, n, scale);
}

void quantize_row(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  quantize_any<false>(f, t, in, out, n, scale);
}

// Aligns the output to 64 bytes with the ordinary kernel, then streams (the table's 64-byte stores).
void quantize_row_stream(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const std::size_t head = std::min<std::size_t>(n, (64u - (reinterpret_cast<std::uintptr_t>(out) & 63u)) & 63u);
  quantize_row(f, t, in, out, head, scale);
  quantize_any<true>(f, t, static_cast<const unsigned char*>(in) + head * dtype_size(t), out + head, n - head, scale);
  _mm_sfence();
}

// Named members, not an array: GCC stored an array of the eight tables to the stack and reloaded
// it on every call (objdump -d of dequantize16; BytePlanes in dequant16_vbmi.cpp had the same).
struct Lut16 {
  __m512i t0, t1, t2, t3, t4, t5, t6, t7;
  explicit Lut16(const DequantLut& lut)
      : t0(_mm512_load_si512(lut.out16)),
        t1(_mm512_load_si512(lut.out16 + 32)),
        t2(_mm512_load_si512(lut.out16 + 64)),
        t3(_mm512_load_si512(lut.out16 + 96)),
        t4(_mm512_load_si512(lut.out16 + 128)),
        t5(_mm512_load_si512(lut.out16 + 160)),
        t6(_mm512_load_si512(lut.out16 + 192)),
        t7(_mm512_load_si512(lut.out16 + 224)) {}
  // 32 codes (one per 16-bit lane) -> 32 table entries.
  inline __m512i lookup(__m512i idx) const {
    const __m512i r0 = _mm512_permutex2var_epi16(t0, idx, t1);
    const __m512i r1 = _mm512_permutex2var_epi16(t2, idx, t3);
    const __m512i r2 = _mm512_permutex2var_epi16(t4, idx, t5);
    const __m512i r3 = _mm512_permutex2var_epi16(t6, idx, t7);
    const __mmask32 b6 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(0x40));
    const __mmask32 b7 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(0x80));
    return _mm512_mask_blend_epi16(b7, _mm512_mask_blend_epi16(b6, r0, r1), _mm512_mask_blend_epi16(b6, r2, r3));
  }
};

template <bool NT = false>
void dequantize16(const std::uint8_t* in, std::uint16_t* out, std::size_t n, const DequantLut& lut) {
  const Lut16 t(lut);
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    // kRunPrefetchBytes ahead, within the row (past it lie other blocks' codes).
    if (i + kRunPrefetchBytes < n) _mm_prefetch(reinterpret_cast<const char*>(in + i + kRunPrefetchBytes), _MM_HINT_T0);
    const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    const __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i + 32)));
    store512<NT>(out + i, t.lookup(a));
    store512<NT>(out + i + 32, t.lookup(b));
  }
  for (; i < n; i += 32) {
    const std::size_t left = n - i;
    const __mmask32 m = left >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << left) - 1u);
    const __m512i a = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, in + i));
    _mm512_mask_storeu_epi16(out + i, m, t.lookup(a));
  }
}

void dequantize32(Fp8Format f, const std::uint8_t* in, float* out, std::size_t n, float scale) {
  const __m512 pow2 = _mm512_set1_ps(f == Fp8Format::e4m3fn ? 256.0f : 128.0f);
  const __m512 s = _mm512_set1_ps(scale);
  const __m512 qnan = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000));
  const __m256i x7f = _mm256_set1_epi16(0x7F), x80 = _mm256_set1_epi16(0x80);
  const bool fn = f == Fp8Format::e4m3fn;
  for (std::size_t i = 0; i < n; i += 16) {
    const std::size_t left = n - i;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
    const __m256i w = _mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(m, in + i));
    const __m256i h =
        _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, x7f), 7), _mm256_slli_epi16(_mm256_and_si256(w, x80), 8));
    const __mmask16 nan = fn ? _mm256_cmpeq_epi16_mask(_mm256_and_si256(w, x7f), x7f) : _mm256_cmpeq_epi16_mask(w, x80);
    __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtph_ps(h), pow2), s);
    v = _mm512_mask_mov_ps(v, nan, qnan);
    _mm512_mask_storeu_ps(out + i, m, v);
  }
}

// Vbmi: 16-bit results by the byte-permute kernel (dequant16_vbmi.cpp) where the table has its
// byte planes (a table built by another level's builder has not: then the 16-bit permutes).
template <bool Vbmi>
void dequantize_row(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                    const DequantLut& lut) {
  if (t == DType::f32) {
    dequantize32(f, in, static_cast<float*>(out), n, scale);
  } else if (Vbmi && lut.bytes_ok) {
    dequantize16_vbmi(in, static_cast<std::uint16_t*>(out), n, lut);
  } else {
    dequantize16(in, static_cast<std::uint16_t*>(out), n, lut);
  }
}

// Aligns 16-bit outputs to 64 bytes with the ordinary kernel, then streams (f32: ordinary).
template <bool Vbmi>
void dequantize_row_stream(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                           const DequantLut& lut) {
  if (t == DType::f32) {
    dequantize32(f, in, static_cast<float*>(out), n, scale);
    return;
  }
  auto* o = static_cast<std::uint16_t*>(out);
  const std::size_t head = std::min<std::size_t>(n, ((64u - (reinterpret_cast<std::uintptr_t>(o) & 63u)) & 63u) / 2);
  if (Vbmi && lut.bytes_ok) {
    dequantize16_vbmi(in, o, head, lut);
    dequantize16_vbmi_stream(in + head, o + head, n - head, lut);
  } else {
    dequantize16(in, o, head, lut);
    dequantize16<true>(in + head, o + head, n - head, lut);
  }
  _mm_sfence();
}

// RowKernels::dequantize_runs of the VBMI kernels: 16-bit results from a table with byte planes.
bool dequantize_runs_vbmi(Fp8Format, DType t, const float*, const DequantLut* luts, const RowRun* runs,
                          const std::uint8_t* which, std::size_t count) {
  if (t == DType::f32 || !every_run_table(luts, which, count, &DequantLut::bytes_ok)) return false;
  dequantize16_vbmi_runs(luts, runs, which, count);
  return true;
}

// RowKernels::build_lut of the VBMI kernels: the table and its byte planes.
void build_dequant_lut_bytes(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept {
  build_dequant_lut_avx2(f, t, scale, lut);
  derive_bytes16(lut);
}

}  // namespace

// RowKernels::quantize_step: bf16 runs with the caller's tables.
void quantize_step_runs_avx512(const Bf16StepTable* tables, const float* scales, Fp8Format f, const RowRun* runs,
                               const std::uint8_t* which, std::size_t count, RunLookAhead ahead) {
  const auto exact = [f](const void* i, std::uint8_t* o, std::size_t k, float scale) {
    quantize_exact<false>(f, DType::bf16, i, o, k, scale);
  };
  quantize_bf16_runs<StepOps, false>(tables, scales, f, runs, which, count, ahead, exact);
}

void quantize_divide_avx512(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  quantize_exact<false>(f, t, in, out, n, scale);
}

RowKernels avx512_kernels(bool vbmi) noexcept {
  if (vbmi)
    return RowKernels{quantize_row_vbmi,           dequantize_row<true>,    quantize_row_stream,
                      dequantize_row_stream<true>, build_dequant_lut_bytes, tile_to_columns16_avx512,
                      columns16_to_tile_avx512,    quantize_step_runs_vbmi, dequantize_runs_vbmi};
  return RowKernels{quantize_row,
                    dequantize_row<false>,
                    quantize_row_stream,
                    dequantize_row_stream<false>,
                    build_dequant_lut_avx2,
                    tile_to_columns16_avx512,
                    columns16_to_tile_avx512,
                    quantize_step_runs_avx512,
                    nullptr};
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()

#elif defined(KVSCALE_X86_SIMD)
namespace kvscale {
namespace cpu {
namespace detail {
RowKernels avx512_kernels(bool) noexcept { return avx2_kernels(); }
}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
#endif
