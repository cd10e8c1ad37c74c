// bench_gpu: GPU quantize / dequantize / paged write / paged read / round trip (Google Benchmark).
//
// Registers cases only when a GPU device exists; otherwise prints why on stderr (stdout stays
// empty, so a --benchmark_format=json consumer sees no output rather than stray text) and exits 0.
// Timing: GPU events around a batch of back-to-back launches, reported per launch through
// UseManualTime. Bytes: each byte read or written once (inputs, outputs, int64 slot indices;
// the 4-byte scales are ignored), 1 GB = 1e9 B.
// Baselines measured in the same benchmark, on the same bytes and the same cache state:
//   copy   a device-to-device copy moving the same traffic (traffic / 2 bytes copied);
//   naive  vLLM's 2024 kernel shape (kernels/baseline.hpp), where one exists.
// Counters: x_copy = kernel time / copy time, x_naive = kernel time / naive time, copy_GBps.
// After the console table a summary lists those ratios per case (benchmarks/ratio_summary.hpp);
// --benchmark_format=json|csv and --benchmark_out are the library's own output.
// Cache state: "warm" reuses one set of buffers; "cold" rotates through sets whose footprint is
// >= 512 MiB (2x MI300's 256 MB Infinity Cache, 10x H100's L2), so every launch misses.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kvscale/gpu.hpp"
#include "kvscale/kv_cache.hpp"
#include "ratio_summary.hpp"
#if defined(KVSCALE_BENCH_HAVE_BASELINE)
#include "baseline.hpp"
#endif

