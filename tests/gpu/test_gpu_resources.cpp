// Resource safety: 10^4 create/destroy cycles of DeviceScales and DeviceBuffer leave the device's
// free memory where it was.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "common/gpu_test.hpp"
#include "gpu_runtime.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {
namespace test {
namespace {

using GpuResources = GpuTest;

std::size_t free_bytes() {
  std::size_t f = 0, total = 0;
  EXPECT_EQ(rt::device_synchronize(), rt::success);
  EXPECT_EQ(rt::mem_get_info(&f, &total), rt::success);
  return f;
}

constexpr std::size_t kTolerance = std::size_t{8} << 20;  // allocator granularity and caching

TEST_F(GpuResources, TenThousandDeviceScalesCyclesDoNotLeak) {
  const ScaleTable t(1, 80, std::vector<float>(80, 0.02f), std::nullopt);
  {
    DeviceScales warm;
    ASSERT_EQ(DeviceScales::create(device(), t, 0, LayerRange{}, ScaleConversion{}, nullptr, &warm), Status::success);
  }
  const std::size_t before = free_bytes();
  for (int i = 0; i < 10000; ++i) {
    DeviceScales s;
    ASSERT_EQ(DeviceScales::create(device(), t, 0, LayerRange{}, ScaleConversion{}, nullptr, &s), Status::success)
        << "cycle " << i << ": " << last_error_message();
    DeviceScales moved = std::move(s);
    ASSERT_TRUE(moved.valid());
  }
  const std::size_t after = free_bytes();
  EXPECT_LE(before - std::min(before, after), kTolerance) << "before " << before << " after " << after;
}

TEST_F(GpuResources, TenThousandDeviceBufferCyclesDoNotLeak) {
  {
    gpu::DeviceBuffer warm;
    ASSERT_EQ(gpu::DeviceBuffer::create(device(), 1 << 16, &warm), Status::success);
  }
  const std::size_t before = free_bytes();
  for (int i = 0; i < 10000; ++i) {
    gpu::DeviceBuffer b, c;
    ASSERT_EQ(gpu::DeviceBuffer::create(device(), std::size_t{1} << (10 + i % 10), &b), Status::success)
        << "cycle " << i << ": " << last_error_message();
    ASSERT_EQ(gpu::DeviceBuffer::create(device(), 4096, &c), Status::success);
    c = std::move(b);  // frees c's own allocation
  }
  const std::size_t after = free_bytes();
  EXPECT_LE(before - std::min(before, after), kTolerance) << "before " << before << " after " << after;
}

}  // namespace
}  // namespace test
}  // namespace kvscale
