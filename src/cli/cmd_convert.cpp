// kvscale convert SRC OUT [--merge max] [--force]: any source to kv_cache_scales.json (SGLang's
// --quantization-param-path) or to a scales-only .safetensors with vLLM's tensor names.
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "kvscale/scales.hpp"
#include "report.hpp"

namespace kvscale {
namespace cli {

const char kConvertUsage[] =
    "usage: kvscale convert SRC OUT [--merge max] [--force]\n"
    "\n"
    "Reads SRC (a scales file, a checkpoint directory or a .safetensors file) and writes OUT:\n"
    "  OUT.json         vLLM's kv_cache_scales.json (what SGLang's --quantization-param-path reads):\n"
    "                   one scale per rank and layer for K and V together, per tensor\n"
    "  OUT.safetensors  a scales-only safetensors with vLLM's names model.layers.N.self_attn.k_scale /\n"
    "                   v_scale, F32, shape [] per tensor or [H] per head; one rank\n"
    "Values are written so that they load back to the same float32 bits. OUT is written atomically\n"
    "(a temporary file in the same directory, then a rename).\n"
    "\n"
    "  --merge max  where OUT cannot hold SRC exactly (K != V or per-head scales for .json, ranks that\n"
    "               differ or mixed granularity for .safetensors), take the maximum instead of failing\n"
    "  --force      replace OUT if it exists\n"
    "\n"
    "exit status: 0 written, 1 SRC rejected or OUT not written, 2 bad command line\n";

namespace {

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

}  // namespace

int cmd_convert(const Args& a) {
  const std::string& src = a.positional[0];
  const std::string& out = a.positional[1];
  const bool to_json = ends_with(out, ".json");
  if (!to_json && !ends_with(out, ".safetensors"))
    return usage_error(a, "OUT must end in .json or .safetensors, got '" + out + "'");
  WriteOptions wo;
  wo.force = a.has("--force");
  if (auto m = a.value("--merge")) {
    if (*m != "max") return usage_error(a, "--merge: expected max, got '" + *m + "'");
    wo.merge = MergePolicy::max;
  }
  const LoadResult r = load_scales(src);
  if (!r.ok()) {
    for (const Diagnostic& d : r.diagnostics)
      std::fprintf(stderr, "%s:%s\n", src.c_str(), format_diagnostic(d).c_str());
    std::fprintf(stderr, "kvscale convert: %s was rejected; nothing was written\n", src.c_str());
    return kExitRejected;
  }
  const Status s = to_json ? write_scales_json(r.table, out, wo) : write_scales_safetensors(r.table, out, wo);
  if (s != Status::success) {
    std::fprintf(stderr, "kvscale convert: %s: %s\n", status_name(s), last_error_message().c_str());
    return kExitRejected;
  }
  const ScaleTable& t = r.table;
  std::printf("%s: wrote %s from %s %s (%d rank%s x %d layer%s, granularity %s%s)\n", out.c_str(),
              to_json ? "kv_cache_scales.json" : "scales-only safetensors", source_name(r.source), src.c_str(),
              t.tp_size(), t.tp_size() == 1 ? "" : "s", t.num_layers(), t.num_layers() == 1 ? "" : "s",
              table_granularity(t), wo.merge == MergePolicy::max ? ", merged with max" : "");
  return kExitOk;
}

}  // namespace cli
}  // namespace kvscale
