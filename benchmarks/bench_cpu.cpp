// CPU backend benchmarks (Google Benchmark): quantize, dequantize, paged write/read and the
// bf16 -> fp8 -> bf16 round trip, each next to same-run baselines:
//   memcpy      one glibc memcpy moving the same bytes (read + write counted once each),
//   memcpy_2t   the same memcpy split over two threads,
//   scalar      a plain loop, one element at a time through fp8.hpp / half.hpp.
// Bytes processed count every byte read or written once (1 GB = 1e9 B): quantize bf16 = 3 B per
// element, dequantize = 3 B, round trip = 6 B, paged ops add 8 B of slot per token.
// After the console table a summary prints kernel / memcpy and kernel / scalar throughput ratios
// (benchmarks/ratio_summary.hpp); --benchmark_format=json|csv and --benchmark_out are the library's own.
//
//   build/<preset>/bin/bench_cpu [--benchmark_filter=roundtrip] [--benchmark_min_time=0.2]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kvscale/cpu.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/half.hpp"
#include "ratio_summary.hpp"

namespace {

using kvscale::DType;
using kvscale::Fp8Format;
namespace cpu = kvscale::cpu;

constexpr Fp8Format kFmt = Fp8Format::e4m3fn;
constexpr float kScale = 0.0625f;

// Touched once so that page faults are not timed.
template <typename T>
std::vector<T> buffer(std::size_t n, T fill) {
  return std::vector<T>(n, fill);
}

// Realistic bf16 activations: N(0, 4) with a few outliers beyond the fp8 range.
std::vector<std::uint16_t> bf16_data(std::size_t n) {
  std::vector<std::uint16_t> v(n);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::vector<std::uint16_t> pool(1 << 16);
  for (auto& x : pool) x = kvscale::half::f32_to_bf16(d(rng) * ((rng() & 255) == 0 ? 100.0f : 1.0f));
  for (std::size_t i = 0; i < n; ++i) v[i] = pool[(i * 2654435761u) & 0xFFFF];
  return v;
}

void set_bytes(benchmark::State& st, double bytes_per_iter) {
  st.SetBytesProcessed(static_cast<std::int64_t>(bytes_per_iter * static_cast<double>(st.iterations())));
}

// ---- baselines ---------------------------------------------------------------------------------

void memcpy_2t(unsigned char* dst, const unsigned char* src, std::size_t bytes) {
  const std::size_t half = (bytes / 2) & ~std::size_t{63};
  std::thread t([&] { std::memcpy(dst + half, src + half, bytes - half); });
  std::memcpy(dst, src, half);
  t.join();
}

// memcpy of `traffic / 2` bytes: the same bytes read + written as the kernel it is compared with.
void BM_memcpy(benchmark::State& st) {
  const auto traffic = static_cast<std::size_t>(st.range(0));
  const std::size_t bytes = traffic / 2;
  auto src = buffer<unsigned char>(bytes, 1), dst = buffer<unsigned char>(bytes, 0);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_bytes(st, static_cast<double>(bytes) * 2);
}

void BM_memcpy_2t(benchmark::State& st) {
  const auto traffic = static_cast<std::size_t>(st.range(0));
  const std::size_t bytes = traffic / 2;
  auto src = buffer<unsigned char>(bytes, 1), dst = buffer<unsigned char>(bytes, 0);
  for (auto _ : st) {
    if (bytes >= (1u << 20)) {
      memcpy_2t(dst.data(), src.data(), bytes);
    } else {
      std::memcpy(dst.data(), src.data(), bytes);  // threads cost more than they save here
    }
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_bytes(st, static_cast<double>(bytes) * 2);
}

void scalar_quantize(const std::uint16_t* in, std::uint8_t* out, std::size_t n, float s) {
  for (std::size_t i = 0; i < n; ++i) out[i] = kvscale::fp8::quantize(kFmt, kvscale::half::bf16_to_f32(in[i]), s);
}
void scalar_dequantize(const std::uint8_t* in, std::uint16_t* out, std::size_t n, float s) {
  for (std::size_t i = 0; i < n; ++i) out[i] = kvscale::half::f32_to_bf16(kvscale::fp8::dequantize(kFmt, in[i], s));
}

// ---- contiguous ops (range(0) = bytes of the bf16 tensor) --------------------------------------

kvscale::QuantizeArgs qargs(const std::uint16_t* in, std::uint8_t* out, std::size_t n, const float* s) {
  kvscale::QuantizeArgs a;
  a.format = kFmt;
  a.dtype = DType::bf16;
  a.in = in;
  a.out = out;
  a.n = n;
  a.scale = s;
  return a;
}
kvscale::DequantizeArgs dargs(const std::uint8_t* in, std::uint16_t* out, std::size_t n, const float* s) {
  kvscale::DequantizeArgs a;
  a.format = kFmt;
  a.dtype = DType::bf16;
  a.in = in;
  a.out = out;
  a.n = n;
  a.scale = s;
  return a;
}

void BM_quantize(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0)) / 2;
  const auto in = bf16_data(n);
  auto q = buffer<std::uint8_t>(n, 0);
  const float s = kScale;
  for (auto _ : st) {
    if (cpu::quantize(qargs(in.data(), q.data(), n, &s)) != kvscale::Status::success) st.SkipWithError("quantize");
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3.0 * static_cast<double>(n));
}

