// kvscale inspect PATH: per rank, K and V statistics, a per-layer sparkline (a layers x heads view
// for per-head scales), and warnings: the loader's plus scale_outlier, k_v_far_apart,
// scales_mostly_one and ranks_differ.
#include <algorithm>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "kvscale/scales.hpp"
#include "report.hpp"

namespace kvscale {
namespace cli {

const char kInspectUsage[] =
    "usage: kvscale inspect FILE|CHECKPOINT [--ascii] [--tp-size N --tp-rank R ...] [--model-type T]\n"
    "\n"
    "Loads a scales file, a checkpoint directory or a .safetensors file (self-consistency checks only,\n"
    "unless a context is given as for 'kvscale validate') and prints, per rank and for K and V apart:\n"
    "the layer count, min / max / median scale (%.9g) and one character per layer (a sparkline,\n"
    "scaled between the source's min and max); per-head scales get one row per layer with one\n"
    "character per head. A scales file holds one scale for K and V, shown once. Then warnings, each\n"
    "with its code: the loader's (unknown_key, ...), scale_outlier (more than 10x from the median of\n"
    "its rank), k_v_far_apart (K and V of a layer more than 10x apart), scales_mostly_one (most scales\n"
    "exactly 1.0: ModelOpt clamps to >= 1, likely uncalibrated), ranks_differ.\n"
    "\n"
    "  --ascii   use ASCII characters for the sparkline (default: Unicode blocks in a UTF-8 locale)\n"
    "  --tp-size N, --tp-rank R, --num-layers L, --model-type T   a context (see kvscale validate --help)\n"
    "\n"
    "exit status: 0 loaded, 1 rejected (the diagnostics are printed), 2 bad command line\n";

namespace {

std::string g9(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

bool utf8_locale() {
  const char* loc = std::setlocale(LC_CTYPE, "");
  if (loc == nullptr) return false;
  std::string l = loc;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return l.find("utf-8") != std::string::npos || l.find("utf8") != std::string::npos;
}

struct Warning {
  DiagCode code;
  std::string message;
};

// One side (K or V) of one layer of one rank.
struct Entry {
  const float* values;
  int count;
  bool per_head;
};

Entry entry(const ScaleTable& t, int rank, int layer, bool v_side) {
  if (v_side)
    return {t.v_scales(rank, layer), t.v_count(rank, layer), t.v_granularity(rank, layer) == Granularity::head};
  return {t.k_scales(rank, layer), t.k_count(rank, layer), t.k_granularity(rank, layer) == Granularity::head};
}

double median_of(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? static_cast<double>(v[n / 2])
               : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2.0;
}

class Printer {
 public:
  Printer(std::FILE* out, const ScaleTable& t, bool unicode) : out_(out), t_(t), unicode_(unicode) {
    bool first = true;
    for (int rk = 0; rk < t.tp_size(); ++rk)
      for (int l = 0; l < t.num_layers(); ++l)
        for (const bool v : {false, true}) {
          const Entry e = entry(t, rk, l, v);
          for (int i = 0; i < e.count; ++i) {
            lo_ = first ? e.values[i] : std::min(lo_, e.values[i]);
            hi_ = first ? e.values[i] : std::max(hi_, e.values[i]);
            first = false;
          }
        }
  }

  // "rank R[ K|V]: ..." with the statistics, then the sparkline or the layers x heads rows.
  // Appends scale_outlier warnings.
  void side(int rank, bool v_side, const char* label, std::vector<Warning>* warnings) const {
    const int n = t_.num_layers();
    std::vector<float> all;
    bool per_head = false;
    for (int l = 0; l < n; ++l) {
      const Entry e = entry(t_, rank, l, v_side);
      all.insert(all.end(), e.values, e.values + e.count);
      per_head = per_head || e.per_head;
    }
    if (all.empty()) {
      std::fprintf(out_, "rank %d%s: 0 layers\n", rank, label);
      return;
    }
    const double median = median_of(all);
    const auto mm = std::minmax_element(all.begin(), all.end());
    std::fprintf(out_, "rank %d%s: %d layers", rank, label, n);
    if (per_head) std::fprintf(out_, " x %d heads", t_.heads_per_rank());
    std::fprintf(out_, ", min %s max %s median %s\n", g9(static_cast<double>(*mm.first)).c_str(),
                 g9(static_cast<double>(*mm.second)).c_str(), g9(median).c_str());
    if (per_head) {
      std::fprintf(out_, "  layer  heads 0..%d\n", t_.heads_per_rank() - 1);
      for (int l = 0; l < n; ++l) {
        const Entry e = entry(t_, rank, l, v_side);
        std::string row;
        for (int i = 0; i < e.count; ++i) row += glyph(e.values[i]);
        std::fprintf(out_, "  %5d  %s%s\n", l, row.c_str(), e.per_head ? "" : "  (per tensor)");
      }
    } else {
      std::string line = "  ";
      for (int l = 0; l < n; ++l) line += glyph(entry(t_, rank, l, v_side).values[0]);
      std::fprintf(out_, "%s\n", line.c_str());
    }
    outliers(rank, v_side, label, median, warnings);
  }

 private:
  std::string glyph(float v) const {
    static const char* const kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                          "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char kAscii[] = "_.-~=+*#";
    int level = 0;
    if (hi_ > lo_)
      level = static_cast<int>(std::lround(7.0 * (static_cast<double>(v) - static_cast<double>(lo_)) /
                                           (static_cast<double>(hi_) - static_cast<double>(lo_))));
    level = std::clamp(level, 0, 7);
    return unicode_ ? std::string(kBlocks[level]) : std::string(1, kAscii[level]);
  }

  void outliers(int rank, bool v_side, const char* label, double median, std::vector<Warning>* out) const {
    for (int l = 0; l < t_.num_layers(); ++l) {
      const Entry e = entry(t_, rank, l, v_side);
      for (int i = 0; i < e.count; ++i) {
        const double s = static_cast<double>(e.values[i]);
        if (s <= 10.0 * median && s * 10.0 >= median) continue;
        std::string where = "rank " + std::to_string(rank) + label + " layer " + std::to_string(l);
        if (e.per_head) where += " head " + std::to_string(i);
        out->push_back({DiagCode::scale_outlier, where + ": scale " + g9(s) +
                                                     (s > median ? " is more than 10x the rank's median "
                                                                 : " is less than 1/10 of the rank's median ") +
                                                     g9(median)});
      }
    }
  }

  std::FILE* out_;
  const ScaleTable& t_;
  bool unicode_;
  float lo_ = 0, hi_ = 0;
};

float max_of(const Entry& e) { return *std::max_element(e.values, e.values + e.count); }

void k_v_far_apart(const ScaleTable& t, std::vector<Warning>* out) {
  for (int rk = 0; rk < t.tp_size(); ++rk)
    for (int l = 0; l < t.num_layers(); ++l) {
      const double k = static_cast<double>(max_of(entry(t, rk, l, false)));
      const double v = static_cast<double>(max_of(entry(t, rk, l, true)));
      if (k > 10.0 * v || v > 10.0 * k)
        out->push_back({DiagCode::k_v_far_apart, "rank " + std::to_string(rk) + " layer " + std::to_string(l) +
                                                     ": K scale " + g9(k) + " and V scale " + g9(v) +
                                                     " are more than 10x apart"});
    }
}

void mostly_one(const ScaleTable& t, bool k_only, std::vector<Warning>* out) {
  std::size_t ones = 0, total = 0;
  for (int rk = 0; rk < t.tp_size(); ++rk)
    for (int l = 0; l < t.num_layers(); ++l)
      for (const bool v : {false, true}) {
        if (v && k_only) continue;
        const Entry e = entry(t, rk, l, v);
        for (int i = 0; i < e.count; ++i) ones += e.values[i] == 1.0f;
        total += static_cast<std::size_t>(e.count);
      }
  if (total > 0 && 2 * ones > total)
    out->push_back({DiagCode::scales_mostly_one, std::to_string(ones) + " of " + std::to_string(total) +
                                                     " scales are exactly 1.0: ModelOpt clamps to >= 1; likely "
                                                     "uncalibrated"});
}

void ranks_differ(const ScaleTable& t, std::vector<Warning>* out) {
  for (int rk = 1; rk < t.tp_size(); ++rk) {
    int differ = 0;
    for (int l = 0; l < t.num_layers(); ++l)
      for (const bool v : {false, true}) {
        const Entry a = entry(t, 0, l, v), b = entry(t, rk, l, v);
        if (a.count != b.count || !std::equal(a.values, a.values + a.count, b.values)) {
          ++differ;
          break;
        }
      }
    if (differ)
      out->push_back({DiagCode::ranks_differ, "rank " + std::to_string(rk) + " differs from rank 0 at " +
                                                  std::to_string(differ) + " of " + std::to_string(t.num_layers()) +
                                                  " layers"});
  }
}

}  // namespace

void inspect_report(std::FILE* out, const std::string& path, const LoadResult& r, bool unicode) {
  for (const Diagnostic& d : r.diagnostics) std::fprintf(out, "%s:%s\n", path.c_str(), format_diagnostic(d).c_str());
  if (!r.ok()) {
    std::fprintf(out, "%s: rejected (%zu problem%s)\n", path.c_str(), r.diagnostics.size(),
                 r.diagnostics.size() == 1 ? "" : "s");
    return;
  }
  const ScaleTable& t = r.table;
  const bool scales_file = r.source == SourceKind::scales_file;
  std::fprintf(out, "%s: %s, model_type %s, %d rank%s x %d layer%s", path.c_str(), source_name(r.source),
               model_type_text(r), t.tp_size(), t.tp_size() == 1 ? "" : "s", t.num_layers(),
               t.num_layers() == 1 ? "" : "s");
  if (!scales_file)
    std::fprintf(out, ", %s, granularity %s, producer %s", kv_heads_text(r.num_kv_heads).c_str(), table_granularity(t),
                 r.producer ? r.producer->c_str() : "unknown");
  std::fprintf(out, "%s\n", scales_file ? " (one scale for K and V)" : "");

  std::vector<Warning> warnings;
  for (const Diagnostic& w : r.warnings) warnings.push_back({w.code, w.message});
  const Printer printer(out, t, unicode);
  for (int rk = 0; rk < t.tp_size(); ++rk) {
    if (scales_file) {
      printer.side(rk, false, "", &warnings);
    } else {
      printer.side(rk, false, " K", &warnings);
      printer.side(rk, true, " V", &warnings);
    }
  }
  if (!scales_file) k_v_far_apart(t, &warnings);
  mostly_one(t, scales_file, &warnings);
  if (scales_file) ranks_differ(t, &warnings);
  for (const Warning& w : warnings) std::fprintf(out, "warning: %s: %s\n", diag_code_name(w.code), w.message.c_str());
}

int cmd_inspect(const Args& a) {
  const std::string& path = a.positional[0];
  LoadOptions opt;
  std::string err;
  if (!parse_context(a, is_checkpoint_path(path), &opt.context, &err)) return usage_error(a, err);
  const LoadResult r = load_scales(path, opt);
  inspect_report(stdout, path, r, !a.has("--ascii") && utf8_locale());
  return r.ok() ? kExitOk : kExitRejected;
}

}  // namespace cli
}  // namespace kvscale
