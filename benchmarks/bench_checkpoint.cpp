// Validate a synthetic sharded checkpoint: 200 shards, 100,000 tensors, weights as holes in sparse
// files (nothing is stored, and nothing may be read). Goals (issue: "Speed and memory"): under 1 s,
// and peak RSS under 4x the total header size. Both are reported as counters:
//   seconds per load (the benchmark's time), header_bytes, peak_rss_bytes (a forked child that
//   loads once; ru_maxrss includes the process's baseline), rss_over_headers.
//   KVSCALE_BENCH_DIR=/path keeps the checkpoint there (default: a temporary directory, removed).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kvscale/scales.hpp"

namespace {

constexpr int kShards = 200;
constexpr int kTensors = 100000;
constexpr int kLayers = 100;

struct Tensor {
  std::string name;
  std::string dtype;
  std::string shape;
  std::uint64_t bytes;
  float value;  // scales only
};

/// Writes one shard: header, then the tensors; weights are holes (ftruncate), scales real bytes.
std::uint64_t write_shard(const std::string& path, const std::vector<Tensor>& ts) {
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::uint64_t off = 0;
  for (const Tensor& t : ts) {
    h += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + t.shape + ",\"data_offsets\":[" +
         std::to_string(off) + "," + std::to_string(off + t.bytes) + "]}";
    off += t.bytes;
  }
  h += "}";
  while (h.size() % 8) h += ' ';
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  std::uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(h.size()) >> (8 * i));
  std::fwrite(len, 1, 8, f);
  std::fwrite(h.data(), 1, h.size(), f);
  std::uint64_t pos = 0;
  for (const Tensor& t : ts) {
    if (t.dtype == "F32") {
      std::fseek(f, static_cast<long>(8 + h.size() + pos), SEEK_SET);
      std::fwrite(&t.value, 4, 1, f);
    }
    pos += t.bytes;
  }
  std::fclose(f);
  if (::truncate(path.c_str(), static_cast<off_t>(8 + h.size() + off)) != 0) std::abort();
  return 8 + h.size();
}

struct Fixture {
  std::string dir;
  bool owned = false;
  std::uint64_t header_bytes = 0;
};

Fixture make_checkpoint() {
  Fixture fx;
  if (const char* d = std::getenv("KVSCALE_BENCH_DIR")) {
    fx.dir = d;
  } else {
    char tmpl[] = "/tmp/kvscale_bench_ckpt_XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    fx.dir = tmpl;
    fx.owned = true;
  }
  std::string cfg = "{\"model_type\":\"llama\",\"num_hidden_layers\":" + std::to_string(kLayers) +
                    ",\"num_key_value_heads\":8,\"quantization_config\":{\"quant_method\":\"quark\",\"export\":"
                    "{\"kv_cache_group\":[\"*k_proj\",\"*v_proj\"]}}}";
  FILE* c = std::fopen((fx.dir + "/config.json").c_str(), "wb");
  std::fwrite(cfg.data(), 1, cfg.size(), c);
  std::fclose(c);
  std::string index = "{\"metadata\":{},\"weight_map\":{";
  const int per_shard = kTensors / kShards;
  int layer_scale = 0;  // next scale tensor to place (2 per layer)
  for (int s = 0; s < kShards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, kShards);
    std::vector<Tensor> ts;
    for (int i = 0; i < per_shard; ++i) {
      if (i == 0 && layer_scale < 2 * kLayers) {
        for (int k = 0; k < 2 && layer_scale < 2 * kLayers; ++k, ++layer_scale) {
          const int l = layer_scale / 2;
          ts.push_back({"model.layers." + std::to_string(l) + ".self_attn." + (layer_scale % 2 ? "v" : "k") + "_scale",
                        "F32", "[]", 4, 0.01f + 0.001f * static_cast<float>(layer_scale)});
        }
        i += 1;
        continue;
      }
      const int id = s * per_shard + i;
      ts.push_back({"model.layers." + std::to_string(id % kLayers) + ".mlp.w" + std::to_string(id) + ".weight", "BF16",
                    "[1024,1024]", 2u << 20, 0});
    }
    fx.header_bytes += write_shard(fx.dir + "/" + name, ts);
    for (const Tensor& t : ts) index += (index.back() == '{' ? "\"" : ",\"") + t.name + "\":\"" + name + "\"";
  }
  index += "}}";
  FILE* f = std::fopen((fx.dir + "/model.safetensors.index.json").c_str(), "wb");
  std::fwrite(index.data(), 1, index.size(), f);
  std::fclose(f);
  return fx;
}

/// Peak RSS (bytes) of a child process that loads the checkpoint once; -1 on failure.
long long child_peak_rss(const std::string& dir) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const kvscale::LoadResult r = kvscale::load_checkpoint(dir);
    ::_exit(r.ok() ? 0 : 1);
  }
  int status = 0;
  struct rusage ru {};
  if (pid < 0 || ::wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return static_cast<long long>(ru.ru_maxrss) * 1024;
}

Fixture g_fixture;

void BM_ValidateCheckpoint200Shards(benchmark::State& state) {
  const long long rss = child_peak_rss(g_fixture.dir);
  for (auto _ : state) {
    kvscale::LoadResult r = kvscale::load_checkpoint(g_fixture.dir);
    if (!r.ok()) {
      state.SkipWithError(kvscale::format_diagnostic(r.diagnostics[0]).c_str());
      break;
    }
    benchmark::DoNotOptimize(r.table.k_scales(0, 0));
  }
  state.counters["shards"] = kShards;
  state.counters["tensors"] = kTensors;
  state.counters["header_bytes"] = static_cast<double>(g_fixture.header_bytes);
  state.counters["peak_rss_bytes"] = static_cast<double>(rss);
  state.counters["rss_over_headers"] = static_cast<double>(rss) / static_cast<double>(g_fixture.header_bytes);
}
BENCHMARK(BM_ValidateCheckpoint200Shards)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_fixture = make_checkpoint();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_fixture.owned) {
    const std::string cmd = "rm -rf '" + g_fixture.dir + "'";
    if (std::system(cmd.c_str()) != 0) return 1;
  }
  return 0;
}
