// load_checkpoint(): K/V scales from a checkpoint directory or a bare .safetensors file
// (docs/checkpoint-scales.md). Pipeline:
//   context -> config.json (C10, geometry, producer, declaration) -> files: single file, or index
//   + shards (S rules per header, index rules) -> scale tensors (C1..C9, values) -> TP split ->
//   ScaleTable, or every diagnostic.
#include <sys/stat.h>

#include <string>

#include "checkpoint_config.hpp"
#include "checkpoint_files.hpp"
#include "checkpoint_rules.hpp"
#include "guarded_load.hpp"
#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {
namespace {

/// The caller's context against the source (tp_size and tp_rank are judged once, by
/// usable_context). num_hidden_layers 0 means "the config's" (or the bare file's layer count).
bool context_agrees(const LoadContext& c, const CheckpointConfig* cfg, int layers, Sink& sink) {
  bool ok = true;
  sink.set_file(cfg ? "config.json" : "");
  if (c.num_hidden_layers > 0 && c.num_hidden_layers != layers) {
    ok = false;
    sink.add(DiagCode::context_mismatch, cfg ? "/num_hidden_layers" : "",
             "expected num_hidden_layers " + std::to_string(c.num_hidden_layers) + " (the context), found " +
                 std::to_string(layers) + (cfg ? " in config.json" : " layers in the file"));
  }
  if (cfg && c.model_type && (!cfg->model_type || *cfg->model_type != *c.model_type)) {
    ok = false;
    sink.add(DiagCode::model_type_mismatch, "/model_type",
             "expected model_type \"" + *c.model_type + "\" (the context), found " +
                 (cfg->model_type ? "\"" + *cfg->model_type + "\"" : std::string("none")));
  }
  return ok;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Loads into `res`; returns the number of layers a unit fallback needs (0 when unknown).
int load(const std::string& path, const LoadLimits& lim, const LoadContext* ctx, Sink& sink, LoadResult& res) {
  const bool dir = is_directory(path);
  res.source = dir ? SourceKind::checkpoint : SourceKind::safetensors;
  CheckpointConfig cfg;
  if (dir) {
    if (!read_checkpoint_config(path, lim, sink, &cfg)) return 0;
    res.producer = cfg.producer;
    res.num_kv_heads = cfg.num_kv_heads;
    if (ctx && !context_agrees(*ctx, &cfg, cfg.num_hidden_layers, sink)) return cfg.num_hidden_layers;
  }
  const int layers = cfg.num_hidden_layers;
  CheckpointFiles files;
  const bool opened = dir ? open_checkpoint_dir(path, lim, sink, &res.warnings, &files)
                          : open_safetensors_file(path, lim, sink, &files);
  if (!opened) return layers;
  CheckpointScales scales;
  if (!check_scales(files, dir ? &cfg : nullptr, lim, sink, &res.warnings, &scales)) return layers;
  if (!dir) {
    res.num_kv_heads = scales.num_heads;
    if (ctx && !context_agrees(*ctx, nullptr, scales.num_layers, sink)) return scales.num_layers;
  }
  if (sink.diags().empty())  // e.g. a tp_rank out of range: nothing to split for
    split_for_tp(scales, ctx ? ctx->tp_size : 1, dir ? cfg.model_type : std::nullopt, sink, &res.table);
  return scales.num_layers;
}

}  // namespace
}  // namespace loader

LoadResult load_checkpoint(const std::string& path, const LoadOptions& options) noexcept {
  return loader::guarded_load(options, [&](const LoadLimits& lim, const LoadContext* ctx, loader::Sink& sink,
                                           LoadResult& res) { return loader::load(path, lim, ctx, sink, res); });
}

}  // namespace kvscale
