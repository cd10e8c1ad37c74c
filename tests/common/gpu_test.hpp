// tests/common/gpu_test.hpp: the fixture of every GPU test.
//
// Without a usable device the test is skipped (ctest reports "Skipped"), unless the environment
// says KVSCALE_REQUIRE_GPU=1: then a missing device is a failure, so that a GPU runner that lost
// its GPU cannot pass by skipping everything. KVSCALE_TEST_DEVICE picks the device (default 0).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "kvscale/gpu.hpp"
#include "kvscale/status.hpp"

namespace kvscale {
namespace test {

inline bool require_gpu() {
  const char* v = std::getenv("KVSCALE_REQUIRE_GPU");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

inline int test_device() {
  const char* v = std::getenv("KVSCALE_TEST_DEVICE");
  return v != nullptr ? std::atoi(v) : 0;
}

/// Empty string when the test device is usable; otherwise why not.
inline std::string gpu_unavailable_reason() {
  int n = 0;
  const Status s = gpu::device_count(&n);
  if (s != Status::success || n == 0)
    return std::string(gpu::backend_name()) + " backend: " + status_name(s) + ": " + last_error_message();
  const int d = test_device();
  if (d < 0 || d >= n) return "KVSCALE_TEST_DEVICE=" + std::to_string(d) + " but " + std::to_string(n) + " device(s)";
  if (gpu::set_device(d) != Status::success) return "set_device(" + std::to_string(d) + "): " + last_error_message();
  return {};
}

/// Skips (or, under KVSCALE_REQUIRE_GPU=1, fails) the calling test when there is no device.
/// Use as the first statement of a test or SetUp(): KVSCALE_REQUIRE_DEVICE_OR_SKIP();
#define KVSCALE_REQUIRE_DEVICE_OR_SKIP()                                                          \
  do {                                                                                            \
    const std::string kvscale_why_ = ::kvscale::test::gpu_unavailable_reason();                   \
    if (!kvscale_why_.empty()) {                                                                  \
      if (::kvscale::test::require_gpu()) FAIL() << "KVSCALE_REQUIRE_GPU=1 but " << kvscale_why_; \
      GTEST_SKIP() << "no GPU device: " << kvscale_why_;                                          \
    }                                                                                             \
  } while (0)

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KVSCALE_REQUIRE_DEVICE_OR_SKIP();
    device_ = test_device();
  }
  int device() const { return device_; }

 private:
  int device_ = 0;
};

}  // namespace test
}  // namespace kvscale
