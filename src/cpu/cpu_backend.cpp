// The CPU backend (cpu.hpp): ISA detection and dispatch, the dequantize tables, the contiguous ops
// and the settings. The paged ops are in paged.cpp.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(KVSCALE_X86_SIMD)
#include <cpuid.h>
#endif

#include "core/error.hpp"
#include "cpu/kernels.hpp"
#include "cpu/thread_pool.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/fp8.hpp"

namespace kvscale {
namespace cpu {
namespace {

using detail::DequantLut;
using detail::RowKernels;

using detail::kMinChunk;
using detail::kParallelMin;
// From this many elements on, contiguous ops write with non-temporal stores (the output is far
// larger than the caches, and a normal store would first read every destination line).
constexpr std::size_t kStreamMin = std::size_t{1} << 21;

Isa detect_isa() noexcept {
#if defined(KVSCALE_X86_SIMD)
  __builtin_cpu_init();
  // F16C and FMA: CPUID.1:ECX bits 29 and 12 (clang's __builtin_cpu_supports has no "f16c").
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool cpuid1 = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0;
  const bool f16c_fma = cpuid1 && (ecx & (1u << 29)) != 0 && (ecx & (1u << 12)) != 0;
  const bool avx2 = __builtin_cpu_supports("avx2") && f16c_fma;
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512) return Isa::avx512;
  if (avx2) return Isa::avx2;
#endif
  return Isa::scalar;
}

// The cap KVSCALE_CPU_ISA asks for: "scalar", "avx2" or "avx512" gives that ISA; unset or empty
// gives Isa::best; anything else gives Isa::best and sets *invalid.
Isa isa_cap_from_env(const char* value, bool* invalid) noexcept {
  static const char* const names[] = {"scalar", "avx2", "avx512"};
  *invalid = false;
  if (value == nullptr || *value == '\0') return Isa::best;
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (std::strcmp(value, names[static_cast<int>(i)]) == 0) return i;
  *invalid = true;
  return Isa::best;
}

// The CPU's ISA capped by KVSCALE_CPU_ISA, read once. An invalid value is reported once, on
// stderr, and ignored: a typo must not stop a server, and the message says what is used instead.
Isa detected_isa() noexcept {
  static const Isa isa = [] {
    const Isa hw = detect_isa();
    const char* env = std::getenv("KVSCALE_CPU_ISA");
    bool invalid = false;
    const Isa cap = isa_cap_from_env(env, &invalid);
    if (invalid)
      std::fprintf(stderr, "kvscale: KVSCALE_CPU_ISA=\"%s\" is not one of scalar, avx2, avx512; ignored (using %s)\n",
                   env,
                   hw == Isa::avx512 ? "avx512"
                   : hw == Isa::avx2 ? "avx2"
                                     : "scalar");
    return static_cast<Isa>(std::min(static_cast<int>(hw), static_cast<int>(cap)));
  }();
  return isa;
}

std::atomic<int> g_max_isa{static_cast<int>(Isa::best)};

Isa active_isa() noexcept {
  const int cap = g_max_isa.load(std::memory_order_relaxed);
  return static_cast<Isa>(std::min(cap, static_cast<int>(detected_isa())));
}

RowKernels kernels() noexcept {
  switch (active_isa()) {
#if defined(KVSCALE_X86_SIMD)
    case Isa::avx512: return detail::avx512_kernels(detail::has_avx512_vbmi());
    case Isa::avx2: return detail::avx2_kernels();
#endif
    default: return detail::scalar_kernels();
  }
}

// Dequantize tables of the calling thread: two entries (K and V scales), rebuilt when (format,
// dtype, scale) changes. Two consecutive look-ups never evict each other.
const DequantLut& dequant_lut(Fp8Format f, DType t, float scale) noexcept {
  thread_local DequantLut luts[2];
  thread_local int last = 0;
  const std::uint32_t bits = fp8::detail::bits_of(scale);
  const auto build = kernels().build_lut;
  for (int i = 0; i < 2; ++i) {
    const DequantLut& l = luts[i];
    if (l.built_for(f, t, bits, build)) {
      last = i;
      return l;
    }
  }
  last = 1 - last;
  build(f, t, scale, &luts[last]);
  luts[last].built_by = build;
  return luts[last];
}

// Splits [0, n) into chunks of whole 64-element groups for the pool.
std::size_t chunk_count(std::size_t n, int threads) {
  if (threads <= 1 || n < kParallelMin) return 1;
  const std::size_t by_size = n / kMinChunk;
  return std::max<std::size_t>(1, std::min<std::size_t>(by_size, static_cast<std::size_t>(threads) * 4));
}

std::size_t chunk_begin(std::size_t n, std::size_t chunks, std::size_t i) {
  if (i >= chunks) return n;
  const std::size_t per = ((n / chunks) + 63) & ~std::size_t{63};
  return std::min(n, per * i);
}

struct QuantJob {
  RowKernels k;
  Fp8Format f;
  DType t;
  const unsigned char* in;
  std::uint8_t* out;
  std::size_t n;
  float scale;
  std::size_t chunks;
};

struct DequantJob {
  RowKernels k;
  Fp8Format f;
  DType t;
  const std::uint8_t* in;
  unsigned char* out;
  std::size_t n;
  float scale;
  const DequantLut* lut;
  std::size_t chunks;
};

void quant_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const QuantJob*>(ctx);
  const std::size_t b = chunk_begin(j.n, j.chunks, i), e = chunk_begin(j.n, j.chunks, i + 1);
  const auto fn = j.n >= kStreamMin ? j.k.quantize_stream : j.k.quantize;
  if (b < e) fn(j.f, j.t, j.in + b * dtype_size(j.t), j.out + b, e - b, j.scale);
}

void dequant_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const DequantJob*>(ctx);
  const std::size_t b = chunk_begin(j.n, j.chunks, i), e = chunk_begin(j.n, j.chunks, i + 1);
  const auto fn = j.n >= kStreamMin ? j.k.dequantize_stream : j.k.dequantize;
  if (b < e) fn(j.f, j.t, j.in + b, j.out + b * dtype_size(j.t), e - b, j.scale, *j.lut);
}

}  // namespace

