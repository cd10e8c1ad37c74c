// Private to the CPU backend: enables an instruction set for the functions of one file, with GCC
// or clang, rather than per-file -mavx* flags (src/CMakeLists.txt says why), so that the file builds
// the same whatever flags the build system passes.
//
//   #include <immintrin.h>          // every include first: what follows BEGIN takes the target
//   KVSCALE_SIMD_BEGIN("avx2,fma,f16c")
//   ... functions ...
//   KVSCALE_SIMD_END()
//
// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports once inlined (a known false positive): the region silences it.
#pragma once

#define KVSCALE_SIMD_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define KVSCALE_SIMD_BEGIN(isa) \
  KVSCALE_SIMD_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define KVSCALE_SIMD_END() KVSCALE_SIMD_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define KVSCALE_SIMD_BEGIN(isa)                                       \
  KVSCALE_SIMD_PRAGMA(GCC diagnostic push)                            \
  KVSCALE_SIMD_PRAGMA(GCC diagnostic ignored "-Wmaybe-uninitialized") \
  KVSCALE_SIMD_PRAGMA(GCC push_options)                               \
  KVSCALE_SIMD_PRAGMA(GCC target(isa))
#define KVSCALE_SIMD_END()             \
  KVSCALE_SIMD_PRAGMA(GCC pop_options) \
  KVSCALE_SIMD_PRAGMA(GCC diagnostic pop)
#endif
