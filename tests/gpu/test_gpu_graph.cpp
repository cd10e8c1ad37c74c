// Every launcher inside stream capture: begin capture, launch, end, instantiate, launch the graph,
// compare with the CPU. Also checks that the launchers neither allocate nor synchronise (either
// would fail the capture).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/gpu_test.hpp"
#include "gpu_runtime.hpp"
#include "gpu_util.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace test {
namespace {

class GpuGraph : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_EQ(rt::stream_create(&stream_), rt::success);
  }
  void TearDown() override {
    if (stream_ != nullptr) (void)rt::stream_destroy(stream_);
  }
  // Captures fn(stream) into a graph and runs it once.
  template <typename Fn>
  void run_captured(Fn&& fn) {
    ASSERT_EQ(rt::stream_begin_capture(stream_), rt::success);
    const Status s = fn(static_cast<Stream>(stream_));
    rt::graph_t g = nullptr;
    const rt::error_t end = rt::stream_end_capture(stream_, &g);
    ASSERT_EQ(s, Status::success) << last_error_message();
    ASSERT_EQ(end, rt::success) << rt::describe(end);
    rt::graph_exec_t exec = nullptr;
    ASSERT_EQ(rt::graph_instantiate(&exec, g), rt::success);
    ASSERT_EQ(rt::graph_launch(exec, stream_), rt::success);
    ASSERT_EQ(rt::stream_synchronize(stream_), rt::success);
    (void)rt::graph_exec_destroy(exec);
    (void)rt::graph_destroy(g);
  }
  rt::stream_t stream_ = nullptr;
};

TEST_F(GpuGraph, QuantizeAndDequantizeUnderCapture) {
  for (Fp8Format f : kFormats) {
    for (DType t : kDTypes) {
      const std::size_t n = 4097;
      const float scale = 0.0152239128947258f;
      const std::vector<std::uint8_t> in = make_input(t, n, 5, scale);
      std::vector<std::uint8_t> want(n), back(n * dtype_size(t));
      ASSERT_EQ(cpu::quantize(QuantizeArgs{f, t, in.data(), want.data(), n, &scale}), Status::success);
      ASSERT_EQ(cpu::dequantize(DequantizeArgs{f, t, want.data(), back.data(), n, &scale}), Status::success);
      gpu::DeviceBuffer din = to_device(device(), in), dq, dd;
      ASSERT_EQ(gpu::DeviceBuffer::create(device(), n, &dq), Status::success);
      ASSERT_EQ(gpu::DeviceBuffer::create(device(), back.size(), &dd), Status::success);
      gpu::DeviceBuffer ds = to_device_value(device(), &scale, 4);
      const float* s = static_cast<const float*>(ds.data());
      run_captured([&](Stream st) {
        Status r = gpu::quantize(QuantizeArgs{f, t, din.data(), static_cast<std::uint8_t*>(dq.data()), n, s}, st);
        if (r != Status::success) return r;
        r = gpu::quantize(QuantizeArgs{f, t, din.data(), nullptr, 0, nullptr}, st);  // size 0 inside capture
        if (r != Status::success) return r;
        return gpu::dequantize(DequantizeArgs{f, t, static_cast<const std::uint8_t*>(dq.data()), dd.data(), n, s}, st);
      });
      EXPECT_TRUE(diff_bytes(want, from_device(dq)).empty()) << describe(f, t);
      EXPECT_TRUE(diff_bytes(back, from_device(dd)).empty()) << describe(f, t);
    }
  }
}

TEST_F(GpuGraph, PagedWriteAndReadUnderCapture) {
  const std::int64_t H = 8, D = 128, bs = 16, tokens = 33, blocks = 4;
  for (Fp8Format f : kFormats) {
    for (DType t : kDTypes) {
      for (CacheLayout l : {CacheLayout::nhd, CacheLayout::hnd}) {
        const float ks = 0.02f, vs = 0.03f;
        const std::size_t row_elems = static_cast<std::size_t>(tokens * H * D);
        const std::vector<std::uint8_t> key = make_input(t, row_elems, 1, ks), value = make_input(t, row_elems, 2, vs);
        std::vector<std::int64_t> slots(static_cast<std::size_t>(tokens));
        for (std::int64_t i = 0; i < tokens; ++i) slots[static_cast<std::size_t>(i)] = i % 5 == 4 ? -1 : (i * 7) % 64;
        const PagedCacheShape cache{l, blocks, bs, H, D};
        const TokenRows rows{tokens, H, D, H * D, H * D};
        std::vector<std::uint8_t> kc(static_cast<std::size_t>(cache.bytes()), 0), vc = kc;
        std::vector<std::uint8_t> kr(key.size(), 0), vr = kr;
        ASSERT_EQ(cpu::paged_write(PagedWriteArgs{f, t, rows, key.data(), value.data(), slots.data(), cache, kc.data(),
                                                  vc.data(), &ks, &vs}),
                  Status::success);
        ASSERT_EQ(cpu::paged_read(PagedReadArgs{f, t, rows, kc.data(), vc.data(), cache, slots.data(), kr.data(),
                                                vr.data(), &ks, &vs}),
                  Status::success);
        gpu::DeviceBuffer dk = to_device(device(), key), dv = to_device(device(), value);
        gpu::DeviceBuffer dslots = to_device_value(device(), slots.data(), slots.size() * 8);
        gpu::DeviceBuffer dkc = to_device(device(), std::vector<std::uint8_t>(kc.size(), 0)),
                          dvc = to_device(device(), std::vector<std::uint8_t>(kc.size(), 0));
        gpu::DeviceBuffer dkr = to_device(device(), std::vector<std::uint8_t>(kr.size(), 0)),
                          dvr = to_device(device(), std::vector<std::uint8_t>(kr.size(), 0));
        gpu::DeviceBuffer dks = to_device_value(device(), &ks, 4), dvs = to_device_value(device(), &vs, 4);
        const auto* sl = static_cast<const std::int64_t*>(dslots.data());
        const auto* pks = static_cast<const float*>(dks.data());
        const auto* pvs = static_cast<const float*>(dvs.data());
        run_captured([&](Stream st) {
          const Status r = gpu::paged_write(
              PagedWriteArgs{f, t, rows, dk.data(), dv.data(), sl, cache, static_cast<std::uint8_t*>(dkc.data()),
                             static_cast<std::uint8_t*>(dvc.data()), pks, pvs},
              st);
          if (r != Status::success) return r;
          return gpu::paged_read(
              PagedReadArgs{f, t, rows, static_cast<const std::uint8_t*>(dkc.data()),
                            static_cast<const std::uint8_t*>(dvc.data()), cache, sl, dkr.data(), dvr.data(), pks, pvs},
              st);
        });
        EXPECT_TRUE(diff_bytes(kc, from_device(dkc)).empty()) << describe(f, t);
        EXPECT_TRUE(diff_bytes(vc, from_device(dvc)).empty()) << describe(f, t);
        EXPECT_TRUE(diff_bytes(kr, from_device(dkr)).empty()) << describe(f, t);
        EXPECT_TRUE(diff_bytes(vr, from_device(dvr)).empty()) << describe(f, t);
      }
    }
  }
}

}  // namespace
}  // namespace test
}  // namespace kvscale
