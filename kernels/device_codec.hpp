// kernels/device_codec.hpp: per-element and 16-element conversions used by the GPU kernels.
//
// Every function here produces exactly the bits of fp8.hpp / half.hpp (docs/fp8-semantics.md):
//   - the scalar helpers (widen, narrow) call the shared codec, whose fp8::decode and
//     half::f16_to_f32 are loop-free (tests/codec checks them exhaustively against loop oracles);
//     narrow<f32>'s NaN rule is checked on the host by tests/gpu, with or without a GPU;
//   - on gfx940/941/942 (FNUZ) and gfx950 (OCP fn), when the cache format is the arch's native one,
//     encoding uses v_cvt_pk_fp8_f32 and decoding v_cvt_f32_fp8, wrapped so that the bytes still
//     equal fp8::encode: the instruction rounds to nearest even but does not saturate (overflow and
//     +-inf give NaN), so inputs are clamped to +-max first; NaN inputs are fed as +qNaN (OCP NaN
//     is 0x7F|sign: the spec drops the sign) and FNUZ results that would be -0 are fed as +0
//     (FNUZ has no -0; 0x80 is its NaN); on NVIDIA sm_89+, e4m3fn encoding uses
//     cvt.rn.satfinite.e4m3x2.f32 (saturating; NaN bytes canonicalised afterwards). Everywhere
//     else the shared software codec runs.
// Division is always one IEEE float32 division x / scale (no reciprocal, no fast-math).
// On the host emulator (KVSCALE_HOST_EMU, tests/emulator) the device part compiles as C++; with
// KVSCALE_EMU_ARCH=942/950 the hardware path runs against models of the instructions.
#pragma once

#include <cstdint>

#if defined(__HIPCC__) || defined(__CUDACC__) || defined(KVSCALE_HOST_EMU)
#include "gpu_runtime.hpp"  // first: hip_runtime.h defines __host__ / __device__ for the headers below
#define KVSCALE_DEVICE_CODE 1
#else
#define KVSCALE_DEVICE_CODE 0
#endif
#include "kvscale/config.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/half.hpp"
#include "kvscale/kv_cache.hpp"

// __restrict__ on a pointer whose type depends on a template parameter (Op::Row<T>): clang and
// g++ accept it, nvcc refuses it ("restrict" is not allowed), so it is dropped there.
#if defined(__CUDACC__) && !defined(__clang__)
#define KVSCALE_RESTRICT_DEP
#else
#define KVSCALE_RESTRICT_DEP __restrict__
#endif

#if defined(__HIP_DEVICE_COMPILE__) && (defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__))
#define KVSCALE_HW_FP8 1
#define KVSCALE_HW_FP8_FORMAT ::kvscale::Fp8Format::e4m3fnuz
#elif defined(__HIP_DEVICE_COMPILE__) && defined(__gfx950__)
#define KVSCALE_HW_FP8 1
#define KVSCALE_HW_FP8_FORMAT ::kvscale::Fp8Format::e4m3fn
#elif defined(KVSCALE_HOST_EMU) && defined(KVSCALE_EMU_HW_FP8_FORMAT)  // emulated gfx94x / gfx950
#define KVSCALE_HW_FP8 1
#define KVSCALE_HW_FP8_FORMAT KVSCALE_EMU_HW_FP8_FORMAT
#else
#define KVSCALE_HW_FP8 0
#endif

// NVIDIA sm_89+ (Ada, Hopper, Blackwell): e4m3fn encoding with cvt.rn.satfinite.e4m3x2.f32 (RNE,
// overflow and +-inf saturate to +-448, -0 and tiny negatives keep the sign: 0x80). NaN bytes are
// replaced by the canonical 0x7F afterwards, whatever sign the instruction keeps. e4m3fnuz stays
// software on NVIDIA.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define KVSCALE_CUDA_HW_E4M3FN 1
#else
#define KVSCALE_CUDA_HW_E4M3FN 0
#endif

#if defined(__HIPCC__) || defined(__CUDACC__)
#define KVSCALE_DEVICE_INLINE __host__ __device__ __forceinline__
#else
#define KVSCALE_DEVICE_INLINE inline
#endif

