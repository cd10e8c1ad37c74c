// bench_ab: an in-process A/B of two builds of the CPU backend. On a shared 2-vCPU machine the
// timings of separate bench_cpu runs drift by a third over minutes (docs/performance.md), so
// they cannot compare two builds. Here both builds are loaded privately into one process (dlopen
// with RTLD_LOCAL | RTLD_DEEPBIND: each keeps its own kernels, tables and thread pool) and called
// through the C ABI (kvscale.h). Every round times each case with one build, then the other (the
// order swapped every round), about 20 ms each.
//
//   bench_ab OLD.so NEW.so ROUNDS CASE...
//     q<n>                   quantize n bf16 elements (contiguous), e4m3fn
//     w<tokens>/<heads>/<L>  paged write, e4m3fn, bf16 rows, head size 128, 16-slot blocks, twice as
//                            many slots as tokens, random slots; L: 0 NHD, 1 strided NHD (heads 144
//                            bytes apart), 2 split, 3 NHD per-head, 4 HND, 5 split per-head scales
//     r<tokens>/<heads>/<L>  the paged read of the same
//     ...<L>/<layers>        the same, with the scales of `layers` layers in turn (as a server calls
//                            layer after layer): each layer's K and V scales, and each head's,
//                            differ (within 1.5x of 0.0625); without it, one layer whose scales
//                            are all 0.0625
//     ...<layers>/<caches>   and `caches` K and V caches in turn with the layers (each layer has its
//                            own cache, which the calls before it pushed out of the CPU's caches);
//                            the rows stay one buffer (a server's fresh K and V)
// Prints per case each build's fastest and median time per call, and new / old of both (< 1: the
// new build is faster). KVSCALE_CPU_ISA and KVSCALE_THREADS apply to both builds.
//
//   build/<preset>/bin/bench_ab /tmp/old/libkvscale.so build/<preset>/libkvscale.so 10 w2048/8/0 q1048576
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kvscale/kvscale.h"

namespace {

struct Build {
  decltype(&kvscale_quantize) quantize;
  decltype(&kvscale_paged_write) paged_write;
  decltype(&kvscale_paged_read) paged_read;
};

bool load(const char* path, Build* b) {
  // A name without a slash would be looked up on the library path, not here.
  const std::string file = std::strchr(path, '/') != nullptr ? path : std::string("./") + path;
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (h == nullptr) {
    std::fprintf(stderr, "bench_ab: %s\n", dlerror());
    return false;
  }
  b->quantize = reinterpret_cast<decltype(&kvscale_quantize)>(dlsym(h, "kvscale_quantize"));
  b->paged_write = reinterpret_cast<decltype(&kvscale_paged_write)>(dlsym(h, "kvscale_paged_write"));
  b->paged_read = reinterpret_cast<decltype(&kvscale_paged_read)>(dlsym(h, "kvscale_paged_read"));
  if (b->quantize == nullptr || b->paged_write == nullptr || b->paged_read == nullptr) {
    std::fprintf(stderr, "bench_ab: %s lacks the C ABI's kvscale_quantize / kvscale_paged_write / read\n", path);
    return false;
  }
  return true;
}

// bf16 bit patterns of N(0, 4), one in 256 times 100 (outliers), as bench_cpu's data.
std::vector<std::uint16_t> bf16_data(std::size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::vector<std::uint16_t> pool(1 << 16), out(n);
  for (auto& x : pool) {
    const float v = d(rng) * ((rng() & 255) == 0 ? 100.0f : 1.0f);
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    x = static_cast<std::uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);  // round to nearest even
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = pool[(i * 2654435761u) & 0xFFFF];
  return out;
}

struct Paged {
  std::vector<std::uint16_t> key, value;
  std::vector<std::vector<std::uint8_t>> kc, vc;  // [caches]
  std::vector<std::int64_t> slots;
  std::vector<float> scales;  // [layers][K, V][heads]
  std::int64_t heads = 0, layers = 1, next = 0;
  kvscale_paged_args a{};
  // The next layer's scales and caches into a (every call: the case's loop calls turn()).
  void turn() {
    const std::size_t at = static_cast<std::size_t>(next * 2 * heads);
    a.k_scale = scales.data() + at;
    a.v_scale = scales.data() + at + static_cast<std::size_t>(heads);
    const std::size_t c = static_cast<std::size_t>(next) % kc.size();
    a.key_cache = kc[c].data();
    a.value_cache = vc[c].data();
    next = (next + 1) % layers;
  }
  Paged(std::int64_t tokens, std::int64_t heads_, int layout, std::int64_t layers_, std::int64_t caches)
      : heads(heads_), layers(layers_) {
    key = bf16_data(static_cast<std::size_t>(tokens * heads * 128));
    value = key;
    std::reverse(value.begin(), value.end());
    kvscale_cache_shape& c = a.cache;
    c.layout = layout == 2 || layout == 5 ? KVSCALE_LAYOUT_SPLIT
               : layout == 4              ? KVSCALE_LAYOUT_HND
                                          : KVSCALE_LAYOUT_NHD;
    c.num_blocks = (tokens + 15) / 16 * 2;
    c.block_size = 16;
    c.num_kv_heads = heads;
    c.head_size = 128;
    if (layout == 1) {
      c.head_stride = 144;
      c.slot_stride = heads * 144 + 16;
      c.block_stride = 16 * c.slot_stride + 16;
    }
    const std::int64_t block = layout == 1 ? c.block_stride : 16 * heads * 128;
    kc.assign(static_cast<std::size_t>(caches),
              std::vector<std::uint8_t>(static_cast<std::size_t>(c.num_blocks * block), 0));
    vc = kc;
    std::vector<std::int64_t> all(static_cast<std::size_t>(c.num_blocks * 16));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), std::mt19937(3));
    slots.assign(all.begin(), all.begin() + tokens);
    const bool per_head = layout == 3 || layout == 5;
    scales.assign(static_cast<std::size_t>(layers * 2 * heads), 0.0625f);
    if (layers > 1)
      for (std::size_t i = 0; i < scales.size(); ++i)
        scales[i] = 0.0625f * (1.0f + 0.001f * static_cast<float>(i % 512));
    a.format = KVSCALE_E4M3FN;
    a.dtype = KVSCALE_BF16;
    a.rows = kvscale_token_rows{tokens, heads, 128, heads * 128, heads * 128};
    a.key = key.data();
    a.value = value.data();
    a.slot_mapping = slots.data();
    turn();
    a.k_scale_stride = a.v_scale_stride = per_head ? 1 : 0;
  }
};

