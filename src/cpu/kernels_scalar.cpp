// Portable row kernels: the scalar codec of fp8.hpp / half.hpp, element by element. Dequantize
// reads the 256-entry table that build_dequant_lut() computes with the same scalar code.
#include <cstring>

#include "cpu/kernels.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

template <typename T>
T load_elem(const void* base, std::size_t i) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(base) + i * sizeof(T), sizeof(T));
  return v;
}

template <typename T>
void store_elem(void* base, std::size_t i, T v) {
  std::memcpy(static_cast<unsigned char*>(base) + i * sizeof(T), &v, sizeof(T));
}

}  // namespace

void build_dequant_lut(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept {
  for (int c = 0; c < 256; ++c) {
    const float p = fp8::dequantize(f, static_cast<std::uint8_t>(c), scale);
    lut->out32[c] = p;
    lut->out16[c] = t == DType::f16 ? half::f32_to_f16(p) : half::f32_to_bf16(p);
  }
  lut->format = f;
  lut->dtype = t;
  lut->scale_bits = fp8::detail::bits_of(scale);
  lut->valid = true;
}

void quantize_row_scalar(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale) {
  switch (t) {
    case DType::f32:
      for (std::size_t i = 0; i < n; ++i) out[i] = fp8::quantize(f, load_elem<float>(in, i), scale);
      break;
    case DType::f16:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = fp8::quantize(f, half::f16_to_f32(load_elem<std::uint16_t>(in, i)), scale);
      break;
    case DType::bf16:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = fp8::quantize(f, half::bf16_to_f32(load_elem<std::uint16_t>(in, i)), scale);
      break;
  }
}

void dequantize_row_scalar(Fp8Format, DType t, const std::uint8_t* in, void* out, std::size_t n, float,
                           const DequantLut& lut) {
  if (t == DType::f32) {
    for (std::size_t i = 0; i < n; ++i) store_elem<float>(out, i, lut.out32[in[i]]);
  } else {
    for (std::size_t i = 0; i < n; ++i) store_elem<std::uint16_t>(out, i, lut.out16[in[i]]);
  }
}

void tile_to_columns16_scalar(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                              std::uint8_t* dst) {
  for (std::size_t o = 0; o < 16; ++o)
    if ((mask >> o) & 1u)
      for (std::size_t e = 0; e < d; ++e) dst[e * 16 + o] = tile[o * pitch + e];
}

void columns16_to_tile_scalar(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch) {
  for (std::size_t o = 0; o < 16; ++o)
    for (std::size_t e = 0; e < d; ++e) tile[o * pitch + e] = src[e * 16 + o];
}

RowKernels scalar_kernels() noexcept {
  return RowKernels{quantize_row_scalar, dequantize_row_scalar,    quantize_row_scalar,     dequantize_row_scalar,
                    build_dequant_lut,   tile_to_columns16_scalar, columns16_to_tile_scalar};
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
