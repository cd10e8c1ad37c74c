// Paged write / read on the GPU against the CPU backend, bit for bit: both layouts, both formats,
// all dtypes, aligned and unaligned rows, padded strides, negative (padding) slots and slots
// outside the cache (skipped by the GPU; the CPU reference gets -1 there).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/gpu_test.hpp"
#include "common/op_case.hpp"
#include "gpu_backend.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace test {
namespace {

using GpuPaged = GpuTest;

// Every case through tests/common/op_case.hpp: the CPU gets -1 where the GPU gets a slot past the
// end; caches and rows must match byte for byte, padding rows and guard bytes stay untouched.
void expect_all_match(const std::vector<OpCase>& cases, Backend& be) {
  for (const OpCase& c : cases) {
    const std::string d = eval(c, be);
    ASSERT_TRUE(d.empty()) << c.name() << ": " << d;
  }
}

TEST_F(GpuPaged, WriteMatchesCpuBitForBit) {
  GpuBackend be(device());
  expect_all_match(paged_cases(Op::paged_write), be);
}

TEST_F(GpuPaged, ReadMatchesCpuBitForBitAndLeavesPaddingRowsAlone) {
  GpuBackend be(device());
  expect_all_match(paged_cases(Op::paged_read), be);
}

// Strided caches, K and V in one allocation, the split layout (V staged through shared memory),
// per-head scales (strides 0 and 1 mixed for K and V).
TEST_F(GpuPaged, LayoutsAndPerHeadScalesMatchCpuBitForBit) {
  GpuBackend be(device());
  expect_all_match(layout_cases(Op::paged_write), be);
  expect_all_match(layout_cases(Op::paged_read), be);
}

TEST_F(GpuPaged, ZeroTokensIsANoOp) {
  PagedWriteArgs w{};
  EXPECT_EQ(gpu::paged_write(w, nullptr), Status::success);
  PagedReadArgs r{};
  EXPECT_EQ(gpu::paged_read(r, nullptr), Status::success);
}

}  // namespace
}  // namespace test
}  // namespace kvscale