namespace kvscale {
namespace {

constexpr std::size_t kColdBytes = std::size_t{512} << 20;
constexpr std::size_t kBatchBytes = std::size_t{256} << 20;  // aim for this much traffic per batch

int g_device = 0;
Fp8Format g_native = Fp8Format::e4m3fn;

void check(Status s, const char* what) {
  if (s != Status::success) {
    std::fprintf(stderr, "bench_gpu: %s: %s: %s\n", what, status_name(s), last_error_message().c_str());
    std::exit(1);
  }
}

gpu::DeviceBuffer alloc(std::size_t bytes) {
  gpu::DeviceBuffer b;
  check(gpu::DeviceBuffer::create(g_device, bytes, &b), "DeviceBuffer::create");
  return b;
}

// Uploads `chunk` to the start of `b` and repeats it on the device (a cold case fills >= 1 GiB, and
// Google Benchmark calls a case's function once per trial iteration count).
void replicate(gpu::DeviceBuffer& b, const std::vector<std::uint8_t>& chunk) {
  const std::size_t first = std::min(chunk.size(), b.size());
  check(b.upload(chunk.data(), first, nullptr), "upload");
  auto* base = static_cast<char*>(b.data());
  for (std::size_t off = first; off < b.size(); off += first)
    check(gpu::copy_device(base + off, base, std::min(first, b.size() - off), nullptr), "copy_device");
  check(gpu::synchronize(nullptr), "synchronize");
}

// Fills a buffer with bf16/f16/f32-looking data: a normal spread, some values past the fp8 range
// and some tiny ones (the clamp and subnormal paths). Byte-level pattern repeated in 1 MiB chunks.
void fill_values(gpu::DeviceBuffer& b, DType t) {
  std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (std::size_t i = 0; i < chunk.size(); i += dtype_size(t)) {
    float x = normal(rng);
    if (rng() % 64 == 0) x *= 1000.0f;
    if (rng() % 64 == 1) x *= 1e-4f;
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    if (t == DType::f32) {
      std::memcpy(&chunk[i], &u, 4);
    } else {
      const auto h = static_cast<std::uint16_t>(u >> 16);  // bf16-ish bits; valid f16 codes too
      std::memcpy(&chunk[i], &h, 2);
    }
  }
  replicate(b, chunk);
}

void fill_codes(gpu::DeviceBuffer& b) {
  std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
  std::mt19937 rng(7);
  for (auto& c : chunk) c = static_cast<std::uint8_t>(rng() % 0x7E);  // finite codes (fn)
  replicate(b, chunk);
}

// Seconds per launch of `launch(i)` over a batch, i continuing from *counter.
double time_batch(const std::function<void(std::size_t)>& launch, int batch, std::size_t* counter) {
  gpu::EventTimer t;
  check(t.start(nullptr), "EventTimer::start");
  for (int i = 0; i < batch; ++i) launch((*counter)++);
  check(t.stop(nullptr), "EventTimer::stop");
  float ms = 0;
  check(t.elapsed_ms(&ms), "EventTimer::elapsed_ms");
  return static_cast<double>(ms) * 1e-3 / batch;
}

struct Work {
  std::size_t traffic = 0;                  // bytes read + written by one launch
  std::function<void(std::size_t)> kernel;  // launch for rotation index i
  std::function<void(std::size_t)> copy;    // same traffic as a D2D copy
  std::function<void(std::size_t)> naive;   // optional
  std::function<void(std::size_t)> read;    // optional: a read-only pass over the same bytes (observe_amax)
};

void run(benchmark::State& st, const Work& w) {
  const int batch =
      static_cast<int>(std::clamp<std::size_t>(kBatchBytes / std::max<std::size_t>(w.traffic, 1), 3, 1000));
  std::size_t counter = 0;
  (void)time_batch(w.kernel, 2, &counter);  // warm-up (code load, clocks)
  // One launch per benchmark iteration, so that Google Benchmark's iteration count and min_time
  // mean launches and GPU seconds. Events bracket groups of up to `batch` launches (an event pair
  // per launch would time the launch latency); the group's time goes to its last iteration.
  gpu::EventTimer t;
  double total = 0;
  int in_group = 0;
  benchmark::IterationCount left = st.max_iterations;
  for (auto _ : st) {
    if (in_group == 0) check(t.start(nullptr), "EventTimer::start");
    w.kernel(counter++);
    --left;
    if (++in_group < batch && left > 0) {
      st.SetIterationTime(0);
      continue;
    }
    check(t.stop(nullptr), "EventTimer::stop");
    float ms = 0;
    check(t.elapsed_ms(&ms), "EventTimer::elapsed_ms");
    st.SetIterationTime(static_cast<double>(ms) * 1e-3);
    total += static_cast<double>(ms) * 1e-3;
    in_group = 0;
  }
  const double kernel_s = total / static_cast<double>(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(w.traffic));
  st.counters["us"] = kernel_s * 1e6;
  std::size_t c2 = 0;
  (void)time_batch(w.copy, 2, &c2);
  const double copy_s = time_batch(w.copy, batch, &c2);
  st.counters["copy_GBps"] = static_cast<double>(w.traffic) / copy_s * 1e-9;
  st.counters["x_copy"] = kernel_s / copy_s;
  if (w.naive) {
    std::size_t c3 = 0;
    (void)time_batch(w.naive, 2, &c3);
    st.counters["x_naive"] = kernel_s / time_batch(w.naive, batch, &c3);
  }
  if (w.read) {
    std::size_t c4 = 0;
    (void)time_batch(w.read, 2, &c4);
    const double read_s = time_batch(w.read, batch, &c4);
    st.counters["x_read"] = kernel_s / read_s;  // goal <= 1.25 (>= 0.8x the read's throughput)
    st.counters["read_GBps"] = static_cast<double>(w.traffic) / read_s * 1e-9;
  }
}

std::size_t sets_for(std::size_t per_set, bool cold) {
  if (!cold) return 1;
  return std::max<std::size_t>(1, (kColdBytes + per_set - 1) / per_set);
}

// A D2D copy moving `traffic` bytes (traffic / 2 copied), rotating like the kernel.
struct CopyBaseline {
  gpu::DeviceBuffer src, dst;
  std::size_t bytes = 0;
  CopyBaseline(std::size_t traffic, std::size_t sets) : bytes(std::max<std::size_t>(traffic / 2, 1)) {
    src = alloc(bytes * sets);
    dst = alloc(bytes * sets);
    check(src.fill(1, nullptr), "fill");
  }
  std::function<void(std::size_t)> fn() {
    const std::size_t n = src.size() / bytes;
    return [this, n](std::size_t i) {
      const std::size_t o = (i % n) * bytes;
      check(gpu::copy_device(static_cast<char*>(dst.data()) + o, static_cast<char*>(src.data()) + o, bytes, nullptr),
            "copy_device");
    };
  }
};

gpu::DeviceBuffer scale_buffer(float s) {
  gpu::DeviceBuffer b = alloc(sizeof(float));
  check(b.upload(&s, sizeof s, nullptr), "upload");
  check(gpu::synchronize(nullptr), "synchronize");
  return b;
}

// ---- contiguous ---------------------------------------------------------------------------------

enum class Op { quantize, dequantize, round_trip };

void bm_contiguous(benchmark::State& st, Op op, Fp8Format f, DType t, std::size_t n, bool cold) {
  const std::size_t es = dtype_size(t);
  const std::size_t traffic = op == Op::quantize     ? n * (es + 1)
                              : op == Op::dequantize ? n * (1 + es)
                                                     : 2 * n * (es + 1);
  const std::size_t sets = sets_for(traffic, cold);
  gpu::DeviceBuffer wide = alloc(n * es * sets), codes = alloc(n * sets), back;
  if (op == Op::round_trip) back = alloc(n * es * sets);
  fill_values(wide, t);
  fill_codes(codes);
  gpu::DeviceBuffer sc = scale_buffer(0.0152239128947258f);
  const float* s = static_cast<const float*>(sc.data());
  auto* w = static_cast<std::uint8_t*>(wide.data());
  auto* c = static_cast<std::uint8_t*>(codes.data());
  auto* r = static_cast<std::uint8_t*>(back.data());
  Work work;
  work.traffic = traffic;
  work.kernel = [&](std::size_t i) {
    const std::size_t k = i % sets;
    if (op != Op::dequantize)
      check(gpu::quantize(QuantizeArgs{f, t, w + k * n * es, c + k * n, n, s}, nullptr), "gpu::quantize");
    if (op != Op::quantize)
      check(
          gpu::dequantize(DequantizeArgs{f, t, c + k * n, (op == Op::round_trip ? r : w) + k * n * es, n, s}, nullptr),
          "gpu::dequantize");
  };
  CopyBaseline copy(traffic, sets);
  work.copy = copy.fn();
#if defined(KVSCALE_BENCH_HAVE_BASELINE)
  work.naive = [&](std::size_t i) {
    const std::size_t k = i % sets;
    if (op != Op::dequantize)
      check(baseline::quantize(f, t, w + k * n * es, c + k * n, n, 0.0152239128947258f, nullptr) == 0
                ? Status::success
                : Status::device_error,
            "baseline::quantize");
    if (op != Op::quantize)
      check(baseline::dequantize(f, t, c + k * n, (op == Op::round_trip ? r : w) + k * n * es, n, 0.0152239128947258f,
                                 nullptr) == 0
                ? Status::success
                : Status::device_error,
            "baseline::dequantize");
  };
#endif
  run(st, work);
  st.counters["elements"] = static_cast<double>(n);
}

// ---- paged --------------------------------------------------------------------------------------

struct Model {
  const char* name;
  std::int64_t heads, head_size, block_size;
};
const Model kModels[] = {{"llama3-8b-tp1", 8, 128, 16}, {"llama3-70b-tp8", 1, 128, 16}};

enum class PagedOp { write, read, round_trip };

void bm_paged(benchmark::State& st, PagedOp op, const Model& m, Fp8Format f, DType t, std::int64_t tokens, bool cold,
              CacheLayout layout = CacheLayout::nhd, bool prefill = false) {
  const std::size_t es = dtype_size(t);
  const std::size_t row = static_cast<std::size_t>(m.heads * m.head_size);
  const std::size_t nt = static_cast<std::size_t>(tokens);
  const std::size_t one = nt * row * (es + 1) * 2;  // K and V: wide + fp8
  const std::size_t traffic =
      (op == PagedOp::round_trip ? 2 * one : one) + nt * 8 * (op == PagedOp::round_trip ? 2 : 1);
  const std::size_t sets = sets_for(traffic, cold);
  // Enough slots that each set writes its own (cold) part of the cache; at least 2x the tokens.
  std::int64_t num_slots = static_cast<std::int64_t>(std::max<std::size_t>(2 * nt, nt * sets));
  const std::int64_t num_blocks = (num_slots + m.block_size - 1) / m.block_size;
  num_slots = num_blocks * m.block_size;
  const PagedCacheShape cache{layout, num_blocks, m.block_size, m.heads, m.head_size};
  gpu::DeviceBuffer key = alloc(nt * row * es * sets), value = alloc(nt * row * es * sets);
  gpu::DeviceBuffer kc = alloc(static_cast<std::size_t>(cache.bytes())),
                    vc = alloc(static_cast<std::size_t>(cache.bytes()));
  fill_values(key, t);
  fill_values(value, t);
  fill_codes(kc);
  fill_codes(vc);
  // Decode: random distinct slots per set (a permutation of the cache), 1 in 64 padding (-1).
  // Prefill: whole blocks in random order, filled from their first slot (vLLM's block allocator).
  std::vector<std::int64_t> perm(static_cast<std::size_t>(prefill ? num_blocks : num_slots));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(3);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<std::int64_t> slots(nt * sets);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const auto bs = static_cast<std::size_t>(m.block_size);
    slots[i] = prefill        ? perm[(i / bs) % perm.size()] * m.block_size + static_cast<std::int64_t>(i % bs)
               : i % 64 == 63 ? -1
                              : perm[i % perm.size()];
  }
  gpu::DeviceBuffer dslots = alloc(slots.size() * 8);
  check(dslots.upload(slots.data(), slots.size() * 8, nullptr), "upload");
  check(gpu::synchronize(nullptr), "synchronize");
  gpu::DeviceBuffer ks = scale_buffer(0.02f), vs = scale_buffer(0.03f);
  const TokenRows rows{tokens, m.heads, m.head_size, m.heads * m.head_size, m.heads * m.head_size};
  auto* kp = static_cast<std::uint8_t*>(key.data());
  auto* vp = static_cast<std::uint8_t*>(value.data());
  auto* kcp = static_cast<std::uint8_t*>(kc.data());
  auto* vcp = static_cast<std::uint8_t*>(vc.data());
  const auto* sl = static_cast<const std::int64_t*>(dslots.data());
  const auto* ksp = static_cast<const float*>(ks.data());
  const auto* vsp = static_cast<const float*>(vs.data());
  Work work;
  work.traffic = traffic;
  work.kernel = [&](std::size_t i) {
    const std::size_t k = i % sets;
    const std::size_t ro = k * nt * row * es;
    if (op != PagedOp::read)
      check(gpu::paged_write(PagedWriteArgs{f, t, rows, kp + ro, vp + ro, sl + k * nt, cache, kcp, vcp, ksp, vsp},
                             nullptr),
            "gpu::paged_write");
    if (op != PagedOp::write)
      check(
          gpu::paged_read(PagedReadArgs{f, t, rows, kcp, vcp, cache, sl + k * nt, kp + ro, vp + ro, ksp, vsp}, nullptr),
          "gpu::paged_read");
  };
  CopyBaseline copy(traffic, sets);
  work.copy = copy.fn();
#if defined(KVSCALE_BENCH_HAVE_BASELINE)
  if (op == PagedOp::write && layout == CacheLayout::nhd) {
    work.naive = [&](std::size_t i) {
      const std::size_t k = i % sets;
      const std::size_t ro = k * nt * row * es;
      check(baseline::paged_write(f, t, kp + ro, vp + ro, sl + k * nt, tokens, m.heads, m.head_size, m.block_size, kcp,
                                  vcp, 0.02f, 0.03f, nullptr) == 0
                ? Status::success
                : Status::device_error,
            "baseline::paged_write");
    };
  }
  if (op == PagedOp::write && layout == CacheLayout::split) {  // the same run: staged vs per-element V
    work.naive = [&](std::size_t i) {
      const std::size_t k = i % sets;
      const std::size_t ro = k * nt * row * es;
      check(baseline::paged_write_split(f, t, kp + ro, vp + ro, sl + k * nt, tokens, m.heads, m.head_size, m.block_size,
                                        kcp, vcp, 0.02f, 0.03f, nullptr) == 0
                ? Status::success
                : Status::device_error,
            "baseline::paged_write_split");
    };
  }
#endif
  run(st, work);
  st.counters["tokens"] = static_cast<double>(tokens);
}

// ---- calibration: observe_amax over K and V rows (tokens x heads x head_size, dense) ----------------
// Traffic: K and V read once, int64 slots (1 in 64 padding). Baselines: the D2D copy of the same
// traffic, and (x_read) a plain read-only max reduction over the same K and V bytes.

void bm_amax(benchmark::State& st, const Model& m, DType t, std::int64_t tokens, bool cold) {
  const std::size_t es = dtype_size(t);
  const std::size_t nt = static_cast<std::size_t>(tokens);
  const std::size_t bytes = nt * static_cast<std::size_t>(m.heads * m.head_size) * es;  // K (= V)
  const std::size_t traffic = 2 * bytes + nt * 8;
  const std::size_t sets = sets_for(traffic, cold);
  gpu::DeviceBuffer key = alloc(bytes * sets), value = alloc(bytes * sets), amax = alloc(4096);
  fill_values(key, t);
  fill_values(value, t);
  check(amax.fill(0, nullptr), "fill");
  std::vector<std::int64_t> slots(nt);
  for (std::size_t i = 0; i < nt; ++i) slots[i] = i % 64 == 63 ? -1 : static_cast<std::int64_t>(i);
  gpu::DeviceBuffer dslots = alloc(nt * 8);
  check(dslots.upload(slots.data(), nt * 8, nullptr), "upload");
  check(gpu::synchronize(nullptr), "synchronize");
  const TokenRows rows{tokens, m.heads, m.head_size, m.heads * m.head_size, m.heads * m.head_size};
  auto* kp = static_cast<std::uint8_t*>(key.data());
  auto* vp = static_cast<std::uint8_t*>(value.data());
  Work work;
  work.traffic = traffic;
  work.kernel = [&](std::size_t i) {
    const std::size_t o = (i % sets) * bytes;
    check(gpu::observe_amax(ObserveAmaxArgs{t, rows, kp + o, vp + o, static_cast<const std::int64_t*>(dslots.data()),
                                            static_cast<float*>(amax.data())},
                            nullptr),
          "gpu::observe_amax");
  };
  CopyBaseline copy(traffic, sets);
  work.copy = copy.fn();
#if defined(KVSCALE_BENCH_HAVE_BASELINE)
  work.read = [&](std::size_t i) {
    const std::size_t o = (i % sets) * bytes;
    check(baseline::read_max(kp + o, vp + o, bytes, static_cast<unsigned*>(amax.data()) + 512, nullptr) == 0
              ? Status::success
              : Status::device_error,
          "baseline::read_max");
  };
#endif
  run(st, work);
  st.counters["tokens"] = static_cast<double>(tokens);
}

// The ratio counters of every case, one line each, in name order: a narrow view of the console
// table for comparing cases (time ratios: < 1 is faster than the baseline).
void summary(const bench::Results& res, std::ostream& out) {
  bench::print(out, "Summary (time ratios to same-run baselines; < 1 is faster than the baseline):\n");
  bench::print(out, "%-58s %10s %10s %8s %8s %8s\n", "case", "GB/s", "copy GB/s", "x_copy", "x_naive", "x_read");
  auto cell = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return v > 0 ? std::string(buf) : std::string("-");
  };
  for (const std::string& name : res.names()) {
    const double rate = res.rate(name);
    if (rate <= 0) continue;
    bench::print(out, "%-58s %10.2f %10s %8s %8s %8s\n", name.c_str(), rate * 1e-9,
                 cell(res.counter(name, "copy_GBps")).c_str(), cell(res.counter(name, "x_copy")).c_str(),
                 cell(res.counter(name, "x_naive")).c_str(), cell(res.counter(name, "x_read")).c_str());
  }
}

