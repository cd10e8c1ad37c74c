// Private to the CPU backend: quantize of bf16 inputs by table, exact and without a division.
//
// Why a table gives the spec's codes. Take a finite scale s > 0 and a positive bf16
// x = 2^(e-127) * (1 + m/128) with biased exponent e in [1, 254] and mantissa m in [0, 128).
//  - Going up one exponent doubles x, and doubles the quotient fl32(x / s) exactly while that is a
//    normal float. An fp8 code in the normal range grows by exactly 8 when its value doubles.
//  - So take e_fast, the first exponent whose every quotient lies in fp8's normal range (>= 2^-6
//    fn, 2^-7 fnuz; a code of 8 is not enough, a quotient just below rounds up to it on the
//    subnormal grid). For every e >= e_fast: code(e, m) = min(code(e_fast, m) + 8 * (e - e_fast),
//    max). An infinite quotient saturates like a large one, and so does an infinite x (m = 0).
//  - code(e_fast, m) = step[m] is one table of 128 codes. It is monotone in m, and 8 consecutive
//    m move the quotient by less than one fp8 step (7/128 of a binade against 1/16), so
//    step[m] = base[m >> 3] + (m & 7 >= thr[m >> 3]): two 16-entry tables, one byte shuffle each.
//    With AVX-512 VBMI one byte permute reads the 128 codes themselves (quantize_vbmi.cpp); the
//    table keeps both forms, and the builder checks that they agree.
//  - Exponents below e_zero1 give zero codes (their largest value does, and the code is monotone).
//  - Between e_zero1 and e_fast lie the subnormal fp8 codes, and e = 255 holds inf and NaN. A
//    block with any of those goes through the division kernel instead.
// The sign is the input's (fnuz: none on a zero code). The builder computes every entry with the
// scalar codec (fp8::quantize, one IEEE division) and refuses a table that breaks the group
// shape, and tests/cpu/test_cpu_quotient.cpp compares every bf16 input, for seeded scales, with the
// brute-force reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace cpu {
namespace detail {

struct Bf16StepTable {
  std::uint32_t key;                   // scale bits | (fnuz << 31); 0: never built
  bool valid;                          // false: this scale has no normal band; use the division kernel
  std::uint8_t e_zero1;                // exponents e < e_zero1 give zero codes
  std::uint8_t e_fast;                 // exponents e_fast <= e <= 254 use the table
  std::uint8_t e_sat;                  // min(e_fast + 16, 254): every larger exponent saturates
  std::uint8_t max_code;               // 0x7E (fn) or 0x7F (fnuz)
  alignas(16) std::uint8_t base[16];   // step[8 g] - 8 (the kernel counts exponents from e_fast - 1)
  alignas(16) std::int8_t thr_m1[16];  // thr - 1 (7: no step in the group): inc = (m & 7) > thr_m1
  alignas(64) std::uint8_t step[128];  // step[m] - 8 for every m: the same codes in one table (VBMI)
};

/// Fills `t` for (f, scale > 0 finite); returns t->valid.
bool build_bf16_step_table(Fp8Format f, float scale, Bf16StepTable* t) noexcept;

/// The calling thread's table for (f, scale), or nullptr where it has none (no normal band, or no
/// memory for the thread's cache). A miss builds the table (about 150 scalar quantizes) only for
/// rows of at least kStepBuildMin elements; shorter rows take the division kernel until a long row
/// has built it. 1,024 tables, 4-way set-associative (bf16_step.cpp): the per-layer K and V
/// scales of a server's layers in turn stay resident, and most per-head ones of 32 layers of 8
/// heads (a set holds 4). The table stays valid until the thread's next look-up.
const Bf16StepTable* cached_bf16_step_table(Fp8Format f, float scale, std::size_t n) noexcept;
constexpr std::size_t kStepBuildMin = 1024;

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