void BM_dequantize(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0)) / 2;
  const auto in = bf16_data(n);
  auto q = buffer<std::uint8_t>(n, 0);
  auto out = buffer<std::uint16_t>(n, 0);
  const float s = kScale;
  cpu::quantize(qargs(in.data(), q.data(), n, &s));
  for (auto _ : st) {
    if (cpu::dequantize(dargs(q.data(), out.data(), n, &s)) != kvscale::Status::success) st.SkipWithError("dequantize");
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3.0 * static_cast<double>(n));
}

void BM_roundtrip(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0)) / 2;
  const auto in = bf16_data(n);
  auto q = buffer<std::uint8_t>(n, 0);
  auto out = buffer<std::uint16_t>(n, 0);
  const float s = kScale;
  for (auto _ : st) {
    cpu::quantize(qargs(in.data(), q.data(), n, &s));
    cpu::dequantize(dargs(q.data(), out.data(), n, &s));
    benchmark::ClobberMemory();
  }
  set_bytes(st, 6.0 * static_cast<double>(n));
}

void BM_scalar_quantize(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0)) / 2;
  const auto in = bf16_data(n);
  auto q = buffer<std::uint8_t>(n, 0);
  for (auto _ : st) {
    scalar_quantize(in.data(), q.data(), n, kScale);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3.0 * static_cast<double>(n));
}

void BM_scalar_dequantize(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0)) / 2;
  const auto in = bf16_data(n);
  auto q = buffer<std::uint8_t>(n, 0);
  auto out = buffer<std::uint16_t>(n, 0);
  scalar_quantize(in.data(), q.data(), n, kScale);
  for (auto _ : st) {
    scalar_dequantize(q.data(), out.data(), n, kScale);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3.0 * static_cast<double>(n));
}

void BM_scalar_roundtrip(benchmark::State& st) {
  const std::size_t n = static_cast<std::size_t>(st.range(0)) / 2;
  const auto in = bf16_data(n);
  auto q = buffer<std::uint8_t>(n, 0);
  auto out = buffer<std::uint16_t>(n, 0);
  for (auto _ : st) {
    scalar_quantize(in.data(), q.data(), n, kScale);
    scalar_dequantize(q.data(), out.data(), n, kScale);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 6.0 * static_cast<double>(n));
}

// ---- paged ops on model shapes (range(0) = tokens, range(1) = KV heads; head 128, block 16) ----

// Servers' tensors start on at least 64 bytes (PyTorch's CPU allocator; 256+ on GPUs); a large
// std::vector starts 16 bytes into its mapping, which no tensor does.
template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete (p, std::align_val_t{64}); }
  friend bool operator==(const Aligned64&, const Aligned64&) noexcept { return true; }
  friend bool operator!=(const Aligned64&, const Aligned64&) noexcept { return false; }
};
template <typename T>
using TensorVec = std::vector<T, Aligned64<T>>;

// Bytes of a paged op of (tokens, heads), head size 128, bf16: K and V rows read and their fp8
// written (3 B per element a side), and each token's 8-byte slot.
double paged_traffic(std::int64_t tokens, std::int64_t heads) {
  return static_cast<double>(tokens) * (static_cast<double>(heads) * 128 * 3 * 2 + 8);
}