Isa detail::current_isa() noexcept { return active_isa(); }

RowKernels detail::current_kernels() noexcept { return kernels(); }

Status quantize(const QuantizeArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.n == 0) return Status::success;
  QuantJob j{kernels(), a.format, a.dtype, static_cast<const unsigned char*>(a.in), a.out, a.n, *a.scale, 1};
  j.chunks = chunk_count(a.n, detail::pool_threads());
  detail::parallel_for(j.chunks, quant_chunk, &j);
  return Status::success;
}

Status dequantize(const DequantizeArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.n == 0) return Status::success;
  const float scale = *a.scale;
  DequantJob j{kernels(),
               a.format,
               a.dtype,
               a.in,
               static_cast<unsigned char*>(a.out),
               a.n,
               scale,
               &dequant_lut(a.format, a.dtype, scale),
               1};
  j.chunks = chunk_count(a.n, detail::pool_threads());
  detail::parallel_for(j.chunks, dequant_chunk, &j);
  return Status::success;
}

void set_num_threads(int n) noexcept { detail::pool_set_threads(n); }
int num_threads() noexcept { return detail::pool_threads(); }

Isa set_max_isa(Isa isa) noexcept {
  int v = static_cast<int>(isa);
  if (v < 0 || v > static_cast<int>(Isa::best)) v = static_cast<int>(Isa::best);
  g_max_isa.store(v, std::memory_order_relaxed);
  return active_isa();
}

const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::best: return "best";
  }
  return "unknown";
}

}  // namespace cpu
}  // namespace kvscale
