// kvscale inspect FILE: per-rank statistics, a per-layer sparkline and warnings.
#include <algorithm>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {
namespace cli {

const char kInspectUsage[] =
    "usage: kvscale inspect FILE [--ascii]\n"
    "\n"
    "Loads FILE without a server context (self-consistency checks only) and prints, per rank: the\n"
    "layer count, min / max / median scale (%.9g) and one character per layer (a sparkline, scaled\n"
    "between the file's min and max). Then warnings: unknown keys, ranks whose scales differ, and\n"
    "layers whose scale is more than 10x the rank's median.\n"
    "\n"
    "  --ascii   use ASCII characters for the sparkline (default: Unicode blocks in a UTF-8 locale)\n"
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

}  // namespace

int cmd_inspect(const Args& a) {
  const std::string& path = a.positional[0];
  const LoadResult r = load_scales_file(path);
  for (const Diagnostic& d : r.diagnostics) std::printf("%s:%s\n", path.c_str(), format_diagnostic(d).c_str());
  if (!r.ok()) {
    std::printf("%s: rejected (%zu problem%s)\n", path.c_str(), r.diagnostics.size(),
                r.diagnostics.size() == 1 ? "" : "s");
    return kExitRejected;
  }
  const ScaleTable& t = r.table;
  const bool unicode = !a.has("--ascii") && utf8_locale();
  static const char* const kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
  static const char kAscii[] = "_.-~=+*#";
  std::printf("%s: model_type %s, %d rank%s x %d layer%s\n", path.c_str(),
              t.model_type() ? t.model_type()->c_str() : "null", t.tp_size(), t.tp_size() == 1 ? "" : "s",
              t.num_layers(), t.num_layers() == 1 ? "" : "s");
  const int n = t.num_layers();
  float gmin = 0, gmax = 0;
  for (int rk = 0; rk < t.tp_size(); ++rk)
    for (int l = 0; l < n; ++l) {
      const float s = t.scale(rk, l);
      if ((rk == 0 && l == 0) || s < gmin) gmin = s;
      if ((rk == 0 && l == 0) || s > gmax) gmax = s;
    }
  std::vector<std::string> warnings;
  for (const Diagnostic& w : r.warnings) warnings.push_back(w.message);
  for (int rk = 0; rk < t.tp_size(); ++rk) {
    if (n == 0) {
      std::printf("rank %d: 0 layers\n", rk);
      continue;
    }
    std::vector<float> v;
    for (int l = 0; l < n; ++l) v.push_back(t.scale(rk, l));
    std::vector<float> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const double median = n % 2 ? static_cast<double>(sorted[static_cast<std::size_t>(n / 2)])
                                : (static_cast<double>(sorted[static_cast<std::size_t>(n / 2 - 1)]) +
                                   static_cast<double>(sorted[static_cast<std::size_t>(n / 2)])) /
                                      2.0;
    std::printf("rank %d: %d layers, min %s max %s median %s\n", rk, n, g9(static_cast<double>(sorted.front())).c_str(),
                g9(static_cast<double>(sorted.back())).c_str(), g9(median).c_str());
    std::string line = "  ";
    for (int l = 0; l < n; ++l) {
      int level = 0;
      if (gmax > gmin)
        level = static_cast<int>(
            std::lround(7.0 * (static_cast<double>(v[static_cast<std::size_t>(l)]) - static_cast<double>(gmin)) /
                        (static_cast<double>(gmax) - static_cast<double>(gmin))));
      level = std::clamp(level, 0, 7);
      if (unicode)
        line += kBlocks[level];
      else
        line += kAscii[level];
    }
    std::printf("%s\n", line.c_str());
    for (int l = 0; l < n; ++l) {
      const double s = static_cast<double>(v[static_cast<std::size_t>(l)]);
      if (s > 10.0 * median)
        warnings.push_back("rank " + std::to_string(rk) + " layer " + std::to_string(l) + ": scale " + g9(s) +
                           " is more than 10x the rank's median " + g9(median));
    }
    if (rk > 0) {
      int differ = 0;
      for (int l = 0; l < n; ++l)
        if (t.scale(rk, l) != t.scale(0, l)) ++differ;
      if (differ)
        warnings.push_back("rank " + std::to_string(rk) + " differs from rank 0 at " + std::to_string(differ) + " of " +
                           std::to_string(n) + " layers");
    }
  }
  for (const std::string& w : warnings) std::printf("warning: %s\n", w.c_str());
  return kExitOk;
}

}  // namespace cli
}  // namespace kvscale
