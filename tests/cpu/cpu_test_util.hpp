// Shared by the CPU backend tests: ISA/thread sweeps and reference tables built from reference.hpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "codec/reference.hpp"
#include "kvscale/cpu.hpp"

namespace cputest {

using kvscale::DType;
using kvscale::Fp8Format;
namespace cpu = kvscale::cpu;

constexpr Fp8Format kFormats[] = {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz};
constexpr DType kDTypes[] = {DType::f32, DType::f16, DType::bf16};

/// The ISA levels this machine runs (scalar always).
inline std::vector<cpu::Isa> isas() {
  std::vector<cpu::Isa> v;
  for (cpu::Isa i : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512})
    if (cpu::set_max_isa(i) == i) v.push_back(i);
  cpu::set_max_isa(cpu::Isa::best);
  return v;
}

/// Restores the backend's defaults when a test ends.
struct BackendGuard {
  ~BackendGuard() {
    cpu::set_max_isa(cpu::Isa::best);
    cpu::set_num_threads(0);
  }
};

inline std::string where(cpu::Isa isa, int threads, Fp8Format f, DType t) {
  return std::string(cpu::isa_name(isa)) + " threads=" + std::to_string(threads) + " " + kvscale::format_name(f) + " " +
         kvscale::dtype_name(t);
}

/// Element value of a raw element (f32 bits or 16-bit pattern) as float32, by the reference.
inline float widen(DType t, std::uint32_t raw) {
  switch (t) {
    case DType::f32: return ref::from_bits(raw);
    case DType::f16: return static_cast<float>(ref::f16_value(static_cast<std::uint16_t>(raw)));
    default: return static_cast<float>(ref::bf16_value(static_cast<std::uint16_t>(raw)));
  }
}

/// Reference quantize of one raw element; memoised over all 65536 inputs for 16-bit types.
class RefQuant {
 public:
  RefQuant(Fp8Format f, DType t, float scale) : f_(f), t_(t), s_(scale) {
    if (t != DType::f32) {
      table_.resize(65536);
      for (std::uint32_t h = 0; h < 65536; ++h) table_[h] = ref::quantize(f, widen(t, h), scale);
    }
  }
  std::uint8_t operator()(std::uint32_t raw) const {
    return t_ == DType::f32 ? ref::quantize(f_, ref::from_bits(raw), s_) : table_[raw & 0xFFFF];
  }

 private:
  Fp8Format f_;
  DType t_;
  float s_;
  std::vector<std::uint8_t> table_;
};

/// Reference dequantize of one code to the raw output element (f32 bits or 16-bit pattern).
inline std::uint32_t ref_dequant(Fp8Format f, DType t, int code, float scale) {
  const float p = ref::dequantize_f32(f, code, scale);
  switch (t) {
    case DType::f32: return ref::bits(p);
    case DType::f16: return ref::to_f16(p);
    default: return ref::to_bf16(p);
  }
}

/// Random raw inputs: half realistic values (normal, some beyond max, some tiny), half arbitrary
/// bit patterns (NaN payloads, infinities, subnormals, zeros of both signs).
inline std::vector<std::uint32_t> random_raw(DType t, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::uint32_t> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = rng();
    float x;
    switch (r % 4) {
      case 0: x = normal(rng) * 100.0f; break;
      case 1: x = normal(rng) * 1e-3f; break;
      case 2: x = normal(rng) * 1000.0f; break;
      default: x = 0; break;
    }
    std::uint32_t raw;
    if (r % 4 == 3) {
      raw = static_cast<std::uint32_t>(r >> 32);
    } else if (t == DType::f32) {
      raw = ref::bits(x);
    } else {
      raw = t == DType::f16 ? ref::to_f16(x) : ref::to_bf16(x);
    }
    v[i] = t == DType::f32 ? raw : (raw & 0xFFFFu);
  }
  return v;
}

/// Writes raw elements into a byte buffer of dtype t.
inline void store_raw(DType t, const std::uint32_t* raw, std::size_t n, unsigned char* out) {
  for (std::size_t i = 0; i < n; ++i) {
    if (t == DType::f32) {
      std::memcpy(out + 4 * i, &raw[i], 4);
    } else {
      const auto h = static_cast<std::uint16_t>(raw[i]);
      std::memcpy(out + 2 * i, &h, 2);
    }
  }
}

inline std::uint32_t load_raw(DType t, const unsigned char* p, std::size_t i) {
  if (t == DType::f32) {
    std::uint32_t u;
    std::memcpy(&u, p + 4 * i, 4);
    return u;
  }
  std::uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return h;
}

}  // namespace cputest
