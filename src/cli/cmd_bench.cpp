// kvscale bench [--quick] [--json-out FILE] [--plot FILE | --no-plot] [--threads N] [--isa I]
//
// Sweeps sizes of the bf16 -> fp8 (e4m3fn) -> bf16 round trip on the CPU backend, next to two
// baselines measured in the same run: memcpy moving the same bytes, and a plain scalar loop through
// fp8.hpp. With a GPU, the same sweep runs on device 0 against a device-to-device copy. Prints a
// table, writes JSON and a PNG plot (self-contained encoder: no zlib, no Python).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
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
    "usage: kvscale bench [--quick] [--json-out FILE] [--plot FILE | --no-plot] [--threads N] [--isa I]\n"
    "\n"
    "Benchmarks the bf16 -> fp8 (e4m3fn) -> bf16 round trip (quantize then dequantize) over a sweep of\n"
    "sizes, on the CPU backend and, when a GPU is present, on device 0. Baselines, measured in the\n"
    "same run: memcpy of the same bytes (a device copy on the GPU) and a plain scalar loop.\n"
    "Throughput counts every byte read or written once (6 B per element), 1 GB = 1e9 B; each number\n"
    "is the median over repeated batches.\n"
    "\n"
    "  --quick          sizes up to 16 MiB and shorter timing (a few seconds)\n"
    "  --json-out FILE  results as JSON (default bench.json)\n"
    "  --plot FILE      PNG plot of GB/s against size, with the copy line (default bench.png)\n"
    "  --no-plot        do not write the plot\n"
    "  --threads N      CPU threads (default: all)\n"
    "  --isa I          highest CPU instruction set: scalar, avx2, avx512 or best (default)\n"
    "\n"
    "Progress goes to stderr, the table to stdout. exit status: 0 ok, 1 failure, 2 bad command line\n";

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

// ---- PNG plot ----------------------------------------------------------------------------------

// 5x7 glyphs, rows top to bottom, 5 bits each (bit 4 = left column).
const std::map<char, std::array<std::uint8_t, 7>>& font() {
  static const std::map<char, std::array<std::uint8_t, 7>> f = {
      {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},      {'2', {14, 17, 1, 2, 4, 8, 31}},
      {'3', {31, 2, 4, 2, 1, 17, 14}},     {'4', {2, 6, 10, 18, 31, 2, 2}},     {'5', {31, 16, 30, 1, 1, 17, 14}},
      {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},       {'8', {14, 17, 17, 14, 17, 17, 14}},
      {'9', {14, 17, 17, 15, 1, 2, 12}},   {'A', {14, 17, 17, 31, 17, 17, 17}}, {'B', {30, 17, 17, 30, 17, 17, 30}},
      {'C', {14, 17, 16, 16, 16, 17, 14}}, {'D', {30, 17, 17, 17, 17, 17, 30}}, {'E', {31, 16, 16, 30, 16, 16, 31}},
      {'F', {31, 16, 16, 30, 16, 16, 16}}, {'G', {14, 17, 16, 23, 17, 17, 15}}, {'H', {17, 17, 17, 31, 17, 17, 17}},
      {'I', {14, 4, 4, 4, 4, 4, 14}},      {'K', {17, 18, 20, 24, 20, 18, 17}}, {'L', {16, 16, 16, 16, 16, 16, 31}},
      {'M', {17, 27, 21, 21, 17, 17, 17}}, {'N', {17, 17, 25, 21, 19, 17, 17}}, {'O', {14, 17, 17, 17, 17, 17, 14}},
      {'P', {30, 17, 17, 30, 16, 16, 16}}, {'R', {30, 17, 17, 30, 20, 18, 17}}, {'S', {15, 16, 16, 14, 1, 1, 30}},
      {'T', {31, 4, 4, 4, 4, 4, 4}},       {'U', {17, 17, 17, 17, 17, 17, 14}}, {'V', {17, 17, 17, 17, 17, 10, 4}},
      {'X', {17, 17, 10, 4, 10, 17, 17}},  {'Y', {17, 17, 10, 4, 4, 4, 4}},     {'Z', {31, 1, 2, 4, 8, 16, 31}},
      {'/', {1, 1, 2, 4, 8, 16, 16}},      {'.', {0, 0, 0, 0, 0, 12, 12}},      {'-', {0, 0, 0, 31, 0, 0, 0}},
      {'(', {2, 4, 8, 8, 8, 4, 2}},        {')', {8, 4, 2, 2, 2, 4, 8}},        {':', {0, 12, 12, 0, 12, 12, 0}},
      {'>', {8, 4, 2, 1, 2, 4, 8}},        {'=', {0, 0, 31, 0, 31, 0, 0}},      {' ', {0, 0, 0, 0, 0, 0, 0}},
  };
  return f;
}

