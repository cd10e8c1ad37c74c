// The CPU backend (cpu.hpp): argument checks, ISA dispatch and threading around the row kernels.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>

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

// Below this many elements a contiguous op runs on the calling thread; above, chunks of at least
// kMinChunk elements are spread over the pool (waking a worker costs a few microseconds).
constexpr std::size_t kParallelMin = std::size_t{1} << 18;
constexpr std::size_t kMinChunk = std::size_t{1} << 15;
// From this many elements on, contiguous ops write with non-temporal stores (the output is far
// larger than the caches, and a normal store would first read every destination line).
constexpr std::size_t kStreamMin = std::size_t{1} << 21;

Isa detect_isa() noexcept {
#if defined(KVSCALE_X86_SIMD)
  __builtin_cpu_init();
  // F16C: CPUID.1:ECX bit 29 (clang's __builtin_cpu_supports has no "f16c").
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
  const bool avx2 = __builtin_cpu_supports("avx2") && f16c;
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512) return Isa::avx512;
  if (avx2) return Isa::avx2;
#endif
  return Isa::scalar;
}

Isa detected_isa() noexcept {
  static const Isa isa = detect_isa();
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
    case Isa::avx512: return detail::avx512_kernels();
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
  for (int i = 0; i < 2; ++i) {
    const DequantLut& l = luts[i];
    if (l.valid && l.format == f && l.dtype == t && l.scale_bits == bits) {
      last = i;
      return l;
    }
  }
  last = 1 - last;
  detail::build_dequant_lut(f, t, scale, &luts[last]);
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

// Paged ops: tokens are split into contiguous ranges.
struct PagedJob {
  RowKernels k;
  Fp8Format f;
  DType t;
  const TokenRows* rows;
  const PagedCacheShape* cache;
  const std::int64_t* slots;
  // write: src = key/value rows, dst = caches. read: the other way round.
  const unsigned char* key_rows_in;
  const unsigned char* value_rows_in;
  unsigned char* key_rows_out;
  unsigned char* value_rows_out;
  const std::uint8_t* key_cache_in;
  const std::uint8_t* value_cache_in;
  std::uint8_t* key_cache_out;
  std::uint8_t* value_cache_out;
  float k_scale;
  float v_scale;
  const DequantLut* k_lut;
  const DequantLut* v_lut;
  std::size_t tokens;
  std::size_t chunks;
};

std::size_t paged_chunk_begin(const PagedJob& j, std::size_t i) {
  return i >= j.chunks ? j.tokens : j.tokens * i / j.chunks;
}

void write_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const PagedJob*>(ctx);
  const TokenRows& r = *j.rows;
  const PagedCacheShape& c = *j.cache;
  const std::size_t es = dtype_size(j.t);
  const std::size_t D = static_cast<std::size_t>(r.head_size);
  const std::size_t row = static_cast<std::size_t>(r.num_kv_heads) * D;
  for (std::size_t t = paged_chunk_begin(j, i), e = paged_chunk_begin(j, i + 1); t < e; ++t) {
    const std::int64_t slot = j.slots[t];
    if (slot < 0) continue;
    const unsigned char* k = j.key_rows_in + t * static_cast<std::size_t>(r.key_row_stride) * es;
    const unsigned char* v = j.value_rows_in + t * static_cast<std::size_t>(r.value_row_stride) * es;
    if (c.layout == CacheLayout::nhd) {
      const auto off = static_cast<std::size_t>(c.offset(slot, 0));
      j.k.quantize(j.f, j.t, k, j.key_cache_out + off, row, j.k_scale);
      j.k.quantize(j.f, j.t, v, j.value_cache_out + off, row, j.v_scale);
    } else {
      for (std::int64_t h = 0; h < r.num_kv_heads; ++h) {
        const auto off = static_cast<std::size_t>(c.offset(slot, h));
        const std::size_t src = static_cast<std::size_t>(h) * D * es;
        j.k.quantize(j.f, j.t, k + src, j.key_cache_out + off, D, j.k_scale);
        j.k.quantize(j.f, j.t, v + src, j.value_cache_out + off, D, j.v_scale);
      }
    }
  }
}

