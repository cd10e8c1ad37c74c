// kvscale validate FILE [--tp-size N --tp-rank R --num-layers L] [--model-type T] [--json]
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "json_out.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {
namespace cli {

const char kValidateUsage[] =
    "usage: kvscale validate FILE [--tp-size N --tp-rank R --num-layers L] [--model-type T] [--json]\n"
    "\n"
    "Checks a vLLM kv_cache_scales.json against the spec (vLLM's checks V1-V6 plus the hardened checks\n"
    "H1-H7). Every problem is listed as FILE:/json/pointer: code: message.\n"
    "\n"
    "  --tp-size N, --tp-rank R, --num-layers L\n"
    "                  the server's context; give all three or none. Without them the file is checked\n"
    "                  for self-consistency (ranks 0..n-1, every rank with layers 0..L-1).\n"
    "  --model-type T  also require the file's model_type to be T (needs the context)\n"
    "  --json          print one JSON object: valid, model_type, tp_size, num_layers, tp_rank,\n"
    "                  scales (rank -> float32 per layer, %.9g), diagnostics [{code, pointer, message}]\n"
    "\n"
    "exit status: 0 valid, 1 rejected (including I/O errors), 2 bad command line\n";

namespace {

std::string g9(float f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
  return buf;
}

}  // namespace

int cmd_validate(const Args& a) {
  std::string err;
  const auto usage = [&](const std::string& m) { return usage_error(a, m); };
  const std::string& path = a.positional[0];
  const int given = int(a.has("--tp-size")) + int(a.has("--tp-rank")) + int(a.has("--num-layers"));
  if (given != 0 && given != 3)
    return usage("--tp-size, --tp-rank and --num-layers go together: give all three or none");
  if (given == 0 && a.has("--model-type"))
    return usage("--model-type needs the context (--tp-size, --tp-rank, --num-layers)");
  LoadOptions opt;
  if (given == 3) {
    const std::int64_t lo = std::numeric_limits<int>::min(), hi = std::numeric_limits<int>::max();
    std::int64_t tp = 0, rank = 0, layers = 0;
    if (!parse_int("--tp-size", *a.value("--tp-size"), lo, hi, &tp, &err) ||
        !parse_int("--tp-rank", *a.value("--tp-rank"), lo, hi, &rank, &err) ||
        !parse_int("--num-layers", *a.value("--num-layers"), lo, hi, &layers, &err))
      return usage(err);
    LoadContext c;
    c.tp_size = static_cast<int>(tp);
    c.tp_rank = static_cast<int>(rank);
    c.num_hidden_layers = static_cast<int>(layers);
    if (auto mt = a.value("--model-type")) c.model_type = *mt;
    opt.context = c;
  }
  const LoadResult r = load_scales_file(path, opt);
  const bool valid = r.ok();
  const ScaleTable& t = r.table;

  if (a.has("--json")) {
    std::string o = "{\"valid\": ";
    o += valid ? "true" : "false";
    o += ", \"model_type\": ";
    if (valid && t.model_type())
      json_string(o, *t.model_type());
    else
      o += "null";
    const auto int_or_null = [&](bool have, int v) { o += have ? std::to_string(v) : std::string("null"); };
    o += ", \"tp_size\": ";
    int_or_null(valid || opt.context.has_value(), valid ? t.tp_size() : (opt.context ? opt.context->tp_size : 0));
    o += ", \"num_layers\": ";
    int_or_null(valid || opt.context.has_value(),
                valid ? t.num_layers() : (opt.context ? opt.context->num_hidden_layers : 0));
    o += ", \"tp_rank\": ";
    int_or_null(opt.context.has_value(), opt.context ? opt.context->tp_rank : 0);
    o += ", \"scales\": {";
    if (valid) {
      for (int rk = 0; rk < t.tp_size(); ++rk) {
        o += rk ? ", \"" : "\"";
        o += std::to_string(rk) + "\": [";
        for (int l = 0; l < t.num_layers(); ++l) {
          if (l) o += ", ";
          o += g9(t.scale(rk, l));
        }
        o += "]";
      }
    }
    o += "}, \"diagnostics\": [";
    for (std::size_t i = 0; i < r.diagnostics.size(); ++i) {
      const Diagnostic& d = r.diagnostics[i];
      o += i ? ", {\"code\": " : "{\"code\": ";
      json_string(o, diag_code_name(d.code));
      o += ", \"pointer\": ";
      json_string(o, d.pointer);
      o += ", \"message\": ";
      json_string(o, d.message);
      o += "}";
    }
    o += "]}\n";
    std::fwrite(o.data(), 1, o.size(), stdout);
    return valid ? kExitOk : kExitRejected;
  }

  for (const Diagnostic& d : r.diagnostics) std::printf("%s:%s\n", path.c_str(), format_diagnostic(d).c_str());
  for (const Diagnostic& w : r.warnings) std::printf("%s: warning: %s\n", path.c_str(), w.message.c_str());
  if (!valid) {
    std::printf("%s: rejected (%zu problem%s)\n", path.c_str(), r.diagnostics.size(),
                r.diagnostics.size() == 1 ? "" : "s");
    return kExitRejected;
  }
  float lo = 0, hi = 0;
  bool any = false;
  for (int rk = 0; rk < t.tp_size(); ++rk)
    for (int l = 0; l < t.num_layers(); ++l) {
      const float s = t.scale(rk, l);
      if (!any || s < lo) lo = s;
      if (!any || s > hi) hi = s;
      any = true;
    }
  std::printf("%s: valid: %d rank%s x %d layer%s, model_type %s", path.c_str(), t.tp_size(),
              t.tp_size() == 1 ? "" : "s", t.num_layers(), t.num_layers() == 1 ? "" : "s",
              t.model_type() ? t.model_type()->c_str() : "null");
  if (any)
    std::printf(", scales min %s max %s\n", g9(lo).c_str(), g9(hi).c_str());
  else
    std::printf(", no scales\n");
  return kExitOk;
}

}  // namespace cli
}  // namespace kvscale