struct Image {
  int w, h;
  std::vector<std::uint8_t> px;  // RGB
  Image(int width, int height) : w(width), h(height), px(static_cast<std::size_t>(width * height * 3), 255) {}
  void set(int x, int y, std::uint32_t rgb) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const auto i = static_cast<std::size_t>((y * w + x) * 3);
    px[i] = static_cast<std::uint8_t>(rgb >> 16);
    px[i + 1] = static_cast<std::uint8_t>(rgb >> 8);
    px[i + 2] = static_cast<std::uint8_t>(rgb);
  }
  void line(double x0, double y0, double x1, double y1, std::uint32_t rgb, int thick = 1, bool dashed = false) {
    const int steps = static_cast<int>(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
    for (int s = 0; s <= steps; ++s) {
      if (dashed && (s / 6) % 2) continue;
      const double t = static_cast<double>(s) / steps;
      const int x = static_cast<int>(std::lround(x0 + (x1 - x0) * t)),
                y = static_cast<int>(std::lround(y0 + (y1 - y0) * t));
      for (int dx = -(thick / 2); dx <= thick / 2; ++dx)
        for (int dy = -(thick / 2); dy <= thick / 2; ++dy) set(x + dx, y + dy, rgb);
    }
  }
  void text(int x, int y, const std::string& s, std::uint32_t rgb, int scale = 1) {
    for (char c0 : s) {
      const char c = static_cast<char>(c0 >= 'a' && c0 <= 'z' ? c0 - 32 : c0);
      auto it = font().find(c);
      if (it != font().end())
        for (int r = 0; r < 7; ++r)
          for (int col = 0; col < 5; ++col)
            if (it->second[static_cast<std::size_t>(r)] & (16 >> col))
              for (int a = 0; a < scale; ++a)
                for (int b = 0; b < scale; ++b) set(x + col * scale + a, y + r * scale + b, rgb);
      x += 6 * scale;
    }
  }
};

std::uint32_t crc32(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  static std::uint32_t table[256];
  static bool init = false;
  if (!init) {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    init = true;
  }
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
}

void chunk(std::vector<std::uint8_t>& png, const char* type, const std::vector<std::uint8_t>& data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  std::vector<std::uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put32(png, crc32(body.data(), body.size()));
}

