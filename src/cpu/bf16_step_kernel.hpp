// Private to the CPU backend: the bf16 step-table quantize loop (bf16_step.hpp says why it is
// exact), written once over the including ISA's byte operations (kernels_avx2.cpp: 32 elements a
// step, kernels_avx512.cpp: 64).
//
// Include it inside an anonymous namespace after the file's target pragma. O gives the register
// type V, the mask type M (a byte vector on AVX2, a mask register on AVX-512) and:
//   load(p)            one register of 16-bit elements
//   set1(b)            b in every byte
//   and_/or_           bitwise
//   add8/sub8/subs_u8/min_u8, srli16<k>/slli16<k>
//   packus16(a, b)     unsigned-saturating 16 -> 8 bit pack, per 128-bit lane
//   packs16(a, b)      signed-saturating pack (keeps each element's sign in bit 7)
//   shuffle(t, i)      t[i & 15] per byte, the 16-byte table t in every lane (pshufb)
//   in_order(v)        undoes the packs' lane interleave
//   gt8(a, b)          signed a > b per byte; eq8; ge_u8(a, b) unsigned a >= b; or_m/and_m; any(M)
//   inc_where(v, m)    v + 1 where m;  keep(v, m) v where m, else 0
//   sign_of(v)         bit 7 of each byte, as M;  or_sign(v, m) v | 0x80 where m
//   store<NT>(p, v)    one register of codes
#pragma once

// One register of codes (O::kElems bf16 inputs) per step. Each step reads two registers of
// 16-bit inputs: x0 = elements [0, kElems/2), x1 = the rest. Bytes packed from them hold, per
// element, lo = bits 0..7 (m and the exponent's low bit) and e = bits 7..14 (the biased exponent).
// Blocks with an exponent outside [0, e_zero1) u [e_fast, 254], and the tail, go to exact().
template <class O, bool Fn, bool NT, class Exact>
void quantize_bf16_step(const kvscale::cpu::detail::Bf16StepTable& t, const std::uint16_t* in, std::uint8_t* out,
                        std::size_t n, Exact exact) {
  using V = typename O::V;
  using M = typename O::M;
  constexpr std::size_t W = O::kElems;
  constexpr std::size_t kPrefetch = 2048;  // elements
  const V base = O::table(t.base), thr = O::table(t.thr_m1);
  const V e_sat = O::set1(t.e_sat), e_fast = O::set1(t.e_fast), e_zero1 = O::set1(t.e_zero1);
  const V max_code = O::set1(t.max_code), low8 = O::set1_16(0xFF), low4 = O::set1(0x0F), low3 = O::set1(7);
  // The subnormal band [e_zero1, e_fast) as one signed compare: e - e_zero1 < width, unsigned,
  // is (e - e_zero1) ^ 0x80 < width ^ 0x80 signed; the xor is the add of 128.
  const V band_shift = O::set1(static_cast<std::uint8_t>(128 - t.e_zero1));
  const V band_end = O::set1(static_cast<std::uint8_t>((t.e_fast - t.e_zero1) ^ 0x80));
  const V inf_nan = O::set1(0xFF);
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    // 4 KiB ahead, the two lines this step reads: from DRAM, the hardware prefetcher alone left a
    // thread at about 60 % of that (bench_cpu BM_quantize/268435456, one thread: 47 -> 31 ms).
    // (Addresses as integers: the prefetch may point past the row, which no pointer may.)
    const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(in + i) + 2 * kPrefetch;
    _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
    const V x0 = O::load(in + i), x1 = O::load(in + i + W / 2);
    const V e = O::packus16(O::and_(O::template srli16<7>(x0), low8), O::and_(O::template srli16<7>(x1), low8));
    if (O::any(O::or_m(O::gt8(band_end, O::add8(e, band_shift)), O::eq8(e, inf_nan)))) {
      exact(in + i, out + i, W);
      continue;
    }
    const V lo = O::packus16(O::and_(x0, low8), O::and_(x1, low8));
    const V g = O::and_(O::template srli16<3>(lo), low4);  // m >> 3 (bit 7 of lo is masked off)
    const V step = O::inc_where(O::shuffle(base, g), O::gt8(O::and_(lo, low3), O::shuffle(thr, g)));
    const V ec = O::subs_u8(O::min_u8(e, e_sat), e_fast);  // 0..16: the 8 * ec below stays in its byte
    const V code = O::min_u8(O::add8(O::template slli16<3>(ec), step), max_code);
    const M nonzero = O::ge_u8(e, e_zero1);
    M neg = O::sign_of(O::packs16(x0, x1));
    if constexpr (!Fn) neg = O::and_m(neg, nonzero);  // fnuz has no -0
    O::template store<NT>(out + i, O::in_order(O::or_sign(O::keep(code, nonzero), neg)));
  }
  if (i < n) exact(in + i, out + i, n - i);
}

// The bf16 rows of quantize_row: true where the step table took the row (bf16, a full step, a
// table with a normal band), false where the caller divides. exact(in, out, n) must be the
// division kernel with the same format and scale.
template <class O, bool NT, class Exact>
bool quantize_bf16_by_table(kvscale::Fp8Format f, kvscale::DType t, float scale, const void* in, std::uint8_t* out,
                            std::size_t n, Exact exact) {
  if (t != kvscale::DType::bf16 || n < O::kElems) return false;
  const kvscale::cpu::detail::Bf16StepTable* tb = kvscale::cpu::detail::cached_bf16_step_table(f, scale, n);
  if (tb == nullptr) return false;
  const auto* p = static_cast<const std::uint16_t*>(in);
  if (f == kvscale::Fp8Format::e4m3fn) {
    quantize_bf16_step<O, true, NT>(*tb, p, out, n, exact);
  } else {
    quantize_bf16_step<O, false, NT>(*tb, p, out, n, exact);
  }
  return true;
}