struct Paged {
  std::int64_t tokens, heads;
  TensorVec<std::uint16_t> key, value;
  TensorVec<std::uint8_t> kc, vc;
  std::vector<std::int64_t> slots;
  float ks = kScale, vs = 2 * kScale;
  std::vector<float> per_head;
  int scale_stride = 0;
  kvscale::PagedCacheShape shape;
  kvscale::TokenRows rows;
  // layout: 0 dense NHD, 1 strided (NHD with 16 bytes of padding after every head, slot and block),
  // 2 split (vLLM ROCm), 3 dense NHD with per-head scales, 4 dense HND, 5 split with per-head scales.
  // Slots: random over a half-used cache (every block partly written), or (prefill) as vLLM's
  // block allocator gives them to a prefill: blocks in random order, each filled from slot 0.
  Paged(std::int64_t t, std::int64_t h, int layout = 0, bool prefill = false) : tokens(t), heads(h) {
    const std::size_t row = static_cast<std::size_t>(h * 128);
    const auto data = bf16_data(static_cast<std::size_t>(t) * row);
    key.assign(data.begin(), data.end());
    value = key;
    shape.layout = layout == 2 || layout == 5 ? kvscale::CacheLayout::split
                   : layout == 4              ? kvscale::CacheLayout::hnd
                                              : kvscale::CacheLayout::nhd;
    shape.block_size = 16;
    shape.num_blocks = (t + 15) / 16 * 2;  // half the cache in use, slots scattered
    shape.num_kv_heads = h;
    shape.head_size = 128;
    if (layout == 1) {
      shape.head_stride = 128 + 16;
      shape.slot_stride = h * shape.head_stride + 16;
      shape.block_stride = 16 * shape.slot_stride + 16;
    }
    if (layout == 3 || layout == 5) {
      per_head.assign(static_cast<std::size_t>(h), kScale);
      scale_stride = 1;
    }
    kc.assign(static_cast<std::size_t>(shape.bytes()), 0);
    vc = kc;
    std::vector<std::int64_t> all(static_cast<std::size_t>(shape.num_slots()));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), std::mt19937(3));
    slots.assign(all.begin(), all.begin() + t);
    if (prefill) {
      std::vector<std::int64_t> blocks(static_cast<std::size_t>(shape.num_blocks));
      std::iota(blocks.begin(), blocks.end(), 0);
      std::shuffle(blocks.begin(), blocks.end(), std::mt19937(5));
      for (std::int64_t i = 0; i < t; ++i)
        slots[static_cast<std::size_t>(i)] = blocks[static_cast<std::size_t>(i / 16)] * 16 + i % 16;
    }
    rows.num_tokens = t;
    rows.num_kv_heads = h;
    rows.head_size = 128;
    rows.key_row_stride = rows.value_row_stride = h * 128;
  }
  kvscale::PagedWriteArgs write() {
    kvscale::PagedWriteArgs a;
    a.format = kFmt;
    a.dtype = DType::bf16;
    a.rows = rows;
    a.key = key.data();
    a.value = value.data();
    a.slot_mapping = slots.data();
    a.cache = shape;
    a.key_cache = kc.data();
    a.value_cache = vc.data();
    a.k_scale = scale_stride ? per_head.data() : &ks;
    a.v_scale = scale_stride ? per_head.data() : &vs;
    a.k_scale_stride = a.v_scale_stride = scale_stride;
    return a;
  }
  kvscale::PagedReadArgs read() {
    kvscale::PagedReadArgs a;
    a.format = kFmt;
    a.dtype = DType::bf16;
    a.rows = rows;
    a.key_cache = kc.data();
    a.value_cache = vc.data();
    a.cache = shape;
    a.slot_mapping = slots.data();
    a.key = key.data();
    a.value = value.data();
    a.k_scale = scale_stride ? per_head.data() : &ks;
    a.v_scale = scale_stride ? per_head.data() : &vs;
    a.k_scale_stride = a.v_scale_stride = scale_stride;
    return a;
  }
  double traffic() const { return paged_traffic(tokens, heads); }
};

