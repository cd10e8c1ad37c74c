// Private to the CPU backend: the per-ISA loops of observe_amax (amax.cpp).
//
// Every function here returns maxima as |x| bits of the element type (the sign bit cleared, NaN
// ignored, inf kept); amax.cpp widens them to float32 once at the end. All ISAs give the same bits
// (tests/calibration force each ISA and compare with a brute-force reference).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace cpu {
namespace detail {

/// The rows of one observe_amax call, in bytes: token t's K row starts at key + t * key_stride,
/// head h's segment at + h * seg_bytes (seg_bytes = head_size * element size). Tokens with
/// slots[t] < 0 are padding and skipped (slots may be null).
struct AmaxRows {
  DType dtype;
  const unsigned char* key;
  const unsigned char* value;
  std::size_t key_stride, value_stride;
  const std::int64_t* slots;
  std::size_t heads, head_size, seg_bytes;
};

/// max |x| bits of n elements of type t at p (0 if none or all NaN). Any n, any alignment of the
/// element type.
using SpanMaxFn = std::uint32_t (*)(DType t, const unsigned char* p, std::size_t n);
std::uint32_t span_max_scalar(DType t, const unsigned char* p, std::size_t n);

/// Folds the maxima of tokens [b, e) into km[h] / vm[h] (K / V head h): km[h] = max(km[h], ...).
using AmaxChunkFn = void (*)(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm);
/// The per-head row loop with span max `f`: any head size.
void amax_chunk_rows(SpanMaxFn f, const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km,
                     std::uint32_t* vm);

/// The infinity pattern of t's |x| bits: every larger |x| is a NaN.
inline std::uint32_t amax_inf_bits(DType t) {
  return t == DType::f32 ? 0x7F800000u : t == DType::f16 ? 0x7C00u : 0x7F80u;
}

#if defined(KVSCALE_X86_SIMD)
/// span_max with the AVX2 key transform (exact, amax_avx2.cpp).
std::uint32_t span_max_avx2(DType t, const unsigned char* p, std::size_t n);

// The vector chunk loops (amax_avx2.cpp, amax_avx512.cpp) take one unsigned max of |x| bits (the
// sign bit cleared) per head and side: two operations per vector (and, max), one accumulator. With
// no NaN among the elements that is max |x| exactly (non-negative IEEE values order like their
// bits). A NaN's |x| bits are above the infinity pattern, so a NaN anywhere in the block wins the
// max and shows as a result > amax_inf_bits(): amax_settle() then recomputes that head and block
// with the AVX2 keys, which ignore NaNs. (Measured against an unsigned and a signed max of the raw
// bits, the other two-operation method: that needs two accumulators per head and two loads or a
// register copy per vector, and was slower.) tests/calibration check every 16-bit pattern with
// every special class, in every lane, on every ISA.

/// Tokens per NaN check of the vector chunk loops: a recomputed block is likely still in L2 (512 KiB
/// per side for 8 heads x 128 bf16), and the per-block reductions cost little (blocks of 64 tokens
/// measured ~7% slower at 256 tokens).
constexpr std::size_t kAmaxBlock = 256;
/// max |x| bits (NaN ignored) of head h's K (value: V) segments over tokens [b, e), padding skipped,
/// with the AVX2 keys (exact). Needs seg_bytes % 32 == 0.
std::uint32_t amax_head_exact_avx2(const AmaxRows& r, bool value, std::size_t h, std::size_t b, std::size_t e);
/// Folds head h's maximum m over tokens [b, e) (|x| bits from a vector loop, NaNs not ignored) into
/// *out, recomputing it exactly first if it is a NaN pattern. value: V rows, else K rows.
void amax_settle(const AmaxRows& r, bool value, std::size_t h, std::size_t b, std::size_t e, std::uint32_t m,
                 std::uint32_t* out);

/// The vector chunk loops keep accumulators per head on the stack: at most this many heads.
constexpr std::size_t kAmaxMaxHeads = 64;
/// Needs seg_bytes % 32 == 0 and heads <= kAmaxMaxHeads.
void amax_chunk_avx2(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm);
/// Needs seg_bytes % 64 == 0 and heads <= kAmaxMaxHeads.
void amax_chunk_avx512(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm);
#endif

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
