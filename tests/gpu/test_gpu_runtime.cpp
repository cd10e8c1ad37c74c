// The device layer's small pieces: device queries, buffers, copies, timers, and error messages.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/gpu_test.hpp"
#include "gpu_util.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace test {
namespace {

// Runs everywhere: with no device (or no backend) the answer is no_device and a count of 0.
TEST(GpuRuntimeNoFixture, DeviceCountAnswersWithoutCrashing) {
  int n = -1;
  const Status s = gpu::device_count(&n);
  if (s == Status::success) {
    EXPECT_GT(n, 0);
  } else {
    EXPECT_EQ(s, Status::no_device) << last_error_message();
    EXPECT_EQ(n, 0);
    EXPECT_FALSE(last_error_message().empty());
  }
  const std::string b = gpu::backend_name();
  EXPECT_TRUE(b == "hip" || b == "cuda" || b == "none") << b;
}

using GpuRuntime = GpuTest;

TEST_F(GpuRuntime, DescribesTheDeviceAndItsNativeFormat) {
  std::string d;
  ASSERT_EQ(gpu::device_description(device(), &d), Status::success) << last_error_message();
  EXPECT_FALSE(d.empty());
  Fp8Format f;
  ASSERT_EQ(gpu::native_format(device(), &f), Status::success);
  const bool mi300 = d.find("gfx940") != std::string::npos || d.find("gfx941") != std::string::npos ||
                     d.find("gfx942") != std::string::npos;
  EXPECT_EQ(f, mi300 ? Fp8Format::e4m3fnuz : Fp8Format::e4m3fn) << d;
  ::testing::Test::RecordProperty("device", d);
  EXPECT_EQ(gpu::native_format(1 << 20, &f), Status::no_device);
  EXPECT_EQ(gpu::set_device(-1), Status::no_device);
}

TEST_F(GpuRuntime, BufferUploadCopyDownloadFill) {
  const std::vector<std::uint8_t> data = random_bytes(4097, 3);
  gpu::DeviceBuffer a = to_device(device(), data), b;
  ASSERT_EQ(gpu::DeviceBuffer::create(device(), data.size(), &b), Status::success);
  EXPECT_EQ(b.device(), device());
  ASSERT_EQ(gpu::copy_device(b.data(), a.data(), data.size(), nullptr), Status::success);
  EXPECT_EQ(from_device(b), data);
  ASSERT_EQ(b.fill(0x5A, nullptr), Status::success);
  EXPECT_EQ(from_device(b), std::vector<std::uint8_t>(data.size(), 0x5A));
  std::uint8_t x = 0;
  EXPECT_EQ(b.download(&x, 2, nullptr, data.size() - 1), Status::invalid_argument);
  EXPECT_EQ(b.upload(&x, 1, nullptr, data.size()), Status::invalid_argument);
  gpu::DeviceBuffer empty;
  EXPECT_EQ(gpu::DeviceBuffer::create(device(), 0, &empty), Status::success);
  EXPECT_EQ(empty.size(), 0u);
  gpu::DeviceBuffer moved(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.size(), data.size());
}

TEST_F(GpuRuntime, OutOfMemoryNamesTheCallAndTheDevice) {
  gpu::DeviceBuffer b;
  const Status s = gpu::DeviceBuffer::create(device(), std::size_t{1} << 60, &b);
  EXPECT_EQ(s, Status::out_of_memory) << last_error_message();
  const std::string m = last_error_message();
  EXPECT_NE(m.find("Malloc(1152921504606846976 bytes) failed on device " + std::to_string(device())), std::string::npos)
      << m;
  // The failure must not poison the next launch.
  gpu::DeviceBuffer ok;
  ASSERT_EQ(gpu::DeviceBuffer::create(device(), 64, &ok), Status::success);
  const float one = 1.0f;
  gpu::DeviceBuffer sc = to_device_value(device(), &one, 4);
  QuantizeArgs q{Fp8Format::e4m3fn,
                 DType::f32,
                 ok.data(),
                 static_cast<std::uint8_t*>(ok.data()) + 32,
                 4,
                 static_cast<const float*>(sc.data())};
  EXPECT_EQ(gpu::quantize(q, nullptr), Status::success) << last_error_message();
  EXPECT_EQ(gpu::synchronize(nullptr), Status::success);
}

TEST_F(GpuRuntime, EventTimerMeasuresAStreamInterval) {
  gpu::EventTimer t;
  float ms = -1;
  EXPECT_EQ(t.elapsed_ms(&ms), Status::invalid_argument);
  gpu::DeviceBuffer a, b;
  ASSERT_EQ(gpu::DeviceBuffer::create(device(), 1 << 24, &a), Status::success);
  ASSERT_EQ(gpu::DeviceBuffer::create(device(), 1 << 24, &b), Status::success);
  ASSERT_EQ(t.start(nullptr), Status::success);
  ASSERT_EQ(gpu::copy_device(b.data(), a.data(), a.size(), nullptr), Status::success);
  ASSERT_EQ(t.stop(nullptr), Status::success);
  ASSERT_EQ(t.elapsed_ms(&ms), Status::success) << last_error_message();
  EXPECT_GE(ms, 0.0f);
}

}  // namespace
}  // namespace test
}  // namespace kvscale