void paged_write(benchmark::State& st, int layout, bool prefill = false) {
  Paged p(st.range(0), st.range(1), layout, prefill);
  const auto a = p.write();
  for (auto _ : st) {
    if (cpu::paged_write(a) != kvscale::Status::success) st.SkipWithError("paged_write");
    benchmark::ClobberMemory();
  }
  set_bytes(st, p.traffic());
  // Seconds per call (the console prints it with an SI prefix, e.g. 1.2us).
  st.counters["per_call"] = benchmark::Counter(static_cast<double>(st.iterations()),
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void paged_read(benchmark::State& st, int layout, bool prefill = false) {
  Paged p(st.range(0), st.range(1), layout, prefill);
  cpu::paged_write(p.write());
  const auto a = p.read();
  for (auto _ : st) {
    if (cpu::paged_read(a) != kvscale::Status::success) st.SkipWithError("paged_read");
    benchmark::ClobberMemory();
  }
  set_bytes(st, p.traffic());
  // Seconds per call (the console prints it with an SI prefix, e.g. 1.2us).
  st.counters["per_call"] = benchmark::Counter(static_cast<double>(st.iterations()),
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_paged_write(benchmark::State& st) { paged_write(st, 0); }
void BM_paged_read(benchmark::State& st) { paged_read(st, 0); }
// range(2): 1 strided, 2 split, 3 dense NHD with per-head scales, 4 HND, 5 split with per-head scales.
void BM_paged_write_layout(benchmark::State& st) { paged_write(st, static_cast<int>(st.range(2))); }
void BM_paged_read_layout(benchmark::State& st) { paged_read(st, static_cast<int>(st.range(2))); }
// The same with prefill slots (whole blocks): range(2) 0 dense NHD, 2 split.
void BM_paged_write_prefill(benchmark::State& st) { paged_write(st, static_cast<int>(st.range(2)), true); }
void BM_paged_read_prefill(benchmark::State& st) { paged_read(st, static_cast<int>(st.range(2)), true); }

// A server's calls: the scales of kLayers layers in turn, each layer's K and V scales and each
// head's distinct, so that what the backend keeps per scale (step and dequantize tables) is
// looked up as in service rather than once for the whole run. The scales lie within 1.5x of
// kScale: wider apart, they would also change how many inputs fall among fp8's subnormals (whose
// steps divide), which is not what this measures. range: tokens, heads, layout (0
// dense NHD, 3 NHD per-head); the summary divides the time per call by the one-layer run's.
constexpr std::size_t kLayers = 32;
void paged_layers(benchmark::State& st, bool write) {
  Paged p(st.range(0), st.range(1), static_cast<int>(st.range(2)));
  const auto H = static_cast<std::size_t>(p.heads);
  std::vector<float> scales(kLayers * 2 * H);  // [layer][K, V][head]
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = kScale * (1.0f + 0.001f * static_cast<float>(i % 512));
  auto w = p.write();
  auto r = p.read();
  cpu::paged_write(w);
  std::size_t l = 0;
  for (auto _ : st) {
    const float* k = scales.data() + l * 2 * H;
    l = (l + 1) % kLayers;
    w.k_scale = r.k_scale = k;
    w.v_scale = r.v_scale = k + H;
    if ((write ? cpu::paged_write(w) : cpu::paged_read(r)) != kvscale::Status::success) st.SkipWithError("paged op");
    benchmark::ClobberMemory();
  }
  set_bytes(st, p.traffic());
  st.counters["per_call"] = benchmark::Counter(static_cast<double>(st.iterations()),
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
void BM_paged_write_layers(benchmark::State& st) { paged_layers(st, true); }
void BM_paged_read_layers(benchmark::State& st) { paged_layers(st, false); }

// memcpy with the same traffic as a paged op of (tokens, heads).
void BM_memcpy_paged(benchmark::State& st) {
  const double traffic = paged_traffic(st.range(0), st.range(1));
  const auto bytes = static_cast<std::size_t>(traffic / 2);
  auto src = buffer<unsigned char>(bytes, 1), dst = buffer<unsigned char>(bytes, 0);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::ClobberMemory();
  }
  set_bytes(st, static_cast<double>(bytes) * 2);
}

// The kernel floor of a paged op of (tokens, heads): the same K and V elements quantized
// (dequantized) by the public contiguous ops, with the same scales and threads, and the same
// traffic counted, but no slots and no layout. A paged op runs this exact kernel on every element
// and adds the paging, so a floor well below a goal (issue 11: 0.7x BM_memcpy_paged) points at
// the kernel, not the paging, on this CPU and ISA level. The bound is loose: the floor is two
// calls, each waking the pool, with streaming stores from their size threshold on, and a paged op
// can beat it (docs/performance.md, session 24).
struct FloorData {
  std::vector<std::uint16_t> key, value, kout, vout;
  std::vector<std::uint8_t> kq, vq;
  float ks = kScale, vs = 2 * kScale;
  explicit FloorData(std::size_t n)
      : key(bf16_data(n)),
        value(key),
        kout(buffer<std::uint16_t>(n, 0)),
        vout(kout),
        kq(buffer<std::uint8_t>(n, 0)),
        vq(kq) {}
};

void BM_paged_write_floor(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0) * st.range(1) * 128);
  FloorData d(n);
  for (auto _ : st) {
    if (cpu::quantize(qargs(d.key.data(), d.kq.data(), n, &d.ks)) != kvscale::Status::success ||
        cpu::quantize(qargs(d.value.data(), d.vq.data(), n, &d.vs)) != kvscale::Status::success)
      st.SkipWithError("quantize");
    benchmark::ClobberMemory();
  }
  set_bytes(st, paged_traffic(st.range(0), st.range(1)));
}

void BM_paged_read_floor(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0) * st.range(1) * 128);
  FloorData d(n);
  cpu::quantize(qargs(d.key.data(), d.kq.data(), n, &d.ks));
  cpu::quantize(qargs(d.value.data(), d.vq.data(), n, &d.vs));
  for (auto _ : st) {
    if (cpu::dequantize(dargs(d.kq.data(), d.kout.data(), n, &d.ks)) != kvscale::Status::success ||
        cpu::dequantize(dargs(d.vq.data(), d.vout.data(), n, &d.vs)) != kvscale::Status::success)
      st.SkipWithError("dequantize");
    benchmark::ClobberMemory();
  }
  set_bytes(st, paged_traffic(st.range(0), st.range(1)));
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t kib : {4, 32, 256, 2048, 16384, 65536, 262144}) b->Arg(kib * 1024);
}
// Traffic of the matching kernel: 1.5 x (quantize/dequantize) or 3 x (round trip) the bf16 bytes.
void sizes_x(benchmark::internal::Benchmark* b, std::int64_t num, std::int64_t den) {
  for (std::int64_t kib : {4, 32, 256, 2048, 16384, 65536, 262144}) b->Arg(kib * 1024 * num / den);
}
void shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t heads : {8, 1})  // Llama-3 8B/70B at TP1 (8 KV heads), 70B at TP8 (1)
    for (std::int64_t tokens : {1, 16, 64, 256, 2048, 8192, 16384}) b->Args({tokens, heads});
}

