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
//   gt8(a, b)          signed a > b per byte; eq8; or_m; any(M)
//   inc_where(v, m)    v + 1 where m;  zero_where(v, m) 0 where m, else v;  and_not_m(a, b) ~a & b
//   sign_of(v)         bit 7 of each byte, as M;  or_sign(v, m) v | 0x80 where m
//   store<NT>(p, v)    one register of codes
//   kPermute           true: permute128(lo, i, hi) gives t[i & 127] per byte, the 128-byte table t
//                      in two registers (load64), and step_of uses it
#pragma once

// The table's step codes in registers (step_of): base and thr_m1, or with O::kPermute the 128 codes
// step[0..63] and step[64..127].
template <class O>
inline typename O::V step_register(const kvscale::cpu::detail::Bf16StepTable& t, int i) {
  if constexpr (O::kPermute) {
    return O::load64(t.step + 64 * i);
  } else {
    return i == 0 ? O::table(t.base) : O::table(t.thr_m1);
  }
}

// The loop's constants, from the table.
template <class O>
struct StepConsts {
  using V = typename O::V;
  V step0, step1, e_sat, e_fast_m1, max_code, low8, low4, low3, band_shift, band_end, inf_nan, zero;
  explicit StepConsts(const kvscale::cpu::detail::Bf16StepTable& t)
      : step0(step_register<O>(t, 0)),
        step1(step_register<O>(t, 1)),
        e_sat(O::set1(t.e_sat)),
        e_fast_m1(O::set1(static_cast<std::uint8_t>(t.e_fast - 1))),
        max_code(O::set1(t.max_code)),
        low8(O::set1_16(0xFF)),
        low4(O::set1(0x0F)),
        low3(O::set1(7)),
        // The subnormal band [e_zero1, e_fast) as one signed compare: e - e_zero1 < width,
        // unsigned, is (e - e_zero1) ^ 0x80 < width ^ 0x80 signed; the xor is the add of 128.
        band_shift(O::set1(static_cast<std::uint8_t>(128 - t.e_zero1))),
        band_end(O::set1(static_cast<std::uint8_t>((t.e_fast - t.e_zero1) ^ 0x80))),
        inf_nan(O::set1(0xFF)),
        zero(O::set1(0)) {}
};

// Bytes of the biased exponents of x0 (elements [0, kElems/2)) and x1 (the rest), in the packs'
// lane order.
template <class O>
inline typename O::V step_exponents(typename O::V x0, typename O::V x1, const StepConsts<O>& k) {
  return O::packus16(O::and_(O::template srli16<7>(x0), k.low8), O::and_(O::template srli16<7>(x1), k.low8));
}

// Lanes whose exponent is in the subnormal band, or inf / NaN.
template <class O>
inline typename O::M step_bad(typename O::V e, const StepConsts<O>& k) {
  return O::or_m(O::gt8(k.band_end, O::add8(e, k.band_shift)), O::eq8(e, k.inf_nan));
}

// The codes of e_fast, less 8, for the mantissas in lo (bits 0-6; bit 7 is the exponent's):
// step[m] = base[m >> 3] + ((m & 7) > thr_m1[m >> 3]), two 16-entry shuffles and a compare; with
// O::kPermute, step[m] itself, one 128-entry permute (bf16_step.hpp says why both are the same).
template <class O>
inline typename O::V step_of(typename O::V lo, const StepConsts<O>& k) {
  if constexpr (O::kPermute) {
    return O::permute128(k.step0, lo, k.step1);
  } else {
    const typename O::V g = O::and_(O::template srli16<3>(lo), k.low4);  // m >> 3 (bit 7 is masked off)
    return O::inc_where(O::shuffle(k.step0, g), O::gt8(O::and_(lo, k.low3), O::shuffle(k.step1, g)));
  }
}

// The codes of a block without bad lanes, in element order. lo = bits 0..7 of each element (m and
// the exponent's low bit). ec = e - (e_fast - 1), clamped to [0, e_sat - e_fast + 1]: 0 only for
// the zero band (the band between is bad), and 8 * ec + base (step - 8) stays in its byte.
template <class O, bool Fn>
inline typename O::V step_codes(typename O::V x0, typename O::V x1, typename O::V e, const StepConsts<O>& k) {
  using V = typename O::V;
  using M = typename O::M;
  const V lo = O::packus16(O::and_(x0, k.low8), O::and_(x1, k.low8));
  const V step = step_of<O>(lo, k);
  const V ec = O::subs_u8(O::min_u8(e, k.e_sat), k.e_fast_m1);
  const V code = O::min_u8(O::add8(O::template slli16<3>(ec), step), k.max_code);
  const M zero = O::eq8(ec, k.zero);
  M neg = O::sign_of(O::packs16(x0, x1));
  if constexpr (!Fn) neg = O::and_not_m(zero, neg);  // fnuz has no -0
  return O::in_order(O::or_sign(O::zero_where(code, zero), neg));
}