void read_chunk(void* ctx, std::size_t i) {
  const auto& j = *static_cast<const PagedJob*>(ctx);
  const TokenRows& r = *j.rows;
  const PagedCacheShape& c = *j.cache;
  const std::size_t es = dtype_size(j.t);
  const std::size_t D = static_cast<std::size_t>(r.head_size);
  const std::size_t row = static_cast<std::size_t>(r.num_kv_heads) * D;
  for (std::size_t t = paged_chunk_begin(j, i), e = paged_chunk_begin(j, i + 1); t < e; ++t) {
    const std::int64_t slot = j.slots[t];
    if (slot < 0) continue;
    unsigned char* k = j.key_rows_out + t * static_cast<std::size_t>(r.key_row_stride) * es;
    unsigned char* v = j.value_rows_out + t * static_cast<std::size_t>(r.value_row_stride) * es;
    if (c.layout == CacheLayout::nhd) {
      const auto off = static_cast<std::size_t>(c.offset(slot, 0));
      j.k.dequantize(j.f, j.t, j.key_cache_in + off, k, row, j.k_scale, *j.k_lut);
      j.k.dequantize(j.f, j.t, j.value_cache_in + off, v, row, j.v_scale, *j.v_lut);
    } else {
      for (std::int64_t h = 0; h < r.num_kv_heads; ++h) {
        const auto off = static_cast<std::size_t>(c.offset(slot, h));
        const std::size_t dst = static_cast<std::size_t>(h) * D * es;
        j.k.dequantize(j.f, j.t, j.key_cache_in + off, k + dst, D, j.k_scale, *j.k_lut);
        j.k.dequantize(j.f, j.t, j.value_cache_in + off, v + dst, D, j.v_scale, *j.v_lut);
      }
    }
  }
}

// Every slot must be < num_slots() (negative = padding) before anything is written.
Status check_slots(const char* op, const char* name, const std::int64_t* slots, std::int64_t tokens,
                   const PagedCacheShape& c) {
  const std::int64_t limit = c.num_slots();
  for (std::int64_t t = 0; t < tokens; ++t) {
    if (slots[t] >= limit)
      return kvscale::detail::fail(Status::invalid_argument, std::string(op) + ": " + name + "[" + std::to_string(t) +
                                                                 "] = " + std::to_string(slots[t]) +
                                                                 " is outside the cache (" + std::to_string(limit) +
                                                                 " slots)");
  }
  return Status::success;
}

std::size_t paged_chunks(std::size_t tokens, std::size_t row_elems) {
  const int threads = detail::pool_threads();
  const std::size_t total = tokens * row_elems * 2;
  if (threads <= 1 || total < kParallelMin || tokens < 2) return 1;
  return std::min<std::size_t>(tokens, std::min<std::size_t>(total / kMinChunk, static_cast<std::size_t>(threads) * 4));
}

}  // namespace

Isa detail::current_isa() noexcept { return active_isa(); }

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

Status paged_write(const PagedWriteArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_slots("paged_write", "slot_mapping", a.slot_mapping, a.rows.num_tokens, a.cache);
      s != Status::success)
    return s;
  PagedJob j{};
  j.k = kernels();
  j.f = a.format;
  j.t = a.dtype;
  j.rows = &a.rows;
  j.cache = &a.cache;
  j.slots = a.slot_mapping;
  j.key_rows_in = static_cast<const unsigned char*>(a.key);
  j.value_rows_in = static_cast<const unsigned char*>(a.value);
  j.key_cache_out = a.key_cache;
  j.value_cache_out = a.value_cache;
  j.k_scale = *a.k_scale;
  j.v_scale = *a.v_scale;
  j.tokens = static_cast<std::size_t>(a.rows.num_tokens);
  j.chunks = paged_chunks(j.tokens, static_cast<std::size_t>(a.rows.num_kv_heads * a.rows.head_size));
  detail::parallel_for(j.chunks, write_chunk, &j);
  return Status::success;
}

Status paged_read(const PagedReadArgs& a) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_slots("paged_read", "slots", a.slots, a.rows.num_tokens, a.cache); s != Status::success)
    return s;
  PagedJob j{};
  j.k = kernels();
  j.f = a.format;
  j.t = a.dtype;
  j.rows = &a.rows;
  j.cache = &a.cache;
  j.slots = a.slots;
  j.key_cache_in = a.key_cache;
  j.value_cache_in = a.value_cache;
  j.key_rows_out = static_cast<unsigned char*>(a.key);
  j.value_rows_out = static_cast<unsigned char*>(a.value);
  j.k_scale = *a.k_scale;
  j.v_scale = *a.v_scale;
  j.k_lut = &dequant_lut(a.format, a.dtype, j.k_scale);
  j.v_lut = &dequant_lut(a.format, a.dtype, j.v_scale);
  j.tokens = static_cast<std::size_t>(a.rows.num_tokens);
  j.chunks = paged_chunks(j.tokens, static_cast<std::size_t>(a.rows.num_kv_heads * a.rows.head_size));
  detail::parallel_for(j.chunks, read_chunk, &j);
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
