// Same-run ratio summaries for bench_cpu and bench_gpu, printed after Google Benchmark's console
// table and nowhere else.
//
// RatioReporter forwards every call to the display reporter the library itself would use
// (benchmark::CreateDefaultDisplayReporter: --benchmark_format, --benchmark_color,
// --benchmark_counters_tabular decide it), so JSON and CSV on stdout are exactly the library's, and
// --benchmark_out files are written by the library alone: compare.py and other tools read both.
// It records each run's bytes/s and counters; when the display format is the console table it then
// calls the benchmark's summary function, which prints ratios to same-run baselines.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdarg>
#include <cstdio>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace kvscale {
namespace bench {

// Results by run name ("BM_quantize/4096/real_time"): the median aggregate when repetitions
// produced one, else the last iteration run. Failed runs are left out.
class Results {
 public:
  void record(const benchmark::BenchmarkReporter::Run& r) {
    if (r.error_occurred) return;
    const bool median = r.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate && r.aggregate_name == "median";
    if (r.run_type != benchmark::BenchmarkReporter::Run::RT_Iteration && !median) return;
    const std::string name = r.run_name.str();
    if (!median && medians_.count(name)) return;
    if (median) medians_.insert(name);
    auto& c = counters_[name];
    c.clear();
    for (const auto& kv : r.counters) c[kv.first] = kv.second.value;
  }
  /// Counter `key` of run `name` (bytes_per_second is one), or 0 when the run or counter is missing.
  double counter(const std::string& name, const std::string& key) const {
    auto it = counters_.find(name);
    if (it == counters_.end()) return 0.0;
    auto c = it->second.find(key);
    return c == it->second.end() ? 0.0 : c->second;
  }
  double rate(const std::string& name) const { return counter(name, "bytes_per_second"); }
  /// Run names in name order.
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& kv : counters_) v.push_back(kv.first);
    return v;
  }

 private:
  std::map<std::string, std::map<std::string, double>> counters_;
  std::set<std::string> medians_;
};

// "1.23x" for a / b, "-" when either is missing (0 or negative).
inline std::string ratio(double a, double b) {
  if (a <= 0 || b <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", a / b);
  return buf;
}

// printf into a stream (the summary tables are fixed-width columns).
inline void print(std::ostream& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void print(std::ostream& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.write(buf, n < static_cast<int>(sizeof buf) ? n : static_cast<int>(sizeof buf) - 1);
}

using Summary = std::function<void(const Results&, std::ostream&)>;

class RatioReporter : public benchmark::BenchmarkReporter {
 public:
  explicit RatioReporter(Summary summary)
      : display_(benchmark::CreateDefaultDisplayReporter()), summary_(std::move(summary)) {}
  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    display_->ReportRuns(runs);
    for (const Run& r : runs) results_.record(r);
  }
  void Finalize() override {
    display_->Finalize();
    if (dynamic_cast<benchmark::ConsoleReporter*>(display_) == nullptr) return;  // JSON, CSV: untouched
    display_->GetOutputStream() << "\n";
    summary_(results_, display_->GetOutputStream());
    display_->GetOutputStream().flush();
  }

 private:
  benchmark::BenchmarkReporter* display_;  // the library's static default reporter; not ours to delete
  Summary summary_;
  Results results_;
};

/// Runs the benchmarks that the command-line flags select, with `summary` after a console table.
inline std::size_t run_with_summary(Summary summary) {
  RatioReporter reporter(std::move(summary));
  return benchmark::RunSpecifiedBenchmarks(&reporter);
}

}  // namespace bench
}  // namespace kvscale
