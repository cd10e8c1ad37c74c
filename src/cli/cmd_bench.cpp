// kvscale bench [--quick] [--json-out FILE] [--threads N] [--isa I]
//
// Sweeps sizes of the bf16 -> fp8 (e4m3fn) -> bf16 round trip on the CPU backend, next to two
// baselines measured in the same run: memcpy moving the same bytes, and a plain scalar loop through
// fp8.hpp. With a GPU, the same sweep runs on device 0 against a device-to-device copy. Prints a
// table and writes JSON; scripts/plot-bench (matplotlib) plots that JSON.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "json_out.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/half.hpp"
#include "kvscale/version.hpp"

namespace kvscale {
namespace cli {

const char kBenchUsage[] =
    "usage: kvscale bench [--quick] [--json-out FILE] [--threads N] [--isa I]\n"
    "\n"
    "Benchmarks the bf16 -> fp8 (e4m3fn) -> bf16 round trip (quantize then dequantize) over a sweep of\n"
    "sizes, on the CPU backend and, when a GPU is present, on device 0. Baselines, measured in the\n"
    "same run: memcpy of the same bytes (a device copy on the GPU) and a plain scalar loop.\n"
    "Throughput counts every byte read or written once (6 B per element), 1 GB = 1e9 B; each number\n"
    "is the median over repeated batches.\n"
    "\n"
    "  --quick          sizes up to 16 MiB and shorter timing (a few seconds)\n"
    "  --json-out FILE  results as JSON (default bench.json), checked writable before measuring;\n"
    "                   plot them with scripts/plot-bench FILE (matplotlib, in the source tree)\n"
    "  --threads N      CPU threads (default: all)\n"
    "  --isa I          highest CPU instruction set: scalar, avx2, avx512 or best (default)\n"
    "\n"
    "Progress goes to stderr, the table to stdout. exit status: 0 ok, 1 failure (an unwritable --json-out\n"
    "fails at once), 2 bad command line\n";

namespace {

constexpr Fp8Format kFmt = Fp8Format::e4m3fn;
constexpr float kScale = 0.0625f;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median seconds per call of f(): one warm-up call, then batches of calls (each batch >= ~2 ms)
// until `budget` seconds have passed and at least 3 batches ran.
template <typename F>
double time_per_call(F&& f, double budget) {
  f();
  auto t0 = Clock::now();
  f();
  const double once = std::max(seconds_since(t0), 1e-9);
  const auto reps = static_cast<std::size_t>(std::clamp(2e-3 / once, 1.0, 1e6));
  std::vector<double> samples;
  const auto start = Clock::now();
  while (samples.size() < 3 || (seconds_since(start) < budget && samples.size() < 10000)) {
    t0 = Clock::now();
    for (std::size_t r = 0; r < reps; ++r) f();
    samples.push_back(seconds_since(t0) / static_cast<double>(reps));
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

struct Point {
  std::size_t elements = 0;
  double kernel_gbps = 0, copy_gbps = 0, scalar_gbps = 0, kernel_us = 0;
};

std::vector<std::uint16_t> bf16_data(std::size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::vector<std::uint16_t> pool(1 << 16);
  for (auto& x : pool) x = half::f32_to_bf16(d(rng) * ((rng() & 255) == 0 ? 100.0f : 1.0f));
  std::vector<std::uint16_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = pool[(i * 2654435761u) & 0xFFFF];
  return v;
}

std::string size_label(std::size_t bytes) {
  char b[32];
  if (bytes >= (1u << 20)) {
    std::snprintf(b, sizeof b, "%zu MiB", bytes >> 20);
  } else {
    std::snprintf(b, sizeof b, "%zu KiB", bytes >> 10);
  }
  return b;
}

// One updating line on a terminal; one line per step otherwise (logs, CI).
void progress(const std::string& what, std::size_t i, std::size_t n, const std::string& size) {
  static const bool tty = isatty(2) != 0;
  std::fprintf(stderr, tty ? "\r\033[K[%zu/%zu] %s: %s" : "[%zu/%zu] %s: %s\n", i + 1, n, size.c_str(), what.c_str());
  std::fflush(stderr);
}

void progress_done() {
  if (isatty(2)) std::fputs("\r\033[K", stderr);
}

// ---- CPU sweep ---------------------------------------------------------------------------------

bool run_cpu(const std::vector<std::size_t>& sizes, double budget, bool with_scalar_big, std::vector<Point>* out) {
  for (std::size_t si = 0; si < sizes.size(); ++si) {
    const std::size_t n = sizes[si] / 2;  // bf16 elements
    const std::string label = size_label(sizes[si]);
    const std::vector<std::uint16_t> in = bf16_data(n);
    std::vector<std::uint8_t> q(n, 0);
    std::vector<std::uint16_t> back(n, 0);
    std::vector<unsigned char> src(3 * n, 1), dst(3 * n, 0);
    const float s = kScale;
    QuantizeArgs qa;
    qa.format = kFmt;
    qa.dtype = DType::bf16;
    qa.in = in.data();
    qa.out = q.data();
    qa.n = n;
    qa.scale = &s;
    DequantizeArgs da;
    da.format = kFmt;
    da.dtype = DType::bf16;
    da.in = q.data();
    da.out = back.data();
    da.n = n;
    da.scale = &s;
    Point p;
    p.elements = n;
    const double traffic = 6.0 * static_cast<double>(n);
    bool ok = true;
    progress("memcpy", si, sizes.size(), label);
    p.copy_gbps = traffic / time_per_call([&] { std::memcpy(dst.data(), src.data(), 3 * n); }, budget) / 1e9;
    progress("cpu round trip", si, sizes.size(), label);
    const double t = time_per_call(
        [&] { ok = ok && cpu::quantize(qa) == Status::success && cpu::dequantize(da) == Status::success; }, budget);
    if (!ok) {
      std::fprintf(stderr, "\nkvscale bench: cpu round trip failed: %s\n", last_error_message().c_str());
      return false;
    }
    p.kernel_gbps = traffic / t / 1e9;
    p.kernel_us = t * 1e6;
    if (with_scalar_big || n <= (std::size_t{8} << 20)) {
      progress("scalar loop", si, sizes.size(), label);
      p.scalar_gbps = traffic /
                      time_per_call(
                          [&] {
                            for (std::size_t i = 0; i < n; ++i) q[i] = fp8::quantize(kFmt, half::bf16_to_f32(in[i]), s);
                            for (std::size_t i = 0; i < n; ++i)
                              back[i] = half::f32_to_bf16(fp8::dequantize(kFmt, q[i], s));
                          },
                          budget) /
                      1e9;
    }
    out->push_back(p);
  }
  progress_done();
  return true;
}

// ---- GPU sweep (device 0) ----------------------------------------------------------------------

bool gpu_check(Status s, const char* what) {
  if (s == Status::success) return true;
  std::fprintf(stderr, "\nkvscale bench: gpu %s failed: %s (%s)\n", what, status_name(s), last_error_message().c_str());
  return false;
}

bool run_gpu(const std::vector<std::size_t>& sizes, double budget, std::vector<Point>* out) {
  if (!gpu_check(gpu::set_device(0), "set_device")) return false;
  for (std::size_t si = 0; si < sizes.size(); ++si) {
    const std::size_t n = sizes[si] / 2;
    const std::string label = size_label(sizes[si]);
    progress("gpu setup", si, sizes.size(), label);
    gpu::DeviceBuffer in, q, back, sc, src, dst;
    if (!gpu_check(gpu::DeviceBuffer::create(0, 2 * n, &in), "alloc") ||
        !gpu_check(gpu::DeviceBuffer::create(0, n, &q), "alloc") ||
        !gpu_check(gpu::DeviceBuffer::create(0, 2 * n, &back), "alloc") ||
        !gpu_check(gpu::DeviceBuffer::create(0, sizeof(float), &sc), "alloc") ||
        !gpu_check(gpu::DeviceBuffer::create(0, 3 * n, &src), "alloc") ||
        !gpu_check(gpu::DeviceBuffer::create(0, 3 * n, &dst), "alloc"))
      return false;
    const std::vector<std::uint16_t> host = bf16_data(n);
    const float s = kScale;
    if (!gpu_check(in.upload(host.data(), 2 * n, nullptr), "upload") ||
        !gpu_check(sc.upload(&s, sizeof s, nullptr), "upload") || !gpu_check(src.fill(1, nullptr), "fill") ||
        !gpu_check(gpu::synchronize(nullptr), "synchronize"))
      return false;
    QuantizeArgs qa;
    qa.format = kFmt;
    qa.dtype = DType::bf16;
    qa.in = in.data();
    qa.out = static_cast<std::uint8_t*>(q.data());
    qa.n = n;
    qa.scale = static_cast<const float*>(sc.data());
    DequantizeArgs da;
    da.format = kFmt;
    da.dtype = DType::bf16;
    da.in = static_cast<const std::uint8_t*>(q.data());
    da.out = back.data();
    da.n = n;
    da.scale = static_cast<const float*>(sc.data());
    // Device time of `reps` back-to-back launches, repeated; median per call.
    auto device_time = [&](auto&& launch) -> double {
      gpu::EventTimer timer;
      std::vector<double> samples;
      int reps = 1;
      const auto start = Clock::now();
      for (int b = 0; b < 10000 && (samples.size() < 4 || seconds_since(start) < budget); ++b) {
        if (!gpu_check(timer.start(nullptr), "event") || !launch(reps) || !gpu_check(timer.stop(nullptr), "event"))
          return -1;
        float ms = 0;
        if (!gpu_check(timer.elapsed_ms(&ms), "event")) return -1;
        if (b == 0) {  // warm-up batch sizes the later ones to >= ~1 ms
          reps = static_cast<int>(std::clamp(1.0 / std::max(static_cast<double>(ms), 1e-4), 1.0, 1000.0));
          continue;
        }
        samples.push_back(static_cast<double>(ms) * 1e-3 / reps);
      }
      std::sort(samples.begin(), samples.end());
      return samples[samples.size() / 2];
    };
    Point p;
    p.elements = n;
    const double traffic = 6.0 * static_cast<double>(n);
    progress("gpu copy", si, sizes.size(), label);
    const double tc = device_time([&](int reps) {
      for (int r = 0; r < reps; ++r)
        if (!gpu_check(gpu::copy_device(dst.data(), src.data(), 3 * n, nullptr), "copy_device")) return false;
      return true;
    });
    progress("gpu round trip", si, sizes.size(), label);
    const double tk = device_time([&](int reps) {
      for (int r = 0; r < reps; ++r)
        if (!gpu_check(gpu::quantize(qa, nullptr), "quantize") ||
            !gpu_check(gpu::dequantize(da, nullptr), "dequantize"))
          return false;
      return true;
    });
    if (tc <= 0 || tk <= 0) return false;
    p.copy_gbps = traffic / tc / 1e9;
    p.kernel_gbps = traffic / tk / 1e9;
    p.kernel_us = tk * 1e6;
    out->push_back(p);
  }
  progress_done();
  return true;
}

// ---- output ------------------------------------------------------------------------------------

std::string ratio(double a, double b) {
  if (a <= 0 || b <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", a / b);
  return buf;
}

void print_table(const char* title, const char* copy_name, const std::vector<Point>& pts, bool scalar) {
  std::printf("\n%s\n", title);
  std::printf("%10s %12s %12s %12s", "size(bf16)", "us/call", "kernel GB/s", copy_name);
  if (scalar) std::printf(" %12s", "scalar GB/s");
  std::printf(" %10s", "/copy");
  if (scalar) std::printf(" %10s", "/scalar");
  std::printf("\n");
  for (const Point& p : pts) {
    std::printf("%10s %12.1f %12.2f %12.2f", size_label(2 * p.elements).c_str(), p.kernel_us, p.kernel_gbps,
                p.copy_gbps);
    if (scalar) {
      if (p.scalar_gbps > 0) {
        std::printf(" %12.2f", p.scalar_gbps);
      } else {
        std::printf(" %12s", "-");
      }
    }
    std::printf(" %10s", ratio(p.kernel_gbps, p.copy_gbps).c_str());
    if (scalar) std::printf(" %10s", ratio(p.kernel_gbps, p.scalar_gbps).c_str());
    std::printf("\n");
  }
}

void json_points(std::string& j, const std::vector<Point>& pts) {
  j += "[";
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const Point& p = pts[i];
    char b[512];
    std::snprintf(b, sizeof b,
                  "%s\n    {\"bf16_bytes\": %zu, \"elements\": %zu, \"traffic_bytes\": %zu, \"us_per_call\": %.3f, "
                  "\"kernel_gbps\": %.4f, \"copy_gbps\": %.4f, \"scalar_gbps\": %s, \"ratio_copy\": %.4f, "
                  "\"ratio_scalar\": %s}",
                  i ? "," : "", 2 * p.elements, p.elements, 6 * p.elements, p.kernel_us, p.kernel_gbps, p.copy_gbps,
                  p.scalar_gbps > 0 ? std::to_string(p.scalar_gbps).c_str() : "null",
                  p.copy_gbps > 0 ? p.kernel_gbps / p.copy_gbps : 0.0,
                  p.scalar_gbps > 0 ? std::to_string(p.kernel_gbps / p.scalar_gbps).c_str() : "null");
    j += b;
  }
  j += "\n  ]";
}

bool write_file(const std::string& path, const void* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

// Fails in a moment rather than after the sweep: opens `path` for appending, as the final write
// will (creating it when missing, then removing it again; an existing file is left as it is).
bool check_writable(const std::string& path, std::string* why) {
  const bool existed = access(path.c_str(), F_OK) == 0;
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *why = std::strerror(errno);
    return false;
  }
  close(fd);
  if (!existed) unlink(path.c_str());
  return true;
}

// The "model name" of /proc/cpuinfo (Linux), else "unknown".
std::string cpu_model() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown";
  char line[512];
  std::string model = "unknown";
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "model name", 10) != 0) continue;
    const char* colon = std::strchr(line, ':');
    if (!colon) continue;
    model = colon + 1;
    model.erase(0, model.find_first_not_of(" \t"));
    model.erase(model.find_last_not_of(" \t\n") + 1);
    break;
  }
  std::fclose(f);
  return model;
}

// The results as JSON; scripts/plot-bench reads it (keys documented in docs/performance.md).
std::string bench_json(bool quick, cpu::Isa isa, const std::string& started, const double load[3],
                       const std::vector<Point>& cpu_pts, const std::string& gpu_desc,
                       const std::vector<Point>& gpu_pts) {
  char head[256];
  std::snprintf(head, sizeof head, "  \"started\": \"%s\",\n  \"load_avg\": [%.2f, %.2f, %.2f],\n", started.c_str(),
                load[0], load[1], load[2]);
  std::string j = "{\n  \"tool\": \"kvscale bench\",\n  \"version\": \"" KVSCALE_VERSION_STRING "\",\n";
  j += head;
  j += "  \"op\": \"bf16 -> fp8 -> bf16 round trip (quantize + dequantize)\",\n";
  j += std::string("  \"format\": \"") + format_name(kFmt) + "\",\n  \"scale\": 0.0625,\n";
  j += "  \"bytes\": \"each byte read or written once: 6 per element; GB = 1e9 B; median of batches\",\n";
  j += "  \"quick\": " + std::string(quick ? "true" : "false") + ",\n";
  j += "  \"cpu\": {\"model\": " + json_quoted(cpu_model()) + ", \"isa\": \"" + cpu::isa_name(isa) +
       "\", \"threads\": " + std::to_string(cpu::num_threads()) + ", \"baseline\": \"memcpy\", \"points\": ";
  json_points(j, cpu_pts);
  j += "},\n  \"gpu\": ";
  if (gpu_pts.empty()) {
    j += "null";
  } else {
    j += std::string("{\"backend\": \"") + gpu::backend_name() + "\", \"device\": " + json_quoted(gpu_desc) +
         ", \"baseline\": \"device copy\", \"points\": ";
    json_points(j, gpu_pts);
    j += "}";
  }
  return j + "\n}\n";
}

// --threads and --isa; false after printing the error.
bool apply_cpu_options(const Args& args, cpu::Isa* isa) {
  std::string err;
  if (auto t = args.value("--threads")) {
    std::int64_t n = 0;
    if (!parse_int("--threads", *t, 1, 256, &n, &err)) {
      std::fprintf(stderr, "kvscale bench: %s\n", err.c_str());
      return false;
    }
    cpu::set_num_threads(static_cast<int>(n));
  }
  cpu::Isa max_isa = cpu::Isa::best;
  if (auto i = args.value("--isa")) {
    const std::map<std::string, cpu::Isa> isas = {
        {"scalar", cpu::Isa::scalar}, {"avx2", cpu::Isa::avx2}, {"avx512", cpu::Isa::avx512}, {"best", cpu::Isa::best}};
    auto it = isas.find(*i);
    if (it == isas.end()) {
      std::fprintf(stderr, "kvscale bench: --isa: expected scalar, avx2, avx512 or best, got '%s'\n", i->c_str());
      return false;
    }
    max_isa = it->second;
  }
  *isa = cpu::set_max_isa(max_isa);
  return true;
}

}  // namespace