namespace kvscale {
namespace dev {

using fp8::detail::bits_of;
using fp8::detail::float_of;

/// Storage type of one unquantized element.
template <DType T>
struct Wide {
  using type = std::uint16_t;
};
template <>
struct Wide<DType::f32> {
  using type = float;
};

template <DType T>
KVSCALE_DEVICE_INLINE float widen(typename Wide<T>::type x) {
  if constexpr (T == DType::f32) {
    return x;
  } else if constexpr (T == DType::f16) {
    return half::f16_to_f32(x);
  } else {
    return half::bf16_to_f32(x);
  }
}

/// float32 -> element, one RNE rounding; NaN becomes the canonical quiet NaN of the type
/// (f32 0x7FC00000, as the CPU's decode(q) * scale gives; f16 0x7E00; bf16 0x7FC0).
template <DType T>
KVSCALE_DEVICE_INLINE typename Wide<T>::type narrow(float x) {
  if constexpr (T == DType::f32) {
    return x != x ? float_of(0x7FC00000u) : x;
  } else if constexpr (T == DType::f16) {
    return half::f32_to_f16(x);
  } else {
    return half::f32_to_bf16(x);
  }
}

#if KVSCALE_DEVICE_CODE
// ---- Device-only (or emulated) from here on. ----

#if KVSCALE_HW_FP8
/// Prepares x (already divided by the scale) for v_cvt_pk_fp8_f32 so that its byte equals
/// fp8::encode(F, x). Only used when F is the arch's native format.
template <Fp8Format F>
__device__ __forceinline__ float hw_prep(float x) {
  constexpr float mx = fp8::max_finite(F);
  const float c = __builtin_amdgcn_fmed3f(x, -mx, mx);  // saturate: +-inf and |x| > max -> +-max
  if constexpr (F == Fp8Format::e4m3fnuz) {
    // |x| <= 2^-11 rounds to zero (2^-11 is a tie, even = 0): feed +0, never -0.
    const float z = __builtin_fabsf(c) <= 0x1p-11f ? 0.0f : c;
    return x != x ? x : z;  // NaN -> 0x80, the only FNUZ NaN
  } else {
    return x != x ? __builtin_nanf("") : c;  // +qNaN -> 0x7F (sign dropped)
  }
}
#endif

#if KVSCALE_CUDA_HW_E4M3FN
/// Two already-divided values -> two e4m3fn codes in one word (lo in byte 0, hi in byte 1), equal
/// to fp8::encode(e4m3fn, .). The PTX instruction puts its FIRST source operand in the UPPER byte.
__device__ __forceinline__ std::uint32_t cuda_e4m3fn_x2(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  std::uint32_t w = r;
  if (lo != lo) w = (w & 0xFF00u) | 0x7Fu;  // NaN -> 0x7F, sign dropped (spec)
  if (hi != hi) w = (w & 0x00FFu) | 0x7F00u;
  return w;
}
#endif

/// quantize(x, s) for one element.
template <Fp8Format F>
__device__ __forceinline__ std::uint32_t encode1(float y) {
#if KVSCALE_CUDA_HW_E4M3FN
  if constexpr (F == Fp8Format::e4m3fn) return cuda_e4m3fn_x2(y, 0.0f) & 0xFFu;
#endif
#if KVSCALE_HW_FP8
  if constexpr (F == KVSCALE_HW_FP8_FORMAT) {
    const float p = hw_prep<F>(y);
    return static_cast<std::uint32_t>(__builtin_amdgcn_cvt_pk_fp8_f32(p, p, 0, false)) & 0xFFu;
  }
#endif
  return fp8::encode(F, y);
}

/// Four already-divided values -> four codes in one little-endian word (v[0] in the low byte).
template <Fp8Format F>
__device__ __forceinline__ std::uint32_t encode4(float a, float b, float c, float d) {
#if KVSCALE_CUDA_HW_E4M3FN
  if constexpr (F == Fp8Format::e4m3fn) return cuda_e4m3fn_x2(a, b) | (cuda_e4m3fn_x2(c, d) << 16);
#endif
#if KVSCALE_HW_FP8
  if constexpr (F == KVSCALE_HW_FP8_FORMAT) {
    int w = __builtin_amdgcn_cvt_pk_fp8_f32(hw_prep<F>(a), hw_prep<F>(b), 0, false);
    w = __builtin_amdgcn_cvt_pk_fp8_f32(hw_prep<F>(c), hw_prep<F>(d), w, true);
    return static_cast<std::uint32_t>(w);
  }
#endif
  return static_cast<std::uint32_t>(fp8::encode(F, a)) | (static_cast<std::uint32_t>(fp8::encode(F, b)) << 8) |
         (static_cast<std::uint32_t>(fp8::encode(F, c)) << 16) | (static_cast<std::uint32_t>(fp8::encode(F, d)) << 24);
}

/// Decodes the four codes of a word into out[0..3] (exact; NaN codes give a NaN).
template <Fp8Format F>
__device__ __forceinline__ void decode4(std::uint32_t w, float* out) {
#if KVSCALE_HW_FP8
  if constexpr (F == KVSCALE_HW_FP8_FORMAT) {
    const int iw = static_cast<int>(w);
    out[0] = __builtin_amdgcn_cvt_f32_fp8(iw, 0);
    out[1] = __builtin_amdgcn_cvt_f32_fp8(iw, 1);
    out[2] = __builtin_amdgcn_cvt_f32_fp8(iw, 2);
    out[3] = __builtin_amdgcn_cvt_f32_fp8(iw, 3);
    return;
  }
#endif
  out[0] = fp8::decode(F, static_cast<std::uint8_t>(w & 0xFFu));
  out[1] = fp8::decode(F, static_cast<std::uint8_t>((w >> 8) & 0xFFu));
  out[2] = fp8::decode(F, static_cast<std::uint8_t>((w >> 16) & 0xFFu));
  out[3] = fp8::decode(F, static_cast<std::uint8_t>(w >> 24));
}

template <Fp8Format F, DType T>
__device__ __forceinline__ std::uint8_t quantize1(typename Wide<T>::type x, float s) {
  return static_cast<std::uint8_t>(encode1<F>(widen<T>(x) / s));
}

template <Fp8Format F, DType T>
__device__ __forceinline__ typename Wide<T>::type dequantize1(std::uint8_t c, float s) {
  float v[4];
  decode4<F>(c, v);
  return narrow<T>(v[0] * s);
}

/// Loads 16 elements (16-byte aligned) as floats: 4 (f32) or 2 (f16/bf16) 16-byte loads.
template <DType T>
__device__ __forceinline__ void load16(const typename Wide<T>::type* p, float* v) {
  if constexpr (T == DType::f32) {
    const float4* q = reinterpret_cast<const float4*>(p);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float4 x = q[i];
      v[4 * i + 0] = x.x;
      v[4 * i + 1] = x.y;
      v[4 * i + 2] = x.z;
      v[4 * i + 3] = x.w;
    }
  } else {
    const uint4* q = reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const uint4 x = q[i];
      const std::uint32_t w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[8 * i + 2 * j + 0] = widen<T>(static_cast<std::uint16_t>(w[j] & 0xFFFFu));
        v[8 * i + 2 * j + 1] = widen<T>(static_cast<std::uint16_t>(w[j] >> 16));
      }
    }
  }
}

