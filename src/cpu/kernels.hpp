// Private to the CPU backend: the per-ISA row kernels behind cpu.hpp.
//
// A row kernel converts n contiguous elements. Every kernel produces exactly the bytes of the
// scalar codec in fp8.hpp / half.hpp (the tests force each ISA and compare bit for bit). Like the
// IEEE division they compute, they assume the default floating-point environment (round to
// nearest even).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kvscale/cpu.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace cpu {
namespace detail {

struct DequantLut;
/// Builds a DequantLut for (f, t, scale): RowKernels::build_lut, one per ISA level.
using BuildLutFn = void (*)(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept;

/// Dequantize results of all 256 codes for one (format, dtype, scale), computed with the scalar
/// codec: out16 for f16/bf16 outputs, out32 for f32. Kernels may use it as a lookup table.
struct DequantLut {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;
  std::uint32_t scale_bits = 0;
  bool valid = false;
  /// The RowKernels::build_lut that built it, for caches: a table built by another level's builder
  /// lacks the forms (split tables, byte planes) this level's kernels read, which then take a
  /// slower path, so a cache rebuilds it when the level changes.
  BuildLutFn built_by = nullptr;
  /// Whether a cache may hand this table out for (f, t, scale) to kernels whose builder is `build`.
  bool built_for(Fp8Format f, DType t, std::uint32_t scale_bits_of, BuildLutFn build) const noexcept {
    return valid && format == f && dtype == t && scale_bits == scale_bits_of && built_by == build;
  }
  alignas(64) std::uint16_t out16[256] = {};
  alignas(64) float out32[256] = {};
  /// out16 in the form the AVX2 kernel computes with byte shuffles, where split_ok. For code c,
  /// i = c & 15 (the mantissa and the exponent's low bit), e = (c >> 3) & 15:
  ///   NaN codes: nan16;  e == 0: sub_hi[i] : sub_lo[i];
  ///   else: (hi[i] + a(c)) mod 256 : lo[i], a(c) = e >> 1 (bf16) or e << 2 (f16): each exponent
  ///   step doubles the value, +128 in bf16's bits (so + 1 high byte per two), +1024 in f16's;
  /// then the high byte | (c & 0x80). derive_split16 checks all 256 codes against out16.
  bool split_ok = false;
  std::uint16_t nan16 = 0;
  alignas(16) std::uint8_t split_lo[16] = {};
  alignas(16) std::uint8_t split_hi[16] = {};
  alignas(16) std::uint8_t sub_lo[16] = {};
  alignas(16) std::uint8_t sub_hi[16] = {};
  /// out16 as two byte planes, for the AVX-512 VBMI kernel's byte permutes (where bytes_ok):
  /// lo8[c] = out16[c] & 0xFF, hi8[c] = out16[c] >> 8. derive_bytes16 fills them.
  bool bytes_ok = false;
  alignas(64) std::uint8_t lo8[256] = {};
  alignas(64) std::uint8_t hi8[256] = {};
};

/// Fills `lut` for (format, dtype, scale) with the scalar reference.
void build_dequant_lut(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept;
/// Sets lut->split_ok and the split tables from lut->out16 (about 0.3-0.5 us: the AVX2 kernels'
/// builder calls it last; the other builders leave split_ok false).
void derive_split16(DequantLut* lut) noexcept;
/// Sets lut->lo8, hi8 and bytes_ok from lut->out16 (the AVX-512 VBMI kernels' builder calls it
/// last; the other builders leave bytes_ok false).
void derive_bytes16(DequantLut* lut) noexcept;

/// out[i] = fp8::quantize(f, widen(in[i]), scale), i < n. `in` holds n elements of `t`.
using QuantizeRowFn = void (*)(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale);
/// out[i] = narrow_t(fp8::dequantize(f, in[i], scale)), i < n; `lut` was built for (f, t, scale).
using DequantizeRowFn = void (*)(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                                 const DequantLut& lut);

/// One run of a batched row kernel: n elements from `in` to `out` (runs may not overlap).
struct RowRun {
  const void* in;
  void* out;
  std::size_t n;
};

/// How the batched dequantize kernels prefetch the runs' codes. Random slots spread the runs over
/// the whole cache, and a run is too short for the hardware prefetcher to learn:
/// - each run's first two lines, kRunsAhead runs ahead: a 128-byte run (an HND or strided head) is
///   a DRAM access of its own that converting the runs before it overlaps
///   (BM_paged_read_layout/16384/8/4, HND: 0.72-0.75x the time);
/// - the rest of its first kRunPrefetchBytes, kRunLinesAhead runs ahead: a dense NHD token of 8
///   heads is a 1 KiB run, 16 lines, that the kernel otherwise waits for one after another
///   (BM_paged_read/16384/8 on an AMD EPYC: 0.57x the time with AVX2). Further ahead, or all of a
///   run six ahead, the lines in flight crowd out the ones needed now (slower). The kernels'
///   own look-ahead takes over from kRunPrefetchBytes into a run.
constexpr std::size_t kRunsAhead = 6;
constexpr std::size_t kRunLinesAhead = 2;
constexpr std::size_t kRunPrefetchBytes = 2048;

/// That look-ahead, for run r of `count` (addresses as integers: the line past a run's end is
/// harmless).
#if defined(__GNUC__) || defined(__clang__)
// always_inline: GCC 12 judges a function of prefetches alone free of side effects and, once the
// loop keeps it from being inlined early, drops its calls and every prefetch with them.
__attribute__((always_inline)) inline void prefetch_run_ahead(const RowRun* runs, std::size_t r,
                                                              std::size_t count) noexcept {
  if (r + kRunLinesAhead < count) {
    const auto a = reinterpret_cast<std::uintptr_t>(runs[r + kRunLinesAhead].in);
    const std::size_t n = std::min(runs[r + kRunLinesAhead].n, kRunPrefetchBytes);
    for (std::size_t o = 128; o < n; o += 64) __builtin_prefetch(reinterpret_cast<const void*>(a + o));
  }
  if (r + kRunsAhead >= count) return;
  const auto a = reinterpret_cast<std::uintptr_t>(runs[r + kRunsAhead].in);
  __builtin_prefetch(reinterpret_cast<const void*>(a));
  __builtin_prefetch(reinterpret_cast<const void*>(a + 64));
}
#else
inline void prefetch_run_ahead(const RowRun*, std::size_t, std::size_t) noexcept {}
#endif

/// How the batched quantize kernels prefetch the cache lines they write. A store to a line that
/// is not in the caches waits for the line (read for ownership), and the stores of runs at random
/// slots fill the store buffer with such waits: perf put 48 % of an AVX-512 strided write's
/// kernel samples (BM_paged_write_layout/16384/8/1) just after its first store. So the lines of
/// the first kOutPrefetchBytes of each run's output are prefetched kOutRunsAhead runs ahead, and
/// those of a batch's first runs before it starts: 16 runs of 128 bytes (strided or per-head
/// heads) is two tokens of 8 heads ahead. On an AMD EPYC (Zen 5), writes of 16,384 tokens x 8
/// heads took 0.80-0.89x the time strided, 0.72-0.90x per head and 0.86-1.00x dense with AVX-512,
/// 0.75-0.84x per head with AVX2; at 2,048 tokens 0.68-1.06x (docs/performance.md, session 22).
/// The caller says where to prefetch (paged.cpp: PagedSide::prefetch_out).
constexpr std::size_t kOutRunsAhead = 16;
constexpr std::size_t kOutPrefetchBytes = 256;

#if defined(__GNUC__) || defined(__clang__)
/// The output lines of run r (of `count`) that kOutPrefetchBytes covers; nothing past the batch.
__attribute__((always_inline)) inline void prefetch_out(const RowRun* runs, std::size_t r, std::size_t count) noexcept {
  if (r >= count) return;
  const auto a = reinterpret_cast<std::uintptr_t>(runs[r].out);
  const std::uintptr_t end = a + std::min(runs[r].n, kOutPrefetchBytes);  // one byte an element
  for (std::uintptr_t l = a & ~std::uintptr_t{63}; l < end; l += 64) __builtin_prefetch(reinterpret_cast<void*>(l), 1);
}
#else
inline void prefetch_out(const RowRun*, std::size_t, std::size_t) noexcept {}
#endif

/// dequantize of `count` runs with tables chosen per run: run r with luts[w] and scales[w], w =
/// which[r], or 0 where which is nullptr; prefetching as prefetch_run_ahead says. false (nothing
/// done) where this ISA has no batched form for them (then the caller converts run by run).
using DequantizeRunsFn = bool (*)(Fp8Format f, DType t, const float* scales, const DequantLut* luts, const RowRun* runs,
                                  const std::uint8_t* which, std::size_t count);

/// A stretch of runs that use one table: index w (as in DequantizeRunsFn), runs [r, end).
struct TableStretch {
  std::size_t w, end;
};
/// The stretch that starts at run r of `count`: the batched kernels set a table's constants up
/// once a stretch.
inline TableStretch table_stretch(const std::uint8_t* which, std::size_t r, std::size_t count) noexcept {
  if (which == nullptr) return {0, count};
  std::size_t e = r + 1;
  while (e < count && which[e] == which[r]) ++e;
  return {which[r], e};
}

/// Whether every table the runs refer to (as in DequantizeRunsFn) has the form `ok` (a flag of
/// DequantLut: split_ok, bytes_ok).
inline bool every_run_table(const DequantLut* luts, const std::uint8_t* which, std::size_t count,
                            bool DequantLut::*ok) noexcept {
  if (which == nullptr) return count == 0 || luts[0].*ok;
  for (std::size_t r = 0; r < count; ++r)
    if (!(luts[which[r]].*ok)) return false;
  return true;
}

/// What the batched quantize kernels prefetch besides the lines a step reads next within its run.
struct RunLookAhead {
  /// The input 4 KiB ahead of a step even past the end of its run: where each run's row follows
  /// the previous one's (tokens in call order). Not where the rows lie at random (tokens in slot
  /// order, paged.cpp: the tile path), where those lines are another token's, fetched for nothing.
  bool past_run = false;
  /// The lines the runs write, kOutRunsAhead runs ahead (prefetch_out says when).
  bool out = false;
};

struct Bf16StepTable;
/// quantize of `count` runs of bf16 elements by step tables (bf16_step.hpp): run r with table
/// tables[w] (valid) and scale scales[w], w = which[r], or 0 where which is nullptr. One call for
/// many short rows (a head is 128 elements): the tables' registers are set up where w changes,
/// and the caller pays one indirect call. `ahead`: what else to prefetch (RunLookAhead).
using QuantizeStepFn = void (*)(const Bf16StepTable* tables, const float* scales, Fp8Format f, const RowRun* runs,
                                const std::uint8_t* which, std::size_t count, RunLookAhead ahead);

struct RowKernels {
  QuantizeRowFn quantize;
  DequantizeRowFn dequantize;
  /// Same results, written with non-temporal stores where the ISA has them: for outputs far
  /// larger than the caches (no read-for-ownership of the destination). Callers pick by size.
  QuantizeRowFn quantize_stream;
  DequantizeRowFn dequantize_stream;
  /// build_dequant_lut(), computed with this ISA's (bit-exact) dequantize kernels.
  BuildLutFn build_lut;
  /// Split V with 16-slot blocks: one head of one block is `[d][16]` bytes (element e of slot o at
  /// e * 16 + o); a tile holds the rows of the block's slots, row o at tile + o * pitch. d % 16 == 0.
  /// tile_to_columns16: dst[e * 16 + o] = tile[o * pitch + e] for e < d and each o whose bit is set
  /// in `mask` (the other bytes of dst are left as they are).
  void (*tile_to_columns16)(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                            std::uint8_t* dst);
  /// columns16_to_tile: tile[o * pitch + e] = src[e * 16 + o] for e < d, o < 16.
  void (*columns16_to_tile)(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch);
  /// quantize of bf16 runs with a table the caller looked up (nullptr: this ISA has no table path).
  QuantizeStepFn quantize_step;
  /// dequantize of runs with one table set-up (nullptr: this ISA has none).
  DequantizeRunsFn dequantize_runs;
};

/// The kernels of one instruction set. avx2/avx512 exist only where KVSCALE_X86_SIMD is defined.
RowKernels scalar_kernels() noexcept;
#if defined(KVSCALE_X86_SIMD)
RowKernels avx2_kernels() noexcept;
/// vbmi: 16-bit dequantize by AVX-512 VBMI byte permutes (dequant16_vbmi.cpp), and bf16 quantize
/// with the step codes read by byte permutes (quantize_vbmi.cpp); only where has_avx512_vbmi().
/// Both forms give the same bytes (tests/cpu compare them with the reference).
RowKernels avx512_kernels(bool vbmi) noexcept;
/// Whether the CPU has AVX-512 VBMI (vpermi2b), on top of the AVX-512 level.
bool has_avx512_vbmi() noexcept;

/// The AVX-512 quantize by division (every dtype and input; no table): the blocks that
/// quantize_vbmi.cpp's table does not take.
void quantize_divide_avx512(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale);
/// RowKernels::quantize_step of the AVX-512 kernels without VBMI; the VBMI form hands it the runs
/// of heads with their own tables (quantize_vbmi.cpp says why).
void quantize_step_runs_avx512(const Bf16StepTable* tables, const float* scales, Fp8Format f, const RowRun* runs,
                               const std::uint8_t* which, std::size_t count, RunLookAhead ahead);
/// RowKernels::quantize and ::quantize_step of the VBMI form (quantize_vbmi.cpp; the CPU has VBMI).
void quantize_row_vbmi(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale);
void quantize_step_runs_vbmi(const Bf16StepTable* tables, const float* scales, Fp8Format f, const RowRun* runs,
                             const std::uint8_t* which, std::size_t count, RunLookAhead ahead);

/// out[i] = lut.out16[in[i]] for i < n, by byte permutes over lut.lo8 / hi8 (lut.bytes_ok; the
/// CPU has VBMI). The _stream form writes with non-temporal stores: out 64-byte aligned, and the
/// caller fences.
void dequantize16_vbmi(const std::uint8_t* in, std::uint16_t* out, std::size_t n, const DequantLut& lut) noexcept;
void dequantize16_vbmi_stream(const std::uint8_t* in, std::uint16_t* out, std::size_t n,
                              const DequantLut& lut) noexcept;
/// dequantize16_vbmi of `count` runs, tables chosen as in DequantizeRunsFn (each bytes_ok): the
/// planes are loaded where the table changes, and the runs ahead are prefetched while run r
/// converts (prefetch_run_ahead).
void dequantize16_vbmi_runs(const DequantLut* luts, const RowRun* runs, const std::uint8_t* which,
                            std::size_t count) noexcept;

/// Whether the SIMD quantize kernels may compute x / scale as q = x * r, q + (x - q * scale) * r
/// (r = 1 / scale rounded, both steps fused multiply-adds) instead of dividing. The spec's quotient
/// is the IEEE division; this gives it wherever the code can depend on it (Markstein's correction
/// is exact when neither q nor the residual x - q * scale underflows or overflows). With
/// 2^-64 <= scale <= 2^64, r is normal and the residual is exact wherever x / scale >= 2^-12; below
/// that every quotient encodes to a zero code. An overflowing q or an infinite x gives NaN, which
/// the encoders saturate like the infinite quotient (they take the sign and NaN-ness from x). tests/cpu prove it: every
/// f32 input for several scales, and a large seeded set of scales with boundary inputs.
inline bool reciprocal_is_exact(float scale) noexcept { return scale >= 0x1p-64f && scale <= 0x1p64f; }

/// build_dequant_lut() with the AVX2 dequantize kernels (16 vectors instead of 256 scalar calls:
/// per-head scales need a table per head and call). split_ok stays false: the AVX2 kernels' own
/// builder adds the split form, which the AVX-512 kernels (that use this one) never read.
void build_dequant_lut_avx2(Fp8Format f, DType t, float scale, DequantLut* lut) noexcept;

/// The split-V transposes of RowKernels, 32 columns at a time (tile16_avx2.cpp) and 64
/// (tile16_avx512.cpp).
void tile_to_columns16_avx2(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                            std::uint8_t* dst);
void columns16_to_tile_avx2(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch);
void tile_to_columns16_avx512(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                              std::uint8_t* dst);
void columns16_to_tile_avx512(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch);
#endif

/// The split-V transposes of RowKernels, byte by byte.
void tile_to_columns16_scalar(const std::uint8_t* tile, std::size_t pitch, std::size_t d, std::uint32_t mask,
                              std::uint8_t* dst);
void columns16_to_tile_scalar(const std::uint8_t* src, std::size_t d, std::uint8_t* tile, std::size_t pitch);

/// Scalar tails shared by the SIMD kernels.
void quantize_row_scalar(Fp8Format f, DType t, const void* in, std::uint8_t* out, std::size_t n, float scale);
void dequantize_row_scalar(Fp8Format f, DType t, const std::uint8_t* in, void* out, std::size_t n, float scale,
                           const DequantLut& lut);

/// The ISA the backend uses now (detected, capped by set_max_isa()); for kernels outside
/// cpu_backend.cpp (amax.cpp).
Isa current_isa() noexcept;
/// The row kernels of current_isa().
RowKernels current_kernels() noexcept;

/// Below this many elements an op runs on the calling thread; above, chunks of at least kMinChunk
/// elements are spread over the pool (waking a worker costs a few microseconds).
constexpr std::size_t kParallelMin = std::size_t{1} << 18;
constexpr std::size_t kMinChunk = std::size_t{1} << 15;

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