int cmd_bench(const Args& args) {
  cpu::Isa isa = cpu::Isa::best;
  if (!apply_cpu_options(args, &isa)) return kExitUsage;
  const bool quick = args.has("--quick");
  const std::string json_path = args.value("--json-out").value_or("bench.json");
  std::string why;
  if (!check_writable(json_path, &why)) {
    std::fprintf(stderr, "kvscale bench: cannot write %s: %s (nothing was measured)\n", json_path.c_str(), why.c_str());
    return kExitRejected;
  }
  const double budget = quick ? 0.03 : 0.25;
  std::vector<std::size_t> sizes;
  for (std::size_t b = 4096; b <= (quick ? (std::size_t{16} << 20) : (std::size_t{256} << 20)); b *= 4)
    sizes.push_back(b);
  char started[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  double load[3] = {-1, -1, -1};
  if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = -1;

  std::fprintf(stderr, "kvscale bench: CPU backend (%s, %d threads), %zu sizes%s\n", cpu::isa_name(isa),
               cpu::num_threads(), sizes.size(), quick ? " (quick)" : "");
  std::vector<Point> cpu_pts;
  if (!run_cpu(sizes, budget, !quick, &cpu_pts)) return kExitRejected;

  int devices = 0;
  std::vector<Point> gpu_pts;
  std::string gpu_desc;
  if (gpu::device_count(&devices) == Status::success && devices > 0) {
    gpu::device_description(0, &gpu_desc);
    std::fprintf(stderr, "kvscale bench: GPU backend (%s) on %s\n", gpu::backend_name(), gpu_desc.c_str());
    if (!run_gpu(sizes, budget, &gpu_pts)) return kExitRejected;
  }

  std::printf(
      "kvscale bench: bf16 -> fp8 %s -> bf16 round trip; GB/s count each byte read or written once "
      "(6 B/element), 1 GB = 1e9 B; median of batches\n",
      format_name(kFmt));
  const std::string cpu_title = std::string("CPU (") + cpu::isa_name(isa) + ", " + std::to_string(cpu::num_threads()) +
                                " threads): round trip vs memcpy of the same bytes and a scalar loop";
  print_table(cpu_title.c_str(), "memcpy GB/s", cpu_pts, true);
  if (!gpu_pts.empty())
    print_table(("GPU 0 (" + gpu_desc + "): round trip vs device copy of the same bytes").c_str(), "copy GB/s", gpu_pts,
                false);

  const std::string j = bench_json(quick, isa, started, load, cpu_pts, gpu_desc, gpu_pts);
  if (!write_file(json_path, j.data(), j.size())) {
    std::fprintf(stderr, "kvscale bench: cannot write %s: %s\n", json_path.c_str(), std::strerror(errno));
    return kExitRejected;
  }
  std::fprintf(stderr, "kvscale bench: wrote %s (plot it with scripts/plot-bench)\n", json_path.c_str());
  return kExitOk;
}

}  // namespace cli
}  // namespace kvscale
