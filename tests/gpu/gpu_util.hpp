// Helpers of the GPU tests: device round trips. Inputs, case lists and byte comparisons live in
// tests/common/op_case.hpp (shared with the emulated tests).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/op_case.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace test {

/// A device copy of `host` (same size).
inline gpu::DeviceBuffer to_device(int device, const std::vector<std::uint8_t>& host) {
  gpu::DeviceBuffer b;
  EXPECT_EQ(gpu::DeviceBuffer::create(device, host.size(), &b), Status::success) << last_error_message();
  EXPECT_EQ(b.upload(host.data(), host.size(), nullptr), Status::success) << last_error_message();
  return b;
}

inline gpu::DeviceBuffer to_device_value(int device, const void* p, std::size_t bytes) {
  std::vector<std::uint8_t> v(bytes);
  std::memcpy(v.data(), p, bytes);
  gpu::DeviceBuffer b = to_device(device, v);
  EXPECT_EQ(gpu::synchronize(nullptr), Status::success) << last_error_message();  // v dies here
  return b;
}

inline std::vector<std::uint8_t> from_device(const gpu::DeviceBuffer& b) {
  std::vector<std::uint8_t> v(b.size());
  EXPECT_EQ(b.download(v.data(), v.size(), nullptr), Status::success) << last_error_message();
  EXPECT_EQ(gpu::synchronize(nullptr), Status::success) << last_error_message();
  return v;
}

}  // namespace test
}  // namespace kvscale
