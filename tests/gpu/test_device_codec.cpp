// The loop-free scalar helpers the kernels use (kernels/device_codec.hpp) against the shared codec
// (fp8.hpp, half.hpp), exhaustively. Host-only: runs everywhere, GPU or not.
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

TEST(DeviceCodec, WidenF16EqualsHalfForEveryCode) {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    ASSERT_EQ(bits(dev::widen_f16(h)), bits(half::f16_to_f32(h))) << std::hex << i;
  }
}

TEST(DeviceCodec, DecodeFastEqualsDecodeForEveryCode) {
  for (std::uint32_t c = 0; c < 256; ++c) {
    ASSERT_EQ(bits(dev::decode_fast<Fp8Format::e4m3fn>(c)),
              bits(fp8::decode(Fp8Format::e4m3fn, static_cast<std::uint8_t>(c))))
        << std::hex << c;
    ASSERT_EQ(bits(dev::decode_fast<Fp8Format::e4m3fnuz>(c)),
              bits(fp8::decode(Fp8Format::e4m3fnuz, static_cast<std::uint8_t>(c))))
        << std::hex << c;
  }
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