const char* fmt(Fp8Format f) { return f == Fp8Format::e4m3fn ? "fn" : "fnuz"; }

void register_all() {
  const DType bf16 = DType::bf16;
  const Fp8Format other = g_native == Fp8Format::e4m3fn ? Fp8Format::e4m3fnuz : Fp8Format::e4m3fn;
  auto reg = [](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseManualTime()->Unit(benchmark::kMicrosecond);
  };
  // Contiguous size sweep (elements), native format (hardware conversion where there is one), warm and cold.
  for (bool cold : {false, true}) {
    const char* cs = cold ? "cold" : "warm";
    for (std::size_t n : {std::size_t{1} << 12, std::size_t{1} << 16, std::size_t{1} << 20, std::size_t{1} << 24,
                          std::size_t{1} << 27}) {
      for (Op op : {Op::quantize, Op::dequantize, Op::round_trip}) {
        const char* on = op == Op::quantize ? "quantize" : op == Op::dequantize ? "dequantize" : "round_trip";
        reg(std::string(on) + "/" + fmt(g_native) + "/bf16/n=" + std::to_string(n) + "/" + cs,
            [=](benchmark::State& st) { bm_contiguous(st, op, g_native, bf16, n, cold); });
      }
    }
    // The other format (software codec) and other dtypes at one large size.
    const std::size_t big = std::size_t{1} << 24;
    reg(std::string("quantize/") + fmt(other) + "/bf16/n=" + std::to_string(big) + "/" + cs,
        [=](benchmark::State& st) { bm_contiguous(st, Op::quantize, other, bf16, big, cold); });
    for (DType t : {DType::f16, DType::f32})
      reg(std::string("quantize/") + fmt(g_native) + "/" + dtype_name(t) + "/n=" + std::to_string(big) + "/" + cs,
          [=](benchmark::State& st) { bm_contiguous(st, Op::quantize, g_native, t, big, cold); });
  }
  // Bulk dequantize: 1 GiB of fp8 -> 2 GiB of bf16 (the only case that really measures HBM).
  reg(std::string("dequantize_bulk/") + fmt(g_native) + "/bf16/1GiB",
      [=](benchmark::State& st) { bm_contiguous(st, Op::dequantize, g_native, bf16, std::size_t{1} << 30, false); });
  // Calibration: observe_amax, Llama-3 shapes, bf16 and f32.
  for (const Model& m : kModels)
    for (DType t : {DType::bf16, DType::f32})
      for (bool cold : {false, true})
        for (std::int64_t tokens : {256, 2048, 16384})
          reg(std::string("observe_amax/") + m.name + "/" + dtype_name(t) + "/tokens=" + std::to_string(tokens) + "/" +
                  (cold ? "cold" : "warm"),
              [=, &m](benchmark::State& st) { bm_amax(st, m, t, tokens, cold); });
  // Paged: Llama-3 shapes, decode batches and prefill chunks.
  for (const Model& m : kModels) {
    for (bool cold : {false, true}) {
      for (std::int64_t tokens : {1, 8, 32, 64, 128, 256, 2048, 8192, 16384}) {
        for (PagedOp op : {PagedOp::write, PagedOp::read, PagedOp::round_trip}) {
          const char* on = op == PagedOp::write  ? "paged_write"
                           : op == PagedOp::read ? "paged_read"
                                                 : "paged_round_trip";
          const std::string name = std::string(on) + "/" + m.name + "/" + fmt(g_native) +
                                   "/bf16/tokens=" + std::to_string(tokens) + "/" + (cold ? "cold" : "warm");
          reg(name, [=, &m](benchmark::State& st) { bm_paged(st, op, m, g_native, bf16, tokens, cold); });
        }
      }
    }
  }
  // Split layout (vLLM ROCm): the write with V staged through shared memory, against the naive
  // per-element split writer (baseline::paged_write_split) in the same run, and the read.
  for (const Model& m : kModels) {
    for (bool cold : {false, true}) {
      for (std::int64_t tokens : {32, 256, 2048, 8192}) {
        for (PagedOp op : {PagedOp::write, PagedOp::read}) {
          const std::string name = std::string(op == PagedOp::write ? "paged_write_split" : "paged_read_split") + "/" +
                                   m.name + "/" + fmt(g_native) + "/bf16/tokens=" + std::to_string(tokens) + "/" +
                                   (cold ? "cold" : "warm");
          reg(name,
              [=, &m](benchmark::State& st) { bm_paged(st, op, m, g_native, bf16, tokens, cold, CacheLayout::split); });
        }
      }
    }
  }
  // Prefill slots (whole blocks): split against its naive writer, and dense NHD.
  for (const Model& m : kModels)
    for (bool cold : {false, true})
      for (std::int64_t tokens : {256, 2048, 8192})
        for (CacheLayout layout : {CacheLayout::split, CacheLayout::nhd})
          for (PagedOp op : {PagedOp::write, PagedOp::read}) {
            const bool split = layout == CacheLayout::split;
            const std::string name = std::string(op == PagedOp::write ? "paged_write" : "paged_read") +
                                     (split ? "_split/" : "/") + m.name + "/" + fmt(g_native) +
                                     "/bf16/tokens=" + std::to_string(tokens) + "/prefill/" + (cold ? "cold" : "warm");
            reg(name,
                [=, &m](benchmark::State& st) { bm_paged(st, op, m, g_native, bf16, tokens, cold, layout, true); });
          }
}

}  // namespace
}  // namespace kvscale

