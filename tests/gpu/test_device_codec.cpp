// The scalar helpers the kernels use (kernels/device_codec.hpp) against the shared codec (fp8.hpp,
// half.hpp). Host-only: runs everywhere, GPU or not. (The loop-free decode and f16 widening are
// the shared codec's own definitions; tests/codec checks them exhaustively.)
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "device_codec.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace {

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(DeviceCodec, NarrowF32CanonicalisesNaNOnly) {
  float nan_neg;
  const std::uint32_t u = 0xFFC01234u;
  std::memcpy(&nan_neg, &u, 4);
  EXPECT_EQ(bits(dev::narrow<DType::f32>(nan_neg)), 0x7FC00000u);
  EXPECT_EQ(bits(dev::narrow<DType::f32>(-0.0f)), 0x80000000u);
  EXPECT_EQ(bits(dev::narrow<DType::f32>(1.5f)), bits(1.5f));
  EXPECT_EQ(dev::narrow<DType::f16>(nan_neg), 0x7E00);
  EXPECT_EQ(dev::narrow<DType::bf16>(nan_neg), 0x7FC0);
}

// The identity the dequantize kernels rely on for f32 output: decode(q) * s on the CPU gives the
// canonical NaN for NaN codes, which is what narrow<f32> writes.
TEST(DeviceCodec, CpuNaNTimesScaleIsCanonical) {
  volatile float s = 0.1f;
  const float p = fp8::decode(Fp8Format::e4m3fn, 0x7F) * s;
  EXPECT_EQ(bits(p), 0x7FC00000u);
}

}  // namespace
}  // namespace kvscale