// Two registers of codes (2 * O::kElems bf16 inputs) per step, one bad-lane test for both. Steps
// with a bad lane, and the tail, go to exact().
template <class O, bool Fn, bool NT, class Exact>
void quantize_bf16_step(const StepConsts<O>& k, const std::uint16_t* in, std::uint8_t* out, std::size_t n,
                        bool past_run, Exact exact) {
  using V = typename O::V;
  constexpr std::size_t W = O::kElems, H = W / 2;
  constexpr std::size_t kPrefetch = 2048;  // elements
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    // 4 KiB ahead, the lines this step reads: from DRAM, the hardware prefetcher alone left a
    // thread at about 60 % of that (bench_cpu BM_quantize/268435456, one thread: 47 -> 31 ms).
    // Past the run's end only where the next run's row follows (RunLookAhead::past_run).
    // (Addresses as integers: the prefetch may point past the row, which no pointer may.)
    const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(in + i) + 2 * kPrefetch;
    if (past_run || i + kPrefetch + 2 * W <= n)
      for (std::size_t b = 0; b < 4 * W; b += 64) _mm_prefetch(reinterpret_cast<const char*>(ahead + b), _MM_HINT_T0);
    const V x0 = O::load(in + i), x1 = O::load(in + i + H), x2 = O::load(in + i + W), x3 = O::load(in + i + W + H);
    const V e0 = step_exponents<O>(x0, x1, k), e1 = step_exponents<O>(x2, x3, k);
    if (O::any(O::or_m(step_bad<O>(e0, k), step_bad<O>(e1, k)))) {
      exact(in + i, out + i, 2 * W);
      continue;
    }
    O::template store<NT>(out + i, step_codes<O, Fn>(x0, x1, e0, k));
    O::template store<NT>(out + i + W, step_codes<O, Fn>(x2, x3, e1, k));
  }
  for (; i + W <= n; i += W) {
    const V x0 = O::load(in + i), x1 = O::load(in + i + H);
    const V e = step_exponents<O>(x0, x1, k);
    if (O::any(step_bad<O>(e, k))) {
      exact(in + i, out + i, W);
    } else {
      O::template store<NT>(out + i, step_codes<O, Fn>(x0, x1, e, k));
    }
  }
  if (i < n) exact(in + i, out + i, n - i);
}

// Runs of bf16 with tables and scales chosen per run: run r takes tb[w] and scales[w], w =
// which[r] (which == nullptr: w = 0). The constants are set up once a stretch of one w
// (table_stretch); a head's runs in memory order change w every run, which still saves a call
// per run.
// exact(in, out, n, scale) must be the division kernel of format Fn.
template <class O, bool Fn, bool NT, class Exact>
void quantize_bf16_step_runs(const kvscale::cpu::detail::Bf16StepTable* tb, const float* scales,
                             const kvscale::cpu::detail::RowRun* runs, const std::uint8_t* which, std::size_t count,
                             kvscale::cpu::detail::RunLookAhead ahead, Exact exact) {
  namespace d = kvscale::cpu::detail;
  // The cache lines the runs write, kOutRunsAhead runs ahead (kernels.hpp: prefetch_out). A count
  // of 0 turns the look-ahead off: prefetch_out() does nothing past it.
  const std::size_t out_count = ahead.out ? count : 0;
  for (std::size_t r = 0; r < d::kOutRunsAhead; ++r) d::prefetch_out(runs, r, out_count);
  for (std::size_t r = 0; r < count;) {
    const d::TableStretch st = d::table_stretch(which, r, count);
    const StepConsts<O> k(tb[st.w]);
    const float scale = scales[st.w];
    const auto ex = [&](const void* i, std::uint8_t* o, std::size_t n) { exact(i, o, n, scale); };
    for (; r < st.end; ++r) {
      d::prefetch_out(runs, r + d::kOutRunsAhead, out_count);
      quantize_bf16_step<O, Fn, NT>(k, static_cast<const std::uint16_t*>(runs[r].in),
                                    static_cast<std::uint8_t*>(runs[r].out), runs[r].n, ahead.past_run, ex);
    }
  }
}

// RowKernels::quantize_step over the including ISA (kernels.hpp: QuantizeStepFn).
template <class O, bool NT, class Exact>
void quantize_bf16_runs(const kvscale::cpu::detail::Bf16StepTable* tb, const float* scales, kvscale::Fp8Format f,
                        const kvscale::cpu::detail::RowRun* runs, const std::uint8_t* which, std::size_t count,
                        kvscale::cpu::detail::RunLookAhead ahead, Exact exact) {
  if (f == kvscale::Fp8Format::e4m3fn) {
    quantize_bf16_step_runs<O, true, NT>(tb, scales, runs, which, count, ahead, exact);
  } else {
    quantize_bf16_step_runs<O, false, NT>(tb, scales, runs, which, count, ahead, exact);
  }
}

// The bf16 rows of quantize_row: true where the step table took the row (bf16, a full step, a
// table with a normal band, looked up in the thread's cache), false where the caller divides.
template <class O, bool NT, class Exact>
bool quantize_bf16_by_table(kvscale::Fp8Format f, kvscale::DType t, float scale, const void* in, std::uint8_t* out,
                            std::size_t n, Exact exact) {
  if (t != kvscale::DType::bf16 || n < O::kElems) return false;
  const kvscale::cpu::detail::Bf16StepTable* tb = kvscale::cpu::detail::cached_bf16_step_table(f, scale, n);
  if (tb == nullptr) return false;
  const kvscale::cpu::detail::RowRun run{in, out, n};
  quantize_bf16_runs<O, NT>(tb, &scale, f, &run, nullptr, 1, {true, false},
                            [&](const void* i, std::uint8_t* o, std::size_t k, float) { exact(i, o, k); });
  return true;
}