BENCHMARK(BM_memcpy)->Apply([](benchmark::internal::Benchmark* b) { sizes_x(b, 3, 1); })->UseRealTime();
BENCHMARK(BM_memcpy_2t)->Apply([](benchmark::internal::Benchmark* b) { sizes_x(b, 3, 1); })->UseRealTime();
BENCHMARK(BM_roundtrip)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_scalar_roundtrip)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_quantize)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_scalar_quantize)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_dequantize)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_scalar_dequantize)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_memcpy)->Apply([](benchmark::internal::Benchmark* b) { sizes_x(b, 3, 2); })->UseRealTime();
BENCHMARK(BM_paged_write)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_paged_read)->Apply(shapes)->UseRealTime();
// Layouts next to dense NHD in the same run (range(2) as above): compare with
// BM_paged_write/<tokens>/8 (issue 9 item 6: within 10 %) and BM_memcpy_paged/<tokens>/8 (issue 11:
// >= 0.7x from 2,048 tokens; below, the time per call); the summary prints the ratios.
constexpr int kLayouts[] = {1, 2, 3, 4, 5};
constexpr std::int64_t kLayoutTokens[] = {1, 16, 256, 2048, 16384};
void layouts(benchmark::internal::Benchmark* b) {
  for (std::int64_t layout : kLayouts)
    for (std::int64_t tokens : kLayoutTokens) b->Args({tokens, 8, layout});
}
BENCHMARK(BM_paged_write_layout)->Apply(layouts)->UseRealTime();
BENCHMARK(BM_paged_read_layout)->Apply(layouts)->UseRealTime();
// Random slots leave every block of the split layout partly written, so its V (and K) lines are
// shared by the tokens of a block and each is read and written back once per call for a fraction
// of its bytes; with prefill slots both layouts fill whole lines.
void prefill_layouts(benchmark::internal::Benchmark* b) {
  for (std::int64_t layout : {0, 2})
    for (std::int64_t tokens : {2048, 16384}) b->Args({tokens, 8, layout});
}
BENCHMARK(BM_paged_write_prefill)->Apply(prefill_layouts)->UseRealTime();
BENCHMARK(BM_paged_read_prefill)->Apply(prefill_layouts)->UseRealTime();
BENCHMARK(BM_memcpy_paged)->Apply(shapes)->UseRealTime();
// Small calls with kLayers layers' scales in turn: dense NHD and NHD per-head.
void layer_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t layout : {0, 3})
    for (std::int64_t tokens : {1, 16, 256}) b->Args({tokens, 8, layout});
}
BENCHMARK(BM_paged_write_layers)->Apply(layer_shapes)->UseRealTime();
BENCHMARK(BM_paged_read_layers)->Apply(layer_shapes)->UseRealTime();
// The kernel floors of the sizes the goals apply to (2,048 tokens and up).
void floor_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t heads : {8, 1})
    for (std::int64_t tokens : {2048, 16384}) b->Args({tokens, heads});
}
BENCHMARK(BM_paged_write_floor)->Apply(floor_shapes)->UseRealTime();
BENCHMARK(BM_paged_read_floor)->Apply(floor_shapes)->UseRealTime();

