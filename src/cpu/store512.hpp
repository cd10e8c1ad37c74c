// Private to the CPU backend: the 64-byte store of the AVX-512 kernels, non-temporal where NT (p
// must then be 64-byte aligned). Include it after the file's AVX-512 target pragma
// (simd_target.hpp), inside its anonymous namespace, as bf16_step_kernel.hpp.
#pragma once

template <bool NT>
inline void store512(void* p, __m512i v) {
  if constexpr (NT) {
    _mm512_stream_si512(static_cast<__m512i*>(p), v);
  } else {
    _mm512_storeu_si512(p, v);
  }
}
