// kvscale validate PATH [--tp-size N --tp-rank R [--num-layers L]] [--model-type T] [--json]
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "kvscale/scales.hpp"
#include "report.hpp"

namespace kvscale {
namespace cli {

const char kValidateUsage[] =
    "usage: kvscale validate FILE [--tp-size N --tp-rank R --num-layers L] [--model-type T] [--json]\n"
    "       kvscale validate CHECKPOINT [--tp-size N --tp-rank R] [--num-layers L] [--model-type T] [--json]\n"
    "\n"
    "Checks a vLLM kv_cache_scales.json against the spec (vLLM's checks V1-V6 plus the hardened checks\n"
    "H1-H7), or the K/V scales of a checkpoint: a directory (config.json + safetensors) or one\n"
    ".safetensors file. Every problem is listed as PATH:LOCATION: code: message.\n"
    "\n"
    "  --tp-size N, --tp-rank R, --num-layers L\n"
    "                  the server's context. For a scales file give all three or none; without them\n"
    "                  the file is checked for self-consistency (ranks 0..n-1, every rank with layers\n"
    "                  0..L-1). For a checkpoint --tp-size and --tp-rank go together and --num-layers\n"
    "                  is optional (default: config.json's num_hidden_layers).\n"
    "  --model-type T  also require the model_type to be T (a scales file needs the context)\n"
    "  --json          print one JSON object. Scales file: valid, source, model_type, tp_size,\n"
    "                  num_layers, tp_rank, scales (rank -> float32 per layer, %.9g), diagnostics\n"
    "                  [{code, pointer, message}], warnings. Checkpoint: valid, source, producer,\n"
    "                  model_type, num_layers, num_kv_heads, tp_size, tp_rank, granularity, k_scales,\n"
    "                  v_scales (rank -> per layer a number, or a list per head), diagnostics, warnings\n"
    "\n"
    "exit status: 0 valid, 1 rejected (including I/O errors), 2 bad command line\n";

namespace {

std::string g9(float f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
  return buf;
}

// min and max over every K (v_side false) or V scale of every rank, layer and head.
bool scale_range(const ScaleTable& t, bool v_side, float* lo, float* hi) {
  bool any = false;
  for (int rk = 0; rk < t.tp_size(); ++rk)
    for (int l = 0; l < t.num_layers(); ++l) {
      const float* s = v_side ? t.v_scales(rk, l) : t.k_scales(rk, l);
      const int n = v_side ? t.v_count(rk, l) : t.k_count(rk, l);
      for (int i = 0; i < n; ++i) {
        if (!any || s[i] < *lo) *lo = s[i];
        if (!any || s[i] > *hi) *hi = s[i];
        any = true;
      }
    }
  return any;
}

void print_scales_file_summary(const std::string& path, const ScaleTable& t) {
  std::printf("%s: valid: %d rank%s x %d layer%s, model_type %s", path.c_str(), t.tp_size(),
              t.tp_size() == 1 ? "" : "s", t.num_layers(), t.num_layers() == 1 ? "" : "s",
              t.model_type() ? t.model_type()->c_str() : "null");
  float lo = 0, hi = 0;
  if (scale_range(t, false, &lo, &hi))
    std::printf(", scales min %s max %s\n", g9(lo).c_str(), g9(hi).c_str());
  else
    std::printf(", no scales\n");
}

void print_checkpoint_summary(const std::string& path, const LoadResult& r) {
  const ScaleTable& t = r.table;
  std::printf("%s: valid: %s, %d layer%s, %s, granularity %s, producer %s, model_type %s", path.c_str(),
              source_name(r.source), t.num_layers(), t.num_layers() == 1 ? "" : "s",
              kv_heads_text(r.num_kv_heads).c_str(), table_granularity(t), r.producer ? r.producer->c_str() : "unknown",
              model_type_text(r));
  for (const bool v_side : {false, true}) {
    float lo = 0, hi = 0;
    if (scale_range(t, v_side, &lo, &hi))
      std::printf(", %s min %s max %s", v_side ? "V" : "K", g9(lo).c_str(), g9(hi).c_str());
  }
  std::printf("\n");
}

}  // namespace

int cmd_validate(const Args& a) {
  const std::string& path = a.positional[0];
  ReportContext rc;
  std::string err;
  if (!parse_context(a, is_checkpoint_path(path), &rc.context, &err)) return usage_error(a, err);
  rc.tp_given = a.has("--tp-size");
  LoadOptions opt;
  opt.context = rc.context;
  const LoadResult r = load_scales(path, opt);
  const bool scales_file = r.source == SourceKind::scales_file;

  if (a.has("--json")) {
    const std::string o = (scales_file ? scales_file_json(r, rc) : checkpoint_json(r, rc)) + "\n";
    std::fwrite(o.data(), 1, o.size(), stdout);
    return r.ok() ? kExitOk : kExitRejected;
  }
  for (const Diagnostic& d : r.diagnostics) std::printf("%s:%s\n", path.c_str(), format_diagnostic(d).c_str());
  for (const Diagnostic& w : r.warnings) std::printf("%s: warning: %s\n", path.c_str(), w.message.c_str());
  if (!r.ok()) {
    std::printf("%s: rejected (%zu problem%s)\n", path.c_str(), r.diagnostics.size(),
                r.diagnostics.size() == 1 ? "" : "s");
    return kExitRejected;
  }
  if (scales_file)
    print_scales_file_summary(path, r.table);
  else
    print_checkpoint_summary(path, r);
  return kExitOk;
}

}  // namespace cli
}  // namespace kvscale