// ---- calibration: observe_amax (range = tokens, heads; head size 128, bf16) -------------------
// Baseline: memchr over the same K and V bytes for a byte that never occurs (glibc's vectorised
// read-only scan), on one thread; observe_amax_1t runs on one thread too. Bytes: K + V read once.

struct AmaxData {
  std::int64_t tokens, heads;
  std::vector<std::uint16_t> k, v;
  std::vector<float> amax;
  AmaxData(std::int64_t t, std::int64_t h)
      : tokens(t),
        heads(h),
        k(bf16_data(static_cast<std::size_t>(t * h * 128))),
        v(k.rbegin(), k.rend()),
        amax(static_cast<std::size_t>(kvscale::amax_floats(h)), 0.0f) {}
  kvscale::ObserveAmaxArgs args() {
    const std::int64_t row = heads * 128;
    return kvscale::ObserveAmaxArgs{
        DType::bf16, kvscale::TokenRows{tokens, heads, 128, row, row}, k.data(), v.data(), nullptr, amax.data()};
  }
  double bytes() const { return static_cast<double>(k.size() + v.size()) * 2.0; }
};

void run_observe(benchmark::State& st, int threads) {
  AmaxData d(st.range(0), st.range(1));
  const int saved = cpu::num_threads();
  if (threads > 0) cpu::set_num_threads(threads);
  const kvscale::ObserveAmaxArgs a = d.args();
  for (auto _ : st) {
    if (cpu::observe_amax(a) != kvscale::Status::success) st.SkipWithError("observe_amax failed");
    benchmark::ClobberMemory();
  }
  cpu::set_num_threads(saved);
  set_bytes(st, d.bytes());
}
void BM_observe_amax(benchmark::State& st) { run_observe(st, 0); }
void BM_observe_amax_1t(benchmark::State& st) { run_observe(st, 1); }

void BM_read_memchr(benchmark::State& st) {
  AmaxData d(st.range(0), st.range(1));
  for (auto& x : d.k) x = 0x3F80;  // memchr looks for 0x01, which then never occurs
  for (auto& x : d.v) x = 0x3F80;
  for (auto _ : st) {
    const void* a = std::memchr(d.k.data(), 0x01, d.k.size() * 2);
    const void* b = std::memchr(d.v.data(), 0x01, d.v.size() * 2);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
  set_bytes(st, d.bytes());
}

void amax_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t tokens : {256, 2048, 16384}) b->Args({tokens, 8});
}
BENCHMARK(BM_observe_amax_1t)->Apply(amax_shapes)->UseRealTime();
BENCHMARK(BM_read_memchr)->Apply(amax_shapes)->UseRealTime();
BENCHMARK(BM_observe_amax)->Apply(amax_shapes)->UseRealTime();

// ---- summary (after the console table only; benchmarks/ratio_summary.hpp) ---------------------