/// Stores 16 floats (16-byte aligned) as elements, each rounded once.
template <DType T>
__device__ __forceinline__ void store16(typename Wide<T>::type* p, const float* v) {
  if constexpr (T == DType::f32) {
    float4* q = reinterpret_cast<float4*>(p);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      q[i] = make_float4(narrow<T>(v[4 * i + 0]), narrow<T>(v[4 * i + 1]), narrow<T>(v[4 * i + 2]),
                         narrow<T>(v[4 * i + 3]));
    }
  } else {
    uint4* q = reinterpret_cast<uint4*>(p);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      std::uint32_t w[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        w[j] = static_cast<std::uint32_t>(narrow<T>(v[8 * i + 2 * j])) |
               (static_cast<std::uint32_t>(narrow<T>(v[8 * i + 2 * j + 1])) << 16);
      }
      q[i] = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
}

/// 16 elements (16-byte aligned) -> 16 codes (16-byte aligned): quantize(x, s) each.
template <Fp8Format F, DType T>
__device__ __forceinline__ void quantize16(const typename Wide<T>::type* in, std::uint8_t* out, float s) {
  float v[16];
  load16<T>(in, v);
#pragma unroll
  for (int i = 0; i < 16; ++i) v[i] = v[i] / s;
  *reinterpret_cast<uint4*>(out) =
      make_uint4(encode4<F>(v[0], v[1], v[2], v[3]), encode4<F>(v[4], v[5], v[6], v[7]),
                 encode4<F>(v[8], v[9], v[10], v[11]), encode4<F>(v[12], v[13], v[14], v[15]));
}

