// Contiguous quantize / dequantize on the GPU against the CPU backend, bit for bit, for every
// format, dtype, size and pointer alignment; bytes around the output must stay untouched.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/gpu_test.hpp"
#include "gpu_util.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace test {
namespace {

struct Offsets {
  std::size_t in_elems;   // offset of the input, in elements (so it stays element-aligned)
  std::size_t out_bytes;  // offset of the fp8 side, in bytes (any)
};
// (0,0) aligned; (1,1) both off but co-aligned for 2-byte types; (0,3) and (3,7) never co-aligned
// (scalar path); (5,0) input off only.
const Offsets kOffsets[] = {{0, 0}, {1, 1}, {0, 3}, {5, 0}, {3, 7}};
constexpr std::size_t kGuard = 64;

using GpuContiguous = GpuTest;

TEST_F(GpuContiguous, QuantizeMatchesCpuBitForBit) {
  std::uint32_t seed = 1;
  for (Fp8Format f : kFormats) {
    for (DType t : kDTypes) {
      const std::size_t es = dtype_size(t);
      for (std::size_t n : kSizes) {
        for (const Offsets& o : kOffsets) {
          const float scale = kScales[seed % 5];
          ++seed;
          const std::vector<std::uint8_t> input = make_input(t, n, seed, scale);
          std::vector<std::uint8_t> in_full = random_bytes((n + o.in_elems) * es + kGuard, seed + 1000);
          std::memcpy(in_full.data() + o.in_elems * es, input.data(), input.size());
          const std::vector<std::uint8_t> out_init = random_bytes(n + o.out_bytes + kGuard, seed + 2000);

          std::vector<std::uint8_t> want = out_init;
          QuantizeArgs ca{f, t, in_full.data() + o.in_elems * es, want.data() + o.out_bytes, n, &scale};
          ASSERT_EQ(cpu::quantize(ca), Status::success) << last_error_message();

          gpu::DeviceBuffer din = to_device(device(), in_full);
          gpu::DeviceBuffer dout = to_device(device(), out_init);
          gpu::DeviceBuffer dscale = to_device_value(device(), &scale, sizeof scale);
          QuantizeArgs ga{f,
                          t,
                          static_cast<const std::uint8_t*>(din.data()) + o.in_elems * es,
                          static_cast<std::uint8_t*>(dout.data()) + o.out_bytes,
                          n,
                          static_cast<const float*>(dscale.data())};
          ASSERT_EQ(gpu::quantize(ga, nullptr), Status::success) << last_error_message();
          const std::string d = diff_bytes(want, from_device(dout));
          ASSERT_TRUE(d.empty()) << describe(f, t) << " n=" << n << " offsets=(" << o.in_elems << "," << o.out_bytes
                                 << ") scale=" << scale << ": " << d;
        }
      }
    }
  }
}

TEST_F(GpuContiguous, DequantizeMatchesCpuBitForBit) {
  std::uint32_t seed = 7;
  for (Fp8Format f : kFormats) {
    for (DType t : kDTypes) {
      const std::size_t es = dtype_size(t);
      for (std::size_t n : kSizes) {
        for (const Offsets& o : kOffsets) {
          const float scale = kScales[seed % 5];
          ++seed;
          std::vector<std::uint8_t> in_full = random_bytes(n + o.out_bytes + kGuard, seed);  // every code appears
          const std::vector<std::uint8_t> out_init = random_bytes((n + o.in_elems) * es + kGuard, seed + 3000);

          std::vector<std::uint8_t> want = out_init;
          DequantizeArgs ca{f, t, in_full.data() + o.out_bytes, want.data() + o.in_elems * es, n, &scale};
          ASSERT_EQ(cpu::dequantize(ca), Status::success) << last_error_message();

          gpu::DeviceBuffer din = to_device(device(), in_full);
          gpu::DeviceBuffer dout = to_device(device(), out_init);
          gpu::DeviceBuffer dscale = to_device_value(device(), &scale, sizeof scale);
          DequantizeArgs ga{f,
                            t,
                            static_cast<const std::uint8_t*>(din.data()) + o.out_bytes,
                            static_cast<std::uint8_t*>(dout.data()) + o.in_elems * es,
                            n,
                            static_cast<const float*>(dscale.data())};
          ASSERT_EQ(gpu::dequantize(ga, nullptr), Status::success) << last_error_message();
          const std::string d = diff_bytes(want, from_device(dout));
          ASSERT_TRUE(d.empty()) << describe(f, t) << " n=" << n << " offsets=(" << o.in_elems << "," << o.out_bytes
                                 << ") scale=" << scale << ": " << d;
        }
      }
    }
  }
}

// Every fp16 and bf16 code, every format: the exhaustive check of the conversion paths (the
// hardware one on gfx94x/gfx950 included).
TEST_F(GpuContiguous, EveryHalfCodeQuantizesLikeCpu) {
  for (Fp8Format f : kFormats) {
    for (DType t : {DType::f16, DType::bf16}) {
      for (float scale : kScales) {
        std::vector<std::uint8_t> in(65536 * 2);
        for (std::uint32_t i = 0; i < 65536; ++i) {
          const std::uint16_t h = static_cast<std::uint16_t>(i);
          std::memcpy(&in[2 * i], &h, 2);
        }
        std::vector<std::uint8_t> want(65536);
        QuantizeArgs ca{f, t, in.data(), want.data(), 65536, &scale};
        ASSERT_EQ(cpu::quantize(ca), Status::success);
        gpu::DeviceBuffer din = to_device(device(), in);
        gpu::DeviceBuffer dout;
        ASSERT_EQ(gpu::DeviceBuffer::create(device(), 65536, &dout), Status::success);
        gpu::DeviceBuffer dscale = to_device_value(device(), &scale, sizeof scale);
        QuantizeArgs ga{
            f, t, din.data(), static_cast<std::uint8_t*>(dout.data()), 65536, static_cast<const float*>(dscale.data())};
        ASSERT_EQ(gpu::quantize(ga, nullptr), Status::success) << last_error_message();
        const std::string d = diff_bytes(want, from_device(dout));
        ASSERT_TRUE(d.empty()) << describe(f, t) << " scale=" << scale << ": " << d;
      }
    }
  }
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
