// Contiguous quantize / dequantize on the GPU against the CPU backend, bit for bit, for every
// format, dtype, size and pointer alignment; bytes around the output must stay untouched. The
// cases and the comparison are tests/common/op_case.hpp's (the emulated tests run the same).
#include <gtest/gtest.h>

#include <cstdint>
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

using GpuContiguous = GpuTest;

// Every case through tests/common/op_case.hpp: the GPU and the CPU get the same buffers, every
// byte must match, and bytes outside the output views must keep their sentinel values.
void expect_all_match(const std::vector<OpCase>& cases, Backend& be) {
  for (const OpCase& c : cases) {
    const std::string d = eval(c, be);
    ASSERT_TRUE(d.empty()) << c.name() << ": " << d;
  }
}

TEST_F(GpuContiguous, QuantizeMatchesCpuBitForBit) {
  GpuBackend be(device());
  expect_all_match(contiguous_cases(Op::quantize), be);
}

TEST_F(GpuContiguous, DequantizeMatchesCpuBitForBit) {
  GpuBackend be(device());
  expect_all_match(contiguous_cases(Op::dequantize), be);
}

// Every fp16 and bf16 code, every format: the exhaustive check of the conversion paths (the
// hardware one on gfx94x/gfx950 included).
TEST_F(GpuContiguous, EveryHalfCodeQuantizesLikeCpu) {
  GpuBackend be(device());
  expect_all_match(every_code_cases(), be);
}

TEST_F(GpuContiguous, SizeZeroIsANoOpEvenWithNullPointers) {
  QuantizeArgs q{};
  q.n = 0;
  EXPECT_EQ(gpu::quantize(q, nullptr), Status::success);
  DequantizeArgs d{};
  EXPECT_EQ(gpu::dequantize(d, nullptr), Status::success);
}

TEST_F(GpuContiguous, InvalidArgumentsAreRejectedBeforeLaunch) {
  gpu::DeviceBuffer b;
  ASSERT_EQ(gpu::DeviceBuffer::create(device(), 1024, &b), Status::success);
  std::uint8_t* p = static_cast<std::uint8_t*>(b.data());
  QuantizeArgs q{Fp8Format::e4m3fn, DType::f16, p, p + 512, 16, nullptr};
  EXPECT_EQ(gpu::quantize(q, nullptr), Status::invalid_argument);  // null scale
  q.scale = reinterpret_cast<const float*>(p + 1000);
  q.in = p + 1;  // f16 input on an odd address
  EXPECT_EQ(gpu::quantize(q, nullptr), Status::invalid_argument);
  EXPECT_NE(last_error_message().find("aligned"), std::string::npos) << last_error_message();
}

}  // namespace
}  // namespace test
}  // namespace kvscale
