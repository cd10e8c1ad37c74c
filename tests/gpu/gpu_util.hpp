// Helpers of the GPU tests: input generators with every special value, device round trips, and
// byte comparisons that name the first difference.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace test {

inline const Fp8Format kFormats[] = {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz};
inline const DType kDTypes[] = {DType::f32, DType::f16, DType::bf16};
inline const std::size_t kSizes[] = {0, 1, 15, 16, 17, 127, 128, 129, 4095, 4096, 4097, 1000000};

inline std::uint32_t f2u(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Scales exercised: 1, 0.1 (the spec's division-vs-reciprocal example), a real vLLM scale, a
/// power of two, and a large one.
inline const float kScales[] = {1.0f, u2f(0x3DCCCCCDu), 0.0152239128947258f, 0.0078125f, 3.5f};

/// n elements of `t` as raw bytes: mostly values in the fp8 range around the scale, plus every
/// special: +-0, +-inf, NaNs of both signs, huge values, values near the saturation threshold,
/// subnormals, and random bit patterns (all fp16/bf16 codes appear in large inputs).
inline std::vector<std::uint8_t> make_input(DType t, std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 64.0f);
  std::vector<std::uint8_t> bytes(n * dtype_size(t));
  const float specials[] = {0.0f,      -0.0f,  u2f(0x7F800000u), u2f(0xFF800000u), u2f(0x7FC00000u), u2f(0xFFC00001u),
                            1e30f,     -1e30f, 448.0f,           464.0f,           465.0f,           -464.0f,
                            240.0f,    248.0f, -249.0f,          0x1p-9f,          0x1p-10f,         0x1p-11f,
                            -0x1p-11f, 3e-5f,  -3.3e-5f,         1e-40f,           -1e-40f};
  for (std::size_t i = 0; i < n; ++i) {
    const auto pick = static_cast<std::uint32_t>(rng() % 16);
    float x;
    const auto raw = static_cast<std::uint32_t>(rng());
    if (pick == 0) {
      x = specials[rng() % (sizeof specials / sizeof specials[0])] * (rng() % 2 ? scale : 1.0f);
    } else if (pick == 1) {
      x = u2f(raw);  // any bit pattern
    } else {
      x = normal(rng) * scale;
    }
    if (t == DType::f32) {
      std::memcpy(&bytes[4 * i], &x, 4);
    } else {
      std::uint16_t h;
      if (pick == 1) {
        h = static_cast<std::uint16_t>(raw >> 16);
      } else if (t == DType::bf16) {
        h = static_cast<std::uint16_t>(f2u(x) >> 16);  // truncation is fine for test data
      } else {
        // crude f32 -> f16 for test data (exactness is irrelevant; all codes are valid inputs)
        const std::uint32_t u = f2u(x);
        const std::uint32_t sign = (u >> 16) & 0x8000u;
        const int e = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
          h = 0x7E00;
        } else if (e >= 31) {
          h = static_cast<std::uint16_t>(sign | 0x7C00u);
        } else if (e <= 0) {
          h = static_cast<std::uint16_t>(sign | (raw & 0x3FFu));  // subnormal
        } else {
          h = static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(e) << 10) | ((u >> 13) & 0x3FFu));
        }
      }
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

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

/// Empty when equal; otherwise where and what the first differences are.
inline std::string diff_bytes(const std::vector<std::uint8_t>& want, const std::vector<std::uint8_t>& got) {
  if (want.size() != got.size())
    return "sizes differ: " + std::to_string(want.size()) + " vs " + std::to_string(got.size());
  std::string out;
  std::size_t count = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i]) {
      if (count < 8) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "byte %zu: want %02x got %02x; ", i, want[i], got[i]);
        out += buf;
      }
      ++count;
    }
  }
  if (count) out += std::to_string(count) + " bytes differ";
  return out;
}

inline std::string describe(Fp8Format f, DType t) { return std::string(format_name(f)) + "/" + dtype_name(t); }

}  // namespace test
}  // namespace kvscale