int main(int argc, char** argv) {
  using namespace kvscale;
  // A shorter default than the library's 0.5 s (the sweep has ~200 cases); --benchmark_min_time
  // on the command line wins, because a per-case MinTime() would override the flag.
  std::vector<char*> args(argv, argv + argc);
  char default_min_time[] = "--benchmark_min_time=0.05";
  if (std::none_of(args.begin(), args.end(),
                   [](const char* a) { return std::strncmp(a, "--benchmark_min_time", 20) == 0; }))
    args.insert(args.begin() + 1, default_min_time);
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  int n = 0;
  if (gpu::device_count(&n) != Status::success || n == 0) {
    // A GPU runner that lost its device must not report an empty benchmark as success.
    const char* req = std::getenv("KVSCALE_REQUIRE_GPU");
    const bool required = req != nullptr && std::string(req) == "1";
    std::fprintf(stderr, "bench_gpu: no GPU device (%s backend): %s; nothing to run%s\n", gpu::backend_name(),
                 last_error_message().c_str(), required ? " (KVSCALE_REQUIRE_GPU=1: failing)" : "");
    return required ? 1 : 0;
  }
  if (const char* d = std::getenv("KVSCALE_BENCH_DEVICE")) g_device = std::atoi(d);
  check(gpu::set_device(g_device), "set_device");
  std::string desc;
  check(gpu::device_description(g_device, &desc), "device_description");
  check(gpu::native_format(g_device, &g_native), "native_format");
  benchmark::AddCustomContext("kvscale_backend", gpu::backend_name());
  benchmark::AddCustomContext("kvscale_device", desc);
  benchmark::AddCustomContext("kvscale_native_fp8", format_name(g_native));
  benchmark::AddCustomContext("kvscale_bytes", "read+write once each, incl. int64 slots; 1 GB = 1e9 B");
  benchmark::AddCustomContext("kvscale_ratios", "x_copy = kernel/copy time, x_naive = kernel/naive time");
#if !defined(KVSCALE_BENCH_HAVE_BASELINE)
  benchmark::AddCustomContext("kvscale_naive", "not built (no baseline kernels in this build)");
#endif
  register_all();
  bench::run_with_summary(summary);
  benchmark::Shutdown();
  return 0;
}