using kvscale::bench::print;
using kvscale::bench::ratio;
using Rate = std::function<double(const std::string&)>;  // bytes/s of a benchmark run, 0 if absent

// " <tokens>tok <heads>h": the paged tables' row labels.
std::string paged_label(const char* k, std::int64_t tokens, std::int64_t heads) {
  return std::string(k) + " " + std::to_string(tokens) + "tok " + std::to_string(heads) + "h";
}

// The contiguous kernels against memcpy (1 and 2 threads) and the scalar loop, then the paged ops
// against memcpy_paged.
void summary_kernels(const Rate& get, std::ostream& out) {
  print(out, "Summary (throughput ratios, same run; bytes = read + written once each):\n");
  print(out, "%-22s %14s %10s %12s %10s\n", "kernel", "GB/s", "/memcpy", "/memcpy_2t", "/scalar");
  for (const char* k : {"roundtrip", "quantize", "dequantize"}) {
    const double mul = std::string(k) == "roundtrip" ? 3.0 : 1.5;
    for (std::int64_t kib : {4, 32, 256, 2048, 16384, 65536, 262144}) {
      const std::int64_t bytes = kib * 1024;
      const std::string arg = "/" + std::to_string(bytes) + "/real_time";
      const std::string carg =
          "/" + std::to_string(static_cast<std::int64_t>(static_cast<double>(bytes) * mul)) + "/real_time";
      const double kr = get(std::string("BM_") + k + arg);
      if (kr <= 0) continue;
      const std::string label = std::string(k) + " " + std::to_string(kib) + "KiB";
      print(out, "%-22s %14.2f %10s %12s %10s\n", label.c_str(), kr / 1e9, ratio(kr, get("BM_memcpy" + carg)).c_str(),
            ratio(kr, get("BM_memcpy_2t" + carg)).c_str(), ratio(kr, get(std::string("BM_scalar_") + k + arg)).c_str());
    }
  }
  for (const char* k : {"paged_write", "paged_read"})
    for (std::int64_t heads : {8, 1})
      for (std::int64_t tokens : {1, 16, 64, 256, 2048, 8192, 16384}) {
        const std::string arg = "/" + std::to_string(tokens) + "/" + std::to_string(heads) + "/real_time";
        const double kr = get(std::string("BM_") + k + arg);
        if (kr <= 0) continue;
        print(out, "%-22s %14.2f %10s %12s %10s\n", paged_label(k, tokens, heads).c_str(), kr / 1e9,
              ratio(kr, get("BM_memcpy_paged" + arg)).c_str(), "-", "-");
      }
}

// The kernel floors (BM_paged_*_floor): where the floor's /memcpy is well below a paged goal, the
// kernel rather than the paging stands in the way (a loose bound: see FloorData); op/floor is the
// dense NHD paged op's throughput over its floor's.
void summary_floors(const Rate& get, std::ostream& out) {
  print(out, "\n%-30s %10s %10s %10s\n", "kernel floor (no paging)", "GB/s", "/memcpy", "op/floor");
  for (const char* k : {"paged_write", "paged_read"})
    for (std::int64_t heads : {8, 1})
      for (std::int64_t tokens : {2048, 16384}) {
        const std::string arg = "/" + std::to_string(tokens) + "/" + std::to_string(heads) + "/real_time";
        const double fr = get(std::string("BM_") + k + "_floor" + arg);
        if (fr <= 0) continue;
        print(out, "%-30s %10.2f %10s %10s\n", paged_label(k, tokens, heads).c_str(), fr / 1e9,
              ratio(fr, get("BM_memcpy_paged" + arg)).c_str(), ratio(get(std::string("BM_") + k + arg), fr).c_str());
      }
}

