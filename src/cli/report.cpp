#include "report.hpp"

#include <vector>

#include "json_out.hpp"

namespace kvscale {
namespace cli {
namespace {

void diagnostics_array(JsonWriter& w, const std::vector<Diagnostic>& ds) {
  w.begin_array();
  for (const Diagnostic& d : ds)
    w.begin_object()
        .key("code")
        .value(diag_code_name(d.code))
        .key("pointer")
        .value(diagnostic_location(d))
        .key("message")
        .value(d.message)
        .end_object();
  w.end_array();
}

void int_or_null(JsonWriter& w, bool have, int v) {
  if (have)
    w.value(v);
  else
    w.null();
}

void model_type(JsonWriter& w, const LoadResult& r) {
  if (r.ok() && r.table.model_type())
    w.value(*r.table.model_type());
  else
    w.null();
}

// {"<rank>": [entry per layer]}: a number per tensor, a list per head. Empty when rejected.
void rank_scales(JsonWriter& w, const LoadResult& r, int rank, bool v_side) {
  w.begin_object();
  const ScaleTable& t = r.table;
  if (r.ok() && rank >= 0 && rank < t.tp_size()) {
    w.key(std::to_string(rank)).begin_array();
    for (int l = 0; l < t.num_layers(); ++l) {
      const float* s = v_side ? t.v_scales(rank, l) : t.k_scales(rank, l);
      const int n = v_side ? t.v_count(rank, l) : t.k_count(rank, l);
      if ((v_side ? t.v_granularity(rank, l) : t.k_granularity(rank, l)) == Granularity::tensor) {
        w.value(s[0]);
        continue;
      }
      w.begin_array();
      for (int i = 0; i < n; ++i) w.value(s[i]);
      w.end_array();
    }
    w.end_array();
  }
  w.end_object();
}

}  // namespace

const char* source_name(SourceKind s) noexcept {
  switch (s) {
    case SourceKind::scales_file: return "scales_file";
    case SourceKind::checkpoint: return "checkpoint";
    case SourceKind::safetensors: return "safetensors";
  }
  return "unknown";
}

std::string kv_heads_text(int num_kv_heads) {
  if (num_kv_heads <= 0) return "KV heads unknown";
  return std::to_string(num_kv_heads) + (num_kv_heads == 1 ? " KV head" : " KV heads");
}

const char* model_type_text(const LoadResult& r) noexcept {
  if (r.table.model_type()) return r.table.model_type()->c_str();
  return r.source == SourceKind::scales_file ? "null" : "unknown";
}

std::string scales_file_json(const LoadResult& r, const ReportContext& c) {
  const bool valid = r.ok();
  const ScaleTable& t = r.table;
  const std::optional<LoadContext>& ctx = c.context;
  JsonWriter w;
  w.begin_object().key("valid").value(valid).key("source").value(source_name(r.source)).key("model_type");
  model_type(w, r);
  w.key("tp_size");
  int_or_null(w, valid || ctx.has_value(), valid ? t.tp_size() : (ctx ? ctx->tp_size : 0));
  w.key("num_layers");
  int_or_null(w, valid || ctx.has_value(), valid ? t.num_layers() : (ctx ? ctx->num_hidden_layers : 0));
  w.key("tp_rank");
  int_or_null(w, ctx.has_value(), ctx ? ctx->tp_rank : 0);
  w.key("scales").begin_object();
  if (valid) {
    for (int rk = 0; rk < t.tp_size(); ++rk) {
      w.key(std::to_string(rk)).begin_array();
      for (int l = 0; l < t.num_layers(); ++l) w.value(t.scale(rk, l));
      w.end_array();
    }
  }
  w.end_object().key("diagnostics");
  diagnostics_array(w, r.diagnostics);
  w.key("warnings");
  diagnostics_array(w, r.warnings);
  w.end_object();
  return w.str();
}

std::string checkpoint_json(const LoadResult& r, const ReportContext& c) {
  const bool valid = r.ok();
  const ScaleTable& t = r.table;
  const std::optional<LoadContext>& ctx = c.context;
  JsonWriter w;
  w.begin_object().key("valid").value(valid).key("source").value(source_name(r.source)).key("producer");
  if (r.producer)
    w.value(*r.producer);
  else
    w.null();
  w.key("model_type");
  model_type(w, r);
  w.key("num_layers");
  const int ctx_layers = ctx ? ctx->num_hidden_layers : 0;
  int_or_null(w, valid || ctx_layers > 0, valid ? t.num_layers() : ctx_layers);
  w.key("num_kv_heads");
  int_or_null(w, r.num_kv_heads > 0, r.num_kv_heads);
  w.key("tp_size");
  int_or_null(w, c.tp_given && ctx, ctx ? ctx->tp_size : 0);
  w.key("tp_rank");
  int_or_null(w, c.tp_given && ctx, ctx ? ctx->tp_rank : 0);
  w.key("granularity");
  if (valid && !t.empty())
    w.value(table_granularity(t));
  else
    w.null();
  const int rank = c.tp_given && ctx ? ctx->tp_rank : 0;
  w.key("k_scales");
  rank_scales(w, r, rank, false);
  w.key("v_scales");
  rank_scales(w, r, rank, true);
  w.key("diagnostics");
  diagnostics_array(w, r.diagnostics);
  w.key("warnings");
  diagnostics_array(w, r.warnings);
  w.end_object();
  return w.str();
}

}  // namespace cli
}  // namespace kvscale