using Run = std::function<kvscale_status(const Build&)>;

// The case's call, or an empty function where the spec does not parse.
Run make_case(const std::string& spec, std::vector<std::shared_ptr<void>>* keep) {
  long a = 0, b = 0, c = 0;
  if (spec.size() > 1 && spec[0] == 'q' && std::sscanf(spec.c_str() + 1, "%ld", &a) == 1 && a > 0) {
    auto in = std::make_shared<std::vector<std::uint16_t>>(bf16_data(static_cast<std::size_t>(a)));
    auto out = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(a));
    keep->push_back(in);
    keep->push_back(out);
    return [in, out](const Build& l) {
      static const float scale = 0.0625f;
      return l.quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_BF16, in->data(), out->data(), in->size(), &scale,
                        nullptr);
    };
  }
  long layers = 1, caches = 1;
  const int fields =
      spec.size() > 1 ? std::sscanf(spec.c_str() + 1, "%ld/%ld/%ld/%ld/%ld", &a, &b, &c, &layers, &caches) : 0;
  if ((spec[0] == 'w' || spec[0] == 'r') && fields >= 3 && a > 0 && b > 0 && c >= 0 && c <= 5 && layers >= 1 &&
      layers <= 4096 && caches >= 1 && caches <= layers) {
    auto p = std::make_shared<Paged>(a, b, static_cast<int>(c), layers, caches);
    keep->push_back(p);
    if (spec[0] == 'w')
      return [p](const Build& l) {
        p->turn();
        return l.paged_write(KVSCALE_BACKEND_CPU, &p->a, nullptr);
      };
    return [p](const Build& l) {
      p->turn();
      return l.paged_read(KVSCALE_BACKEND_CPU, &p->a, nullptr);
    };
  }
  return {};
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Seconds per call over about 20 ms (after one call that warms caches and tables); < 0 on error.
double time_calls(const Run& run, const Build& l) {
  if (run(l) != KVSCALE_SUCCESS) return -1;
  int calls = 0;
  const double t0 = now();
  double t1 = t0;
  do {
    if (run(l) != KVSCALE_SUCCESS) return -1;
    ++calls;
    t1 = now();
  } while (t1 - t0 < 0.02);
  return (t1 - t0) / calls;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: bench_ab OLD.so NEW.so ROUNDS CASE... (cases: q<n>, "
                 "w|r<tokens>/<heads>/<layout 0-5>[/<layers>[/<caches>]])\n");
    return 2;
  }
  Build build[2];
  if (!load(argv[1], &build[0]) || !load(argv[2], &build[1])) return 1;
  const int rounds = std::atoi(argv[3]);
  if (rounds < 1) {
    std::fprintf(stderr, "bench_ab: ROUNDS must be at least 1\n");
    return 2;
  }
  std::vector<std::shared_ptr<void>> keep;
  std::vector<std::string> names;
  std::vector<Run> cases;
  for (int i = 4; i < argc; ++i) {
    Run r = make_case(argv[i], &keep);
    if (!r) {
      std::fprintf(stderr, "bench_ab: not a case: %s\n", argv[i]);
      return 2;
    }
    names.emplace_back(argv[i]);
    cases.push_back(std::move(r));
  }
  std::vector<std::vector<double>> t[2];
  t[0].resize(cases.size());
  t[1].resize(cases.size());
  for (int r = 0; r < rounds; ++r)
    for (std::size_t c = 0; c < cases.size(); ++c)
      for (int b : {r & 1, 1 - (r & 1)}) {
        const double s = time_calls(cases[c], build[b]);
        if (s < 0) {
          std::fprintf(stderr, "bench_ab: %s failed with %s\n", names[c].c_str(), argv[1 + b]);
          return 1;
        }
        t[b][c].push_back(s);
      }
  std::printf("%-16s %12s %12s %12s %12s %10s %10s\n", "case", "old best us", "old median", "new best us", "new median",
              "new/old b", "new/old m");
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const double ob = *std::min_element(t[0][c].begin(), t[0][c].end()), om = median(t[0][c]);
    const double nb = *std::min_element(t[1][c].begin(), t[1][c].end()), nm = median(t[1][c]);
    std::printf("%-16s %12.2f %12.2f %12.2f %12.2f %10.3f %10.3f\n", names[c].c_str(), ob * 1e6, om * 1e6, nb * 1e6,
                nm * 1e6, nb / ob, nm / om);
  }
  return 0;
}
