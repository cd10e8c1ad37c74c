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
  lut->split_ok = false;  // only the AVX2 kernels use the split form; their builder derives it
  lut->bytes_ok = false;  // and only the VBMI kernels the byte planes
}

namespace {
// a(c) of DequantLut: what an exponent step adds to the high byte.
unsigned split_add(DType t, unsigned c) { return t == DType::bf16 ? (c >> 4) & 7u : (c >> 1) & 0x3Cu; }
}  // namespace

void derive_split16(DequantLut* lut) noexcept {
  lut->split_ok = false;
  if (lut->dtype == DType::f32) return;
  const DType t = lut->dtype;
  for (unsigned i = 0; i < 16; ++i) {
    // The smallest normal code with these low 4 bits: exponent 1 (bit 3 set) or 2.
    const unsigned c = (i & 8u) ? i : (16u | i);
    const std::uint16_t v = lut->out16[c];
    lut->split_lo[i] = static_cast<std::uint8_t>(v);
    lut->split_hi[i] = static_cast<std::uint8_t>((v >> 8) - split_add(t, c));
    lut->sub_lo[i] = static_cast<std::uint8_t>(lut->out16[i & 7u]);
    lut->sub_hi[i] = static_cast<std::uint8_t>(lut->out16[i & 7u] >> 8);
  }
  lut->nan16 = lut->out16[fp8::nan_code(lut->format)];
  for (unsigned c = 0; c < 256; ++c) {
    const unsigned i = c & 15u, e = (c >> 3) & 15u;
    unsigned lo = e ? lut->split_lo[i] : lut->sub_lo[i];
    unsigned hi = e ? (lut->split_hi[i] + split_add(t, c)) & 0xFFu : lut->sub_hi[i];
    hi |= c & 0x80u;
    if (fp8::is_nan_code(lut->format, static_cast<std::uint8_t>(c))) {
      lo = lut->nan16 & 0xFFu;
      hi = lut->nan16 >> 8;
    }
    if (((hi << 8) | lo) != lut->out16[c]) return;  // e.g. f16 results that overflow or go subnormal
  }
  lut->split_ok = true;
}

void derive_bytes16(DequantLut* lut) noexcept {
  lut->bytes_ok = false;
  if (lut->dtype == DType::f32) return;
  for (unsigned c = 0; c < 256; ++c) {
    lut->lo8[c] = static_cast<std::uint8_t>(lut->out16[c]);
    lut->hi8[c] = static_cast<std::uint8_t>(lut->out16[c] >> 8);
  }
  lut->bytes_ok = true;
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
  return RowKernels{quantize_row_scalar,
                    dequantize_row_scalar,
                    quantize_row_scalar,
                    dequantize_row_scalar,
                    build_dequant_lut,
                    tile_to_columns16_scalar,
                    columns16_to_tile_scalar,
                    nullptr,
                    nullptr};
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