/// 16 codes (16-byte aligned) -> 16 elements (16-byte aligned): round(decode(q) * s) each.
template <Fp8Format F, DType T>
__device__ __forceinline__ void dequantize16(const std::uint8_t* in, typename Wide<T>::type* out, float s) {
  const uint4 q = *reinterpret_cast<const uint4*>(in);
  float v[16];
  decode4<F>(q.x, v + 0);
  decode4<F>(q.y, v + 4);
  decode4<F>(q.z, v + 8);
  decode4<F>(q.w, v + 12);
#pragma unroll
  for (int i = 0; i < 16; ++i) v[i] = v[i] * s;
  store16<T>(out, v);
}

/// The two directions of every kernel, as operations over (row, cache) pairs, so that each
/// traversal is written once (rocPRIM's transform style): Quantize moves rows into the cache,
/// Dequantize the cache into rows. Row<T> / Cache are the pointer types each side has.
struct Quantize {
  static constexpr bool kToCache = true;
  template <DType T>
  using Row = const typename Wide<T>::type*;
  using Cache = std::uint8_t*;
  template <Fp8Format F, DType T>
  __device__ __forceinline__ static void move16(Row<T> row, Cache cache, float s) {
    quantize16<F, T>(row, cache, s);
  }
  template <Fp8Format F, DType T>
  __device__ __forceinline__ static void move1(Row<T> row, Cache cache, float s) {
    *cache = quantize1<F, T>(*row, s);
  }
};

struct Dequantize {
  static constexpr bool kToCache = false;
  template <DType T>
  using Row = typename Wide<T>::type*;
  using Cache = const std::uint8_t*;
  template <Fp8Format F, DType T>
  __device__ __forceinline__ static void move16(Row<T> row, Cache cache, float s) {
    dequantize16<F, T>(cache, row, s);
  }
  template <Fp8Format F, DType T>
  __device__ __forceinline__ static void move1(Row<T> row, Cache cache, float s) {
    *row = dequantize1<F, T>(*cache, s);
  }
};

/// Moves one contiguous segment [0, len) between `row` and `cache` in Op's direction, with
/// `nlanes` cooperating threads (this one is `lane`): a scalar head up to the first 16-byte
/// boundary of the FP8 side, 16-element vectors, a scalar tail. When both sides cannot be 16-byte
/// aligned at the same element, all of it is scalar.
template <class Op, Fp8Format F, DType T, typename I>
__device__ __forceinline__ void transform_segment(typename Op::template Row<T> KVSCALE_RESTRICT_DEP row,
                                                  typename Op::Cache KVSCALE_RESTRICT_DEP cache, I len, float s, I lane,
                                                  I nlanes) {
  I head = static_cast<I>((16u - (reinterpret_cast<std::uintptr_t>(cache) & 15u)) & 15u);
  if (head > len) head = len;
  if ((reinterpret_cast<std::uintptr_t>(row + head) & 15u) != 0) head = len;
  const I nvec = (len - head) / 16;
  const I tail = head + nvec * 16;
  for (I i = lane; i < nvec; i += nlanes) Op::template move16<F, T>(row + head + 16 * i, cache + head + 16 * i, s);
  for (I i = lane; i < head; i += nlanes) Op::template move1<F, T>(row + i, cache + i, s);
  for (I i = tail + lane; i < len; i += nlanes) Op::template move1<F, T>(row + i, cache + i, s);
}

#endif  // KVSCALE_DEVICE_CODE

}  // namespace dev
}  // namespace kvscale