// PNG with a zlib stream of stored (uncompressed) deflate blocks.
std::vector<std::uint8_t> encode_png(const Image& img) {
  std::vector<std::uint8_t> raw;
  for (int y = 0; y < img.h; ++y) {
    raw.push_back(0);  // filter: none
    const auto row = static_cast<std::size_t>(y * img.w * 3);
    raw.insert(raw.end(), img.px.begin() + static_cast<std::ptrdiff_t>(row),
               img.px.begin() + static_cast<std::ptrdiff_t>(row + static_cast<std::size_t>(img.w) * 3));
  }
  std::vector<std::uint8_t> z{0x78, 0x01};
  for (std::size_t off = 0; off < raw.size() || off == 0;) {
    const std::size_t len = std::min<std::size_t>(65535, raw.size() - off);
    const bool last = off + len == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<std::uint8_t>(len));
    z.push_back(static_cast<std::uint8_t>(len >> 8));
    z.push_back(static_cast<std::uint8_t>(~len));
    z.push_back(static_cast<std::uint8_t>(~len >> 8));
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(off),
             raw.begin() + static_cast<std::ptrdiff_t>(off + len));
    off += len;
    if (last) break;
  }
  std::uint32_t a = 1, b = 0;  // adler32
  for (std::uint8_t c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put32(z, (b << 16) | a);
  std::vector<std::uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<std::uint8_t> ihdr;
  put32(ihdr, static_cast<std::uint32_t>(img.w));
  put32(ihdr, static_cast<std::uint32_t>(img.h));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  return png;
}

struct Series {
  std::string name;
  std::uint32_t rgb;
  bool dashed;
  std::vector<std::pair<double, double>> pts;  // (bytes, GB/s)
};

std::string short_size(double bytes) {
  char b[32];
  if (bytes >= 1 << 20) {
    std::snprintf(b, sizeof b, "%.0fM", bytes / (1 << 20));
  } else {
    std::snprintf(b, sizeof b, "%.0fK", bytes / 1024);
  }
  return b;
}

bool write_plot(const std::string& path, const std::vector<Series>& series, const std::string& title) {
  const int W = 900, H = 560, L = 80, R = 30, T = 50, B = 70;
  Image img(W, H);
  double xmin = 1e300, xmax = 0, ymax = 0;
  for (const auto& s : series)
    for (auto [x, y] : s.pts) {
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymax = std::max(ymax, y);
    }
  if (xmax <= 0 || ymax <= 0) return false;
  if (xmax <= xmin) xmax = xmin * 2;
  // y axis: a "nice" step.
  const double raw_step = ymax / 6;
  const double mag = std::pow(10.0, std::floor(std::log10(raw_step)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw_step) {
      step = m * mag;
      break;
    }
  const double ytop = std::ceil(ymax * 1.05 / step) * step;
  auto X = [&](double v) {
    return L + (std::log2(v) - std::log2(xmin)) / (std::log2(xmax) - std::log2(xmin)) * (W - L - R);
  };
  auto Y = [&](double v) { return H - B - v / ytop * (H - T - B); };
  for (double v = 0; v <= ytop + step / 2; v += step) {
    img.line(L, Y(v), W - R, Y(v), 0xE0E0E0);
    char b[32];
    std::snprintf(b, sizeof b, step < 1 ? "%.1f" : "%.0f", v);
    img.text(L - 8 - 6 * static_cast<int>(std::strlen(b)), static_cast<int>(Y(v)) - 3, b, 0x000000);
  }
  for (double x = xmin; x <= xmax * 1.001; x *= 4) {
    img.line(X(x), T, X(x), H - B, 0xEEEEEE);
    const std::string l = short_size(x);
    img.text(static_cast<int>(X(x)) - 3 * static_cast<int>(l.size()), H - B + 8, l, 0x000000);
  }
  img.line(L, H - B, W - R, H - B, 0x000000);
  img.line(L, T, L, H - B, 0x000000);
  img.text(L, 15, title, 0x000000, 2);
  img.text(W / 2 - 120, H - 30, "SIZE OF THE BF16 TENSOR", 0x000000);
  img.text(8, T - 20, "GB/S", 0x000000);
  int ly = T + 10;
  for (const auto& s : series) {
    for (std::size_t i = 1; i < s.pts.size(); ++i)
      img.line(X(s.pts[i - 1].first), Y(s.pts[i - 1].second), X(s.pts[i].first), Y(s.pts[i].second), s.rgb, 3,
               s.dashed);
    for (auto [x, y] : s.pts)
      for (int d = -3; d <= 3; ++d) img.line(X(x) - 3, Y(y) + d, X(x) + 3, Y(y) + d, s.rgb);
    img.line(L + 20, ly + 3, L + 50, ly + 3, s.rgb, 3, s.dashed);
    img.text(L + 58, ly, s.name, 0x000000);
    ly += 16;
  }
  const auto png = encode_png(img);
  return write_file(path, png.data(), png.size());
}

}  // namespace

