// exhaustive_quantize: gpu::quantize of every float32 bit pattern (2^32 inputs) against
// cpu::quantize, byte for byte, for e4m3fn and e4m3fnuz and three scales (1, 0.1f, 3.5). This is
// the check of the hardware conversion paths (v_cvt_pk_fp8_f32 on gfx94x/gfx950,
// cvt.rn.satfinite.e4m3x2 on sm_89+) that no unit test can afford: every rounding tie, the
// saturation thresholds, every subnormal, -0 and tiny negatives, infinities, every NaN payload.
// Not a ctest test (it needs a GPU and takes minutes); scripts/gpu-check runs it.
//
//   exhaustive_quantize [--chunk-log2 N] [--first-chunk I] [--chunks K] [--device D] [--probe]
//
// Exit status: 0 no mismatch, 1 mismatches (the first ones are printed), 2 no GPU / setup error.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/kv_cache.hpp"
#include "kvscale/status.hpp"

namespace {

using kvscale::DType;
using kvscale::Fp8Format;
using kvscale::Status;
namespace gpu = kvscale::gpu;

float u2f(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint32_t f2u(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

int fail_setup(const char* what, Status s) {
  std::fprintf(stderr, "exhaustive_quantize: %s failed: %s: %s\n", what, kvscale::status_name(s),
               kvscale::last_error_message().c_str());
  return 2;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int chunk_log2 = 28;
  long first_chunk = 0;
  long max_chunks = -1;
  int device = 0;
  bool probe = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "exhaustive_quantize: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--chunk-log2") {
      chunk_log2 = std::atoi(next());
    } else if (a == "--first-chunk") {
      first_chunk = std::atol(next());
    } else if (a == "--chunks") {
      max_chunks = std::atol(next());
    } else if (a == "--device") {
      device = std::atoi(next());
    } else if (a == "--probe") {
      probe = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--chunk-log2 N (16..30)] [--first-chunk I] [--chunks K] [--device D] [--probe]\n",
                   argv[0]);
      return 2;
    }
  }
  if (chunk_log2 < 16 || chunk_log2 > 30) {
    std::fprintf(stderr, "exhaustive_quantize: --chunk-log2 must be in 16..30\n");
    return 2;
  }

  int count = 0;
  const Status ds = gpu::device_count(&count);
  if (ds != Status::success || count <= device) {
    std::fprintf(stderr, "exhaustive_quantize: NO GPU DEVICE %d (backend %s, %d devices): %s: %s\n", device,
                 gpu::backend_name(), count, kvscale::status_name(ds), kvscale::last_error_message().c_str());
    return 2;
  }
  std::string desc;
  if (gpu::device_description(device, &desc) != Status::success) desc = "?";
  Fp8Format native = Fp8Format::e4m3fn;
  (void)gpu::native_format(device, &native);
  std::printf("exhaustive_quantize: device %d: %s (backend %s, native %s)\n", device, desc.c_str(), gpu::backend_name(),
              native == Fp8Format::e4m3fn ? "e4m3fn" : "e4m3fnuz");
  if (probe) return 0;
  if (Status s = gpu::set_device(device); s != Status::success) return fail_setup("set_device", s);

  const Fp8Format formats[] = {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz};
  const char* format_names[] = {"e4m3fn", "e4m3fnuz"};
  const float scales[] = {1.0f, u2f(0x3DCCCCCDu) /* 0.1f */, 3.5f};
  constexpr int kFormats = 2, kScales = 3, kCombos = kFormats * kScales;

  const std::size_t chunk = std::size_t{1} << chunk_log2;
  const long total_chunks = static_cast<long>((std::uint64_t{1} << 32) >> chunk_log2);
  long last_chunk = total_chunks;
  if (max_chunks >= 0 && first_chunk + max_chunks < last_chunk) last_chunk = first_chunk + max_chunks;
  std::printf("exhaustive_quantize: inputs 0x%08" PRIx64 "..0x%08" PRIx64
              " in %ld chunks of 2^%d, %d formats x %d scales\n",
              static_cast<std::uint64_t>(first_chunk) * chunk, static_cast<std::uint64_t>(last_chunk) * chunk - 1,
              last_chunk - first_chunk, chunk_log2, kFormats, kScales);
  std::fflush(stdout);

  gpu::DeviceBuffer d_in, d_scales;
  std::vector<gpu::DeviceBuffer> d_out(kCombos);
  if (Status s = gpu::DeviceBuffer::create(device, chunk * 4, &d_in); s != Status::success)
    return fail_setup("DeviceBuffer::create(in)", s);
  if (Status s = gpu::DeviceBuffer::create(device, sizeof scales, &d_scales); s != Status::success)
    return fail_setup("DeviceBuffer::create(scales)", s);
  for (auto& b : d_out) {
    if (Status s = gpu::DeviceBuffer::create(device, chunk, &b); s != Status::success)
      return fail_setup("DeviceBuffer::create(out)", s);
  }
  if (Status s = d_scales.upload(scales, sizeof scales, nullptr); s != Status::success)
    return fail_setup("upload(scales)", s);

  std::vector<std::uint32_t> in(chunk);
  std::vector<std::vector<std::uint8_t>> got(kCombos, std::vector<std::uint8_t>(chunk));
  std::vector<std::uint8_t> want(chunk);
  std::uint64_t mismatches[kCombos] = {};
  int printed = 0;
  const unsigned nthreads = std::max(1u, std::thread::hardware_concurrency());
  const auto t_all = std::chrono::steady_clock::now();
  double t_gpu = 0, t_cpu = 0;

  for (long c = first_chunk; c < last_chunk; ++c) {
    const std::uint64_t base = static_cast<std::uint64_t>(c) * chunk;
    auto t0 = std::chrono::steady_clock::now();
    {
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < nthreads; ++t) {
        pool.emplace_back([&, t] {
          const std::size_t lo = chunk * t / nthreads, hi = chunk * (t + 1) / nthreads;
          for (std::size_t i = lo; i < hi; ++i) in[i] = static_cast<std::uint32_t>(base + i);
        });
      }
      for (auto& th : pool) th.join();
    }
    if (Status s = d_in.upload(in.data(), chunk * 4, nullptr); s != Status::success) return fail_setup("upload(in)", s);
    for (int f = 0; f < kFormats; ++f) {
      for (int k = 0; k < kScales; ++k) {
        const int combo = f * kScales + k;
        kvscale::QuantizeArgs qa;
        qa.format = formats[f];
        qa.dtype = DType::f32;
        qa.in = d_in.data();
        qa.out = static_cast<std::uint8_t*>(d_out[combo].data());
        qa.n = chunk;
        qa.scale = static_cast<const float*>(d_scales.data()) + k;
        if (Status s = gpu::quantize(qa, nullptr); s != Status::success) return fail_setup("gpu::quantize", s);
      }
    }
    for (int combo = 0; combo < kCombos; ++combo) {
      if (Status s = d_out[combo].download(got[combo].data(), chunk, nullptr); s != Status::success)
        return fail_setup("download(out)", s);
    }
    if (Status s = gpu::synchronize(nullptr); s != Status::success) return fail_setup("synchronize", s);
    t_gpu += seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    for (int f = 0; f < kFormats; ++f) {
      for (int k = 0; k < kScales; ++k) {
        const int combo = f * kScales + k;
        kvscale::QuantizeArgs qa;
        qa.format = formats[f];
        qa.dtype = DType::f32;
        qa.in = in.data();
        qa.out = want.data();
        qa.n = chunk;
        qa.scale = &scales[k];
        if (Status s = kvscale::cpu::quantize(qa); s != Status::success) return fail_setup("cpu::quantize", s);
        if (std::memcmp(want.data(), got[combo].data(), chunk) == 0) continue;
        for (std::size_t i = 0; i < chunk; ++i) {
          if (want[i] == got[combo][i]) continue;
          ++mismatches[combo];
          if (printed < 40) {
            ++printed;
            std::printf("MISMATCH %s scale 0x%08x (%g): x = 0x%08x (%.9g): cpu 0x%02x, gpu 0x%02x\n", format_names[f],
                        f2u(scales[k]), static_cast<double>(scales[k]), in[i], static_cast<double>(u2f(in[i])), want[i],
                        got[combo][i]);
          }
        }
      }
    }
    t_cpu += seconds_since(t0);
    std::printf("chunk %ld/%ld (0x%08" PRIx64 "..): gpu+transfers %.1f s, cpu reference %.1f s, total %.1f s\n",
                c + 1 - first_chunk, last_chunk - first_chunk, base, t_gpu, t_cpu, seconds_since(t_all));
    std::fflush(stdout);
  }

  std::uint64_t total = 0;
  for (int f = 0; f < kFormats; ++f) {
    for (int k = 0; k < kScales; ++k) {
      const std::uint64_t m = mismatches[f * kScales + k];
      total += m;
      std::printf("%-9s scale 0x%08x (%-4g): %" PRIu64 " mismatches of %" PRIu64 "\n", format_names[f], f2u(scales[k]),
                  static_cast<double>(scales[k]), m, static_cast<std::uint64_t>(last_chunk - first_chunk) * chunk);
    }
  }
  std::printf("exhaustive_quantize: %s (%.1f s)\n", total == 0 ? "PASS" : "FAIL", seconds_since(t_all));
  return total == 0 ? 0 : 1;
}
