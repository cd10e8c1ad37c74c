// Parse + validate a synthetic 64-rank x 128-layer kv_cache_scales.json held in memory.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "kvscale/scales.hpp"

namespace {

std::string make_file(int ranks, int layers) {
  std::string s = "{\"model_type\": \"llama\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {";
  char buf[64];
  for (int r = 0; r < ranks; ++r) {
    s += (r ? ", \"" : "\"") + std::to_string(r) + "\": {";
    for (int l = 0; l < layers; ++l) {
      std::snprintf(buf, sizeof buf, "%s\"%d\": %.17g", l ? ", " : "", l, 0.0152239128947258 + 1e-5 * (r * layers + l));
      s += buf;
    }
    s += "}";
  }
  return s + "}}}";
}

void BM_LoadScalesJson(benchmark::State& state) {
  const int ranks = static_cast<int>(state.range(0)), layers = static_cast<int>(state.range(1));
  const std::string file = make_file(ranks, layers);
  kvscale::LoadOptions opt;
  opt.context = kvscale::LoadContext{ranks, 0, layers, std::string("llama")};
  for (auto _ : state) {
    kvscale::LoadResult r = kvscale::load_scales_json(file, opt);
    if (!r.ok()) state.SkipWithError("rejected");
    benchmark::DoNotOptimize(r.table.k_scales(0, 0));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(file.size()));
  state.counters["file_bytes"] = static_cast<double>(file.size());
  state.counters["scales"] = static_cast<double>(ranks * layers);
}
BENCHMARK(BM_LoadScalesJson)->Args({64, 128})->Args({1, 32})->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