// Layers in turn (BM_paged_*_layers): the time per call, and over the one-layer run's; then
// observe_amax on one thread against memchr, and on the pool.
void summary_layers_and_amax(const Rate& get, std::ostream& out) {
  print(out, "\n%-30s %10s %10s\n", "32 layers in turn (8 heads)", "us/call", "/1 layer");
  for (const char* k : {"paged_write", "paged_read"})
    for (int layout : {0, 3})
      for (std::int64_t tokens : {1, 16, 256}) {
        const std::string base = "/" + std::to_string(tokens) + "/8";
        const double lr = get(std::string("BM_") + k + "_layers" + base + "/" + std::to_string(layout) + "/real_time");
        const double one = layout == 0 ? get(std::string("BM_") + k + base + "/real_time")
                                       : get(std::string("BM_") + k + "_layout" + base + "/3/real_time");
        if (lr <= 0) continue;
        const std::string label =
            std::string(k) + (layout == 0 ? " NHD " : " per-head ") + std::to_string(tokens) + "tok";
        print(out, "%-30s %10.2f %10s\n", label.c_str(), paged_traffic(tokens, 8) / lr * 1e6, ratio(one, lr).c_str());
      }
  print(out, "\n%-26s %10s %10s %16s\n", "observe_amax (bf16, 8x128)", "1t GB/s", "/memchr", "pool GB/s");
  for (std::int64_t tokens : {256, 2048, 16384}) {
    const std::string arg = "/" + std::to_string(tokens) + "/8/real_time";
    const double one = get("BM_observe_amax_1t" + arg);
    if (one <= 0) continue;
    const std::string label = std::to_string(tokens) + " tokens";
    print(out, "%-26s %10.2f %10s %16.2f\n", label.c_str(), one / 1e9, ratio(one, get("BM_read_memchr" + arg)).c_str(),
          get("BM_observe_amax" + arg) / 1e9);
  }
}

// The layouts against dense NHD and memcpy_paged, then the split layout with prefill slots.
void summary_layouts(const Rate& get, std::ostream& out) {
  print(out, "\n%-30s %10s %10s %10s\n", "layout (8 heads)", "GB/s", "/dense NHD", "/memcpy");
  const char* names[] = {"", "strided", "split", "NHD per-head", "HND", "split per-head"};
  for (const char* k : {"paged_write", "paged_read"})
    for (int layout : kLayouts)
      for (std::int64_t tokens : kLayoutTokens) {
        const std::string base = "/" + std::to_string(tokens) + "/8";
        const double kr = get(std::string("BM_") + k + "_layout" + base + "/" + std::to_string(layout) + "/real_time");
        if (kr <= 0) continue;
        const std::string label = std::string(k) + " " + names[layout] + " " + std::to_string(tokens) + "tok";
        print(out, "%-30s %10.2f %10s %10s\n", label.c_str(), kr / 1e9,
              ratio(kr, get(std::string("BM_") + k + base + "/real_time")).c_str(),
              ratio(kr, get("BM_memcpy_paged" + base + "/real_time")).c_str());
      }
  for (const char* k : {"paged_write", "paged_read"})
    for (std::int64_t tokens : {2048, 16384}) {
      const std::string base = std::string("BM_") + k + "_prefill/" + std::to_string(tokens) + "/8/";
      const double kr = get(base + "2/real_time");
      if (kr <= 0) continue;
      const std::string label = std::string(k) + " split prefill " + std::to_string(tokens) + "tok";
      print(out, "%-30s %10.2f %10s %10s\n", label.c_str(), kr / 1e9, ratio(kr, get(base + "0/real_time")).c_str(),
            ratio(kr, get("BM_memcpy_paged/" + std::to_string(tokens) + "/8/real_time")).c_str());
    }
}

void summary(const kvscale::bench::Results& res, std::ostream& out) {
  const Rate get = [&res](const std::string& name) { return res.rate(name); };
  summary_kernels(get, out);
  summary_floors(get, out);
  summary_layers_and_amax(get, out);
  summary_layouts(get, out);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (const char* t = std::getenv("KVSCALE_THREADS")) cpu::set_num_threads(std::atoi(t));
  // Environment: KVSCALE_THREADS=<n>; the library's own KVSCALE_CPU_ISA=scalar|avx2|avx512 caps
  // the ISA (set_max_isa cannot raise it past that cap). Both go into the context (the console
  // header on stderr, the JSON "context"), never as extra lines on stdout.
  benchmark::AddCustomContext("kvscale_isa", cpu::isa_name(cpu::set_max_isa(cpu::Isa::best)));
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  // The AVX-512 level dequantizes to f16/bf16 by VBMI byte permutes where the CPU has them.
  benchmark::AddCustomContext("cpu_avx512_vbmi", __builtin_cpu_supports("avx512vbmi") ? "yes" : "no");
#endif
  benchmark::AddCustomContext("kvscale_threads", std::to_string(cpu::num_threads()));
  kvscale::bench::run_with_summary(summary);
  benchmark::Shutdown();
  return 0;
}
