// gpu::observe_amax against cpu::observe_amax, bit for bit: every op_case amax case (dtypes, head
// shapes, padded and misaligned rows, padding slots, slot_mapping nullptr, long calls), accumulation
// across calls and streams, and the launch inside stream capture (no allocation, no sync).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/gpu_test.hpp"
#include "common/op_case.hpp"
#include "gpu_backend.hpp"
#include "gpu_util.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"
#if defined(KVSCALE_TEST_HAVE_RUNTIME)
#include "gpu_runtime.hpp"
#endif

namespace kvscale {
namespace test {
namespace {

using GpuAmax = GpuTest;

TEST_F(GpuAmax, EveryCaseMatchesCpuBitForBit) {
  GpuBackend be(device());
  for (const OpCase& c : amax_cases()) {
    const std::string d = eval(c, be);
    ASSERT_TRUE(d.empty()) << c.name() << ": " << d;
  }
}

// Several calls (different data, one with padding slots) into one buffer: amax is bit-exact
// between GPU and CPU after every call.
TEST_F(GpuAmax, AmaxIsBitExactBetweenGpuAndCpu) {
  for (DType t : kDTypes) {
    const TokenRows r{300, 8, 128, 8 * 128, 8 * 128};
    const std::size_t elems = static_cast<std::size_t>(r.num_tokens * r.key_row_stride);
    std::vector<float> want(static_cast<std::size_t>(amax_floats(r.num_kv_heads)), 0.0f);
    gpu::DeviceBuffer damax = to_device_value(device(), want.data(), want.size() * 4);
    std::vector<std::int64_t> slots(static_cast<std::size_t>(r.num_tokens));
    for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = i % 5 == 0 ? -1 : static_cast<std::int64_t>(i);
    gpu::DeviceBuffer dslots = to_device_value(device(), slots.data(), slots.size() * 8);
    for (std::uint32_t call = 0; call < 4; ++call) {
      const std::vector<std::uint8_t> k = make_input(t, elems, 40 + call, kScales[call % 5]);
      const std::vector<std::uint8_t> v = make_input(t, elems, 80 + call, kScales[(call + 2) % 5]);
      gpu::DeviceBuffer dk = to_device(device(), k), dv = to_device(device(), v);
      const std::int64_t* s = call % 2 ? slots.data() : nullptr;
      ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{t, r, k.data(), v.data(), s, want.data()}), Status::success);
      ASSERT_EQ(gpu::observe_amax(ObserveAmaxArgs{t, r, dk.data(), dv.data(),
                                                  call % 2 ? static_cast<const std::int64_t*>(dslots.data()) : nullptr,
                                                  static_cast<float*>(damax.data())},
                                  nullptr),
                Status::success)
          << last_error_message();
      const std::vector<std::uint8_t> got = from_device(damax);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0) << dtype_name(t) << " call " << call;
    }
  }
}

TEST_F(GpuAmax, SizeZeroIsANoOpAndInvalidArgumentsAreRejected) {
  ObserveAmaxArgs a{};
  EXPECT_EQ(gpu::observe_amax(a, nullptr), Status::success);
  a.rows = TokenRows{4, 2, 8, 16, 16};
  EXPECT_EQ(gpu::observe_amax(a, nullptr), Status::invalid_argument);
}

#if defined(KVSCALE_TEST_HAVE_RUNTIME)
TEST_F(GpuAmax, ObserveAmaxUnderCapture) {
  rt::stream_t stream = nullptr;
  ASSERT_EQ(rt::stream_create(&stream), rt::success);
  const TokenRows r{77, 4, 64, 4 * 64 + 16, 4 * 64};
  const DType t = DType::bf16;
  const std::vector<std::uint8_t> k = make_input(t, static_cast<std::size_t>(r.num_tokens * r.key_row_stride), 3, 0.1f);
  const std::vector<std::uint8_t> v =
      make_input(t, static_cast<std::size_t>(r.num_tokens * r.value_row_stride), 4, 2.0f);
  std::vector<float> want(static_cast<std::size_t>(amax_floats(r.num_kv_heads)), 0.0f);
  gpu::DeviceBuffer dk = to_device(device(), k), dv = to_device(device(), v);
  gpu::DeviceBuffer damax = to_device_value(device(), want.data(), want.size() * 4);
  ASSERT_EQ(cpu::observe_amax(ObserveAmaxArgs{t, r, k.data(), v.data(), nullptr, want.data()}), Status::success);
  ASSERT_EQ(rt::stream_begin_capture(stream), rt::success);
  const Status s =
      gpu::observe_amax(ObserveAmaxArgs{t, r, dk.data(), dv.data(), nullptr, static_cast<float*>(damax.data())},
                        static_cast<Stream>(stream));
  rt::graph_t g = nullptr;
  const rt::error_t end = rt::stream_end_capture(stream, &g);
  ASSERT_EQ(s, Status::success) << last_error_message();
  ASSERT_EQ(end, rt::success) << rt::describe(end);
  rt::graph_exec_t exec = nullptr;
  ASSERT_EQ(rt::graph_instantiate(&exec, g), rt::success);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(rt::graph_launch(exec, stream), rt::success);  // replays accumulate
  ASSERT_EQ(rt::stream_synchronize(stream), rt::success);
  (void)rt::graph_exec_destroy(exec);
  (void)rt::graph_destroy(g);
  (void)rt::stream_destroy(stream);
  const std::vector<std::uint8_t> got = from_device(damax);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
}
#endif

}  // namespace
}  // namespace test
}  // namespace kvscale