int cmd_bench(const Args& args) {
  std::string err;
  if (auto t = args.value("--threads")) {
    std::int64_t n = 0;
    if (!parse_int("--threads", *t, 1, 256, &n, &err)) {
      std::fprintf(stderr, "kvscale bench: %s\n", err.c_str());
      return kExitUsage;
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
      return kExitUsage;
    }
    max_isa = it->second;
  }
  const cpu::Isa isa = cpu::set_max_isa(max_isa);
  const bool quick = args.has("--quick");
  const std::string json_path = args.value("--json-out").value_or("bench.json");
  const std::string plot_path = args.has("--no-plot") ? "" : args.value("--plot").value_or("bench.png");
  const double budget = quick ? 0.03 : 0.25;
  std::vector<std::size_t> sizes;
  for (std::size_t b = 4096; b <= (quick ? (std::size_t{16} << 20) : (std::size_t{256} << 20)); b *= 4)
    sizes.push_back(b);

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

  std::string j = "{\n  \"tool\": \"kvscale bench\",\n  \"version\": \"" KVSCALE_VERSION_STRING "\",\n";
  j += "  \"op\": \"bf16 -> fp8 -> bf16 round trip (quantize + dequantize)\",\n";
  j += std::string("  \"format\": \"") + format_name(kFmt) + "\",\n  \"scale\": 0.0625,\n";
  j += "  \"bytes\": \"each byte read or written once: 6 per element; GB = 1e9 B; median of batches\",\n";
  j += "  \"quick\": " + std::string(quick ? "true" : "false") + ",\n";
  j += std::string("  \"cpu\": {\"isa\": \"") + cpu::isa_name(isa) +
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
  j += "\n}\n";
  if (!write_file(json_path, j.data(), j.size())) {
    std::fprintf(stderr, "kvscale bench: cannot write %s\n", json_path.c_str());
    return kExitRejected;
  }
  std::fprintf(stderr, "kvscale bench: wrote %s\n", json_path.c_str());

  if (!plot_path.empty()) {
    std::vector<Series> series;
    auto add = [&series](const std::string& name, std::uint32_t rgb, bool dashed, const std::vector<Point>& pts,
                         double Point::*field) {
      Series s{name, rgb, dashed, {}};
      for (const Point& p : pts)
        if (p.*field > 0) s.pts.emplace_back(2.0 * static_cast<double>(p.elements), p.*field);
      if (!s.pts.empty()) series.push_back(s);
    };
    add("CPU ROUND TRIP", 0x1F77B4, false, cpu_pts, &Point::kernel_gbps);
    add("CPU MEMCPY (COPY)", 0x555555, true, cpu_pts, &Point::copy_gbps);
    add("CPU SCALAR LOOP", 0xD62728, false, cpu_pts, &Point::scalar_gbps);
    add("GPU ROUND TRIP", 0x2CA02C, false, gpu_pts, &Point::kernel_gbps);
    add("GPU COPY", 0x98DF8A, true, gpu_pts, &Point::copy_gbps);
    if (!write_plot(plot_path, series, "KVSCALE BF16-FP8-BF16 ROUND TRIP: GB/S VS SIZE")) {
      std::fprintf(stderr, "kvscale bench: cannot write %s\n", plot_path.c_str());
      return kExitRejected;
    }
    std::fprintf(stderr, "kvscale bench: wrote %s\n", plot_path.c_str());
  }
  return kExitOk;
}

}  // namespace cli
}  // namespace kvscale
