// load_checkpoint(): K/V scales from a checkpoint directory or a bare .safetensors file
// (docs/checkpoint-scales.md). Pipeline:
//   context -> config.json (C10, geometry, producer, declaration) -> files: single file, or index
//   + shards (S rules per header, index rules) -> scale tensors (C1..C9, values) -> TP split ->
//   ScaleTable, or every diagnostic.
#include <sys/stat.h>

#include <new>
#include <string>

#include "checkpoint_config.hpp"
#include "checkpoint_files.hpp"
#include "checkpoint_rules.hpp"
#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {
namespace {

/// The caller's context against the source. num_hidden_layers 0 = take the config's.
bool check_checkpoint_context(const LoadContext& c, const CheckpointConfig* cfg, int bare_layers,
                              const LoadLimits& lim, Sink& sink) {
  sink.set_file("");
  bool ok = true;
  if (c.tp_size <= 0 || c.tp_size > lim.max_ranks) {
    ok = false;
    sink.add(c.tp_size <= 0 ? DiagCode::invalid_context : DiagCode::too_many_ranks, "",
             "expected tp_size in 1.." + std::to_string(lim.max_ranks) + " in the context, found " +
                 std::to_string(c.tp_size));
  } else if (c.tp_rank < 0 || c.tp_rank >= c.tp_size) {
    ok = false;
    sink.add(DiagCode::tp_rank_out_of_range, "",
             "expected tp_rank in 0.." + std::to_string(c.tp_size - 1) + " (tp_size " + std::to_string(c.tp_size) +
                 "), found " + std::to_string(c.tp_rank));
  }
  const int layers = cfg ? cfg->num_hidden_layers : bare_layers;
  if (c.num_hidden_layers < 0 || (c.num_hidden_layers > 0 && layers > 0 && c.num_hidden_layers != layers)) {
    ok = false;
    sink.set_file(cfg ? "config.json" : "");
    sink.add(DiagCode::context_mismatch, cfg ? "/num_hidden_layers" : "",
             "expected num_hidden_layers " + std::to_string(c.num_hidden_layers) + " (the context), found " +
                 std::to_string(layers) + (cfg ? " in config.json" : " layers in the file"));
  }
  if (cfg && c.model_type && (!cfg->model_type || *cfg->model_type != *c.model_type)) {
    ok = false;
    sink.set_file("config.json");
    sink.add(DiagCode::model_type_mismatch, "/model_type",
             "expected model_type \"" + *c.model_type + "\" (the context), found " +
                 (cfg->model_type ? "\"" + *cfg->model_type + "\"" : std::string("none")));
  }
  return ok;
}

/// vLLM's fallback, opt-in: 1.0 for every layer of the context, diagnostics kept.
void unit_fallback(const LoadOptions& opt, int config_layers, LoadResult* res) {
  if (opt.on_failure != FailurePolicy::unit_fallback || !opt.context) return;
  const LoadContext& c = *opt.context;
  const int layers = c.num_hidden_layers > 0 ? c.num_hidden_layers : config_layers;
  if (c.tp_size <= 0 || c.tp_size > LoadLimits{}.max_ranks || layers <= 0) return;
  res->table = ScaleTable(c.tp_size, layers,
                          std::vector<float>(static_cast<std::size_t>(c.tp_size) * static_cast<std::size_t>(layers), 1.0f),
                          c.model_type);
  res->used_fallback = true;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void load(const std::string& path, const LoadOptions& opt, const LoadLimits& lim, Sink& sink, LoadResult* res,
          int* config_layers) {
  const bool dir = is_directory(path);
  res->source = dir ? SourceKind::checkpoint : SourceKind::safetensors;
  CheckpointConfig cfg;
  if (dir) {
    if (!read_checkpoint_config(path, lim, sink, &cfg)) return;
    *config_layers = cfg.num_hidden_layers;
    res->producer = cfg.producer;
    res->num_kv_heads = cfg.num_kv_heads;
    if (opt.context && !check_checkpoint_context(*opt.context, &cfg, 0, lim, sink)) return;
  }
  CheckpointFiles files;
  const bool opened = dir ? open_checkpoint_dir(path, lim, sink, &res->warnings, &files)
                          : open_safetensors_file(path, lim, sink, &files);
  if (!opened) return;
  CheckpointScales scales;
  if (!check_scales(files, dir ? &cfg : nullptr, lim, sink, &res->warnings, &scales)) return;
  if (!dir) {
    res->num_kv_heads = scales.num_heads;
    if (opt.context && !check_checkpoint_context(*opt.context, nullptr, scales.num_layers, lim, sink)) return;
  }
  split_for_tp(scales, opt.context ? opt.context->tp_size : 1, dir ? cfg.model_type : std::nullopt, sink, &res->table);
}

}  // namespace
}  // namespace loader

LoadResult load_checkpoint(const std::string& path, const LoadOptions& options) noexcept {
  LoadResult res;
  try {
    const LoadLimits lim = loader::clamp_limits(options.limits);
    loader::Sink sink(lim.max_diagnostics);
    int config_layers = 0;
    loader::load(path, options, lim, sink, &res, &config_layers);
    res.diagnostics = std::move(sink.diags());
    if (!res.diagnostics.empty()) {
      res.table = ScaleTable();
      loader::unit_fallback(options, config_layers, &res);
    }
  } catch (const std::bad_alloc&) {
    res = LoadResult();
    res.diagnostics.push_back({DiagCode::out_of_memory, "", "expected enough host memory to load, found none"});
  } catch (const std::exception& e) {
    res = LoadResult();
    res.diagnostics.push_back({DiagCode::internal_error, "", std::string("unexpected error: ") + e.what()});
  }
  return res;
}

}  // namespace kvscale
