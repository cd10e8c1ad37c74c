// AVX-512 VBMI bf16 quantize: the step-table loop of bf16_step_kernel.hpp, each step's codes read
// from the table's 128 codes by one byte permute (vpermi2b) where kernels_avx512.cpp takes two
// 16-entry shuffles and a compare. Blocks the table does not take (subnormal codes, inf, NaN) and
// other dtypes go to the AVX-512 division kernel. The codes are the same by construction
// (bf16_step.hpp); tests/cpu/test_cpu_quotient.cpp compares both forms with the reference on every
// bf16 input, for seeded scales.
#include <cstddef>
#include <cstdint>

#include "cpu/bf16_step.hpp"
#include "cpu/kernels.hpp"

#if defined(KVSCALE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "cpu/simd_target.hpp"

KVSCALE_SIMD_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx2")

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

#include "cpu/bf16_step_kernel.hpp"
#include "cpu/step_ops512.hpp"

using StepOps = StepOps512<true>;

}  // namespace

void quantize_row_vbmi(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  const auto exact = [&](const void* i, std::uint8_t* o, std::size_t k) {
    quantize_divide_avx512(f, t, i, o, k, scale);
  };
  if (!quantize_bf16_by_table<StepOps, false>(f, t, scale, in, out, n, exact))
    quantize_divide_avx512(f, t, in, out, n, scale);
}

// Runs whose table changes from run to run (which: heads with their own scales, 128 elements a
// run) take the shuffle form: with the permute's 128-byte table loaded per run, the NHD per-head
// writes took 1.04-1.11x the time (docs/performance.md, session 23).
void quantize_step_runs_vbmi(const Bf16StepTable* tables, const float* scales, Fp8Format f, const RowRun* runs,
                             const std::uint8_t* which, std::size_t count, RunLookAhead ahead) {
  if (which != nullptr) {
    quantize_step_runs_avx512(tables, scales, f, runs, which, count, ahead);
    return;
  }
  const auto exact = [f](const void* i, std::uint8_t* o, std::size_t k, float scale) {
    quantize_divide_avx512(f, DType::bf16, i, o, k, scale);
  };
  quantize_bf16_runs<StepOps, false>(tables, scales, f, runs, which, count, ahead, exact);
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale

KVSCALE_SIMD_END()
#endif
