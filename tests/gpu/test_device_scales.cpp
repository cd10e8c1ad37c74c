// DeviceScales: upload and read back, the fnuz factor, update in place, move semantics, errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/gpu_test.hpp"
#include "gpu_util.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {
namespace test {
namespace {

// tp=2, 6 layers; rank r layer l = 0.01 * (1 + l) + r (distinct, exact doubles are irrelevant).
ScaleTable table(float bias = 0.0f) {
  std::vector<float> v;
  for (int r = 0; r < 2; ++r)
    for (int l = 0; l < 6; ++l) v.push_back(0.01f * static_cast<float>(1 + l) + static_cast<float>(r) + bias);
  return ScaleTable(2, 6, v, std::string("llama"));
}

// Reads n floats at a device pointer (through a DeviceBuffer copy).
std::vector<float> read_back(int device, const float* p, std::size_t n) {
  gpu::DeviceBuffer tmp;
  EXPECT_EQ(gpu::DeviceBuffer::create(device, n * 4, &tmp), Status::success);
  EXPECT_EQ(gpu::copy_device(tmp.data(), p, n * 4, nullptr), Status::success) << last_error_message();
  const std::vector<std::uint8_t> bytes = from_device(tmp);
  std::vector<float> out(n);
  std::memcpy(out.data(), bytes.data(), n * 4);
  return out;
}

using GpuScales = GpuTest;

TEST_F(GpuScales, UploadsKThenVForTheRangeAndReadsBack) {
  const ScaleTable t = table();
  DeviceScales s;
  ASSERT_EQ(DeviceScales::create(device(), t, 1, LayerRange{2, 3}, ScaleConversion{}, nullptr, &s), Status::success)
      << last_error_message();
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(s.num_layers(), 3);
  EXPECT_EQ(s.first_layer(), 2);
  EXPECT_EQ(s.rank(), 1);
  const std::vector<float> got = read_back(device(), s.data(), 6);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)], t.scale(1, 2 + i));
    EXPECT_EQ(got[static_cast<std::size_t>(3 + i)], t.scale(1, 2 + i));
  }
  EXPECT_EQ(s.host_mirror(), got);
  EXPECT_EQ(s.k_scale(2), s.data());
  EXPECT_EQ(s.v_scale(4), s.data() + 5);
  EXPECT_EQ(s.k_scale(1), nullptr);
  EXPECT_EQ(s.v_scale(5), nullptr);
}

TEST_F(GpuScales, FnuzCacheDoublesTheScaleUnlessTurnedOff) {
  const ScaleTable t = table();
  DeviceScales fnuz, raw;
  ASSERT_EQ(
      DeviceScales::create(device(), t, 0, LayerRange{}, ScaleConversion{Fp8Format::e4m3fnuz, true}, nullptr, &fnuz),
      Status::success);
  ASSERT_EQ(
      DeviceScales::create(device(), t, 0, LayerRange{}, ScaleConversion{Fp8Format::e4m3fnuz, false}, nullptr, &raw),
      Status::success);
  const std::vector<float> a = read_back(device(), fnuz.data(), 12), b = read_back(device(), raw.data(), 12);
  for (int l = 0; l < 6; ++l) {
    EXPECT_EQ(a[static_cast<std::size_t>(l)], 2.0f * t.scale(0, l));
    EXPECT_EQ(a[static_cast<std::size_t>(6 + l)], 2.0f * t.scale(0, l));
    EXPECT_EQ(b[static_cast<std::size_t>(l)], t.scale(0, l));
  }
}

TEST_F(GpuScales, UpdateRewritesInPlaceAndKeepsThePointers) {
  DeviceScales s;
  ASSERT_EQ(DeviceScales::create(device(), table(), 1, LayerRange{0, 6}, ScaleConversion{}, nullptr, &s),
            Status::success);
  const float* k3 = s.k_scale(3);
  const float* v3 = s.v_scale(3);
  const ScaleTable t2 = table(0.5f);
  ASSERT_EQ(s.update(t2, nullptr), Status::success) << last_error_message();
  EXPECT_EQ(s.k_scale(3), k3);
  EXPECT_EQ(s.v_scale(3), v3);
  const std::vector<float> got = read_back(device(), s.data(), 12);
  EXPECT_EQ(got[3], t2.scale(1, 3));
  EXPECT_EQ(got[9], t2.scale(1, 3));
  // A table that does not cover the range is refused and changes nothing.
  const ScaleTable small(2, 2, std::vector<float>(4, 1.0f), std::nullopt);
  EXPECT_EQ(s.update(small, nullptr), Status::invalid_argument);
  EXPECT_EQ(read_back(device(), s.data(), 12), got);
}

TEST_F(GpuScales, MoveTransfersOwnership) {
  DeviceScales a;
  ASSERT_EQ(DeviceScales::create(device(), table(), 0, LayerRange{}, ScaleConversion{}, nullptr, &a), Status::success);
  const float* p = a.data();
  DeviceScales b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.k_scale(0), nullptr);
  EXPECT_EQ(b.data(), p);
  DeviceScales c;
  ASSERT_EQ(DeviceScales::create(device(), table(), 1, LayerRange{}, ScaleConversion{}, nullptr, &c), Status::success);
  c = std::move(b);  // frees c's old allocation
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(read_back(device(), c.k_scale(5), 1)[0], table().scale(0, 5));
}

TEST_F(GpuScales, BadRankRangeOrDeviceAreRefused) {
  DeviceScales s;
  EXPECT_EQ(DeviceScales::create(device(), table(), 2, LayerRange{}, ScaleConversion{}, nullptr, &s),
            Status::invalid_argument);
  EXPECT_EQ(DeviceScales::create(device(), table(), 0, LayerRange{4, 5}, ScaleConversion{}, nullptr, &s),
            Status::invalid_argument);
  EXPECT_EQ(DeviceScales::create(1 << 20, table(), 0, LayerRange{}, ScaleConversion{}, nullptr, &s), Status::no_device);
  EXPECT_NE(last_error_message().find("does not exist"), std::string::npos) << last_error_message();
  EXPECT_FALSE(s.valid());
}

}  // namespace
}  // namespace test
}  // namespace kvscale
