// H6 at full size: a valid scales file of exactly 16 MiB (the limit) is accepted, and the peak RSS
// of loading it, measured in a forked child, stays within 4x the file size; a file one byte over
// the limit (and a sparse 1 TiB one) is refused as file_too_large without being read.
// The files are created in a temp dir at test time; none of them is committed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "kvscale/scales.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define KVSCALE_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVSCALE_TEST_ASAN 1
#endif
#endif

namespace {

constexpr std::uint64_t kLimit = 16u << 20;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kvscale-limits-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A valid file of exactly `target` bytes: `ranks` x `layers` scales, the numbers padded with
// trailing zeros (which do not change their value) to reach the size.
std::string valid_file_of_size(int ranks, int layers, std::uint64_t target) {
  const std::string head = R"({"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {)";
  const std::string tail = "}}}";
  const std::string number = "0.0152239128947258";
  std::uint64_t base = head.size() + tail.size();
  for (int r = 0; r < ranks; ++r) {
    base += std::to_string(r).size() + 5 + (r ? 1 : 0);  // "r":{ } and a comma
    for (int l = 0; l < layers; ++l) base += std::to_string(l).size() + 3 + number.size() + (l ? 1 : 0);
  }
  if (base > target) return {};
  const std::uint64_t n = static_cast<std::uint64_t>(ranks) * static_cast<std::uint64_t>(layers);
  const std::uint64_t extra = target - base, each = extra / n, rest = extra % n;
  std::string s;
  s.reserve(target);
  s += head;
  std::uint64_t k = 0;
  for (int r = 0; r < ranks; ++r) {
    s += (r ? ",\"" : "\"") + std::to_string(r) + "\":{";
    for (int l = 0; l < layers; ++l, ++k) {
      s += (l ? ",\"" : "\"") + std::to_string(l) + "\":" + number;
      s.append(each + (k < rest ? 1 : 0), '0');
    }
    s += "}";
  }
  s += tail;
  return s;
}

std::uint64_t vm_hwm_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

struct ChildLoad {
  bool finished = false;
  bool ok = false;
  bool only_too_large = false;
  std::uint64_t hwm_delta_kib = 0;  // VmHWM after the load minus VmHWM right after fork
  long ru_maxrss_kib = 0;           // getrusage(RUSAGE_CHILDREN) in the parent, for the record
  double seconds = 0;
};

// Loads `path` in a forked child (20 s alarm), so that its peak RSS is its own.
ChildLoad load_in_child(const std::string& path, const kvscale::LoadOptions& opts) {
  ChildLoad out;
  int fds[2];
  if (pipe(fds) != 0) return out;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(20);
    const std::uint64_t before = vm_hwm_kib();
    const auto t0 = std::chrono::steady_clock::now();
    const kvscale::LoadResult r = kvscale::load_scales_file(path, opts);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::uint64_t after = vm_hwm_kib();
    const bool too_large = r.diagnostics.size() == 1 && r.diagnostics[0].code == kvscale::DiagCode::file_too_large;
    char buf[256];
    const int len = std::snprintf(buf, sizeof buf, "%d %d %llu %.6f", r.ok() ? 1 : 0, too_large ? 1 : 0,
                                  static_cast<unsigned long long>(after - before), secs);
    if (len <= 0 || write(fds[1], buf, static_cast<std::size_t>(len)) < 0) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  char buf[256] = {};
  const ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  out.ru_maxrss_kib = ru.ru_maxrss;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0) return out;
  int ok = 0, too_large = 0;
  unsigned long long delta = 0;
  if (std::sscanf(buf, "%d %d %llu %lf", &ok, &too_large, &delta, &out.seconds) != 4) return out;
  out.finished = true;
  out.ok = ok != 0;
  out.only_too_large = too_large != 0;
  out.hwm_delta_kib = delta;
  return out;
}

void check_peak_rss(const char* what, int ranks, int layers) {
  TempDir dir;
  const std::string path = dir.file("kv_cache_scales.json");
  {
    const std::string bytes = valid_file_of_size(ranks, layers, kLimit);
    ASSERT_EQ(bytes.size(), kLimit) << "the generator cannot reach 16 MiB with this shape";
    std::ofstream(path, std::ios::binary) << bytes;
  }  // freed before the fork: the child's baseline does not include it
  ASSERT_EQ(std::filesystem::file_size(path), kLimit);
  kvscale::LoadOptions opts;
  opts.context = kvscale::LoadContext{ranks, 0, layers, std::string("llama")};
  const ChildLoad c = load_in_child(path, opts);
  ASSERT_TRUE(c.finished) << "the child crashed or hung";
  EXPECT_TRUE(c.ok) << "a valid file of exactly max_file_bytes must be accepted";
  const double ratio = static_cast<double>(c.hwm_delta_kib) * 1024.0 / static_cast<double>(kLimit);
  std::printf(
      "[ peak RSS ] %s: 16 MiB file (%d ranks x %d layers): +%.1f MiB over the baseline (%.2fx the file), "
      "child ru_maxrss %.1f MiB, load %.2f s\n",
      what, ranks, layers, static_cast<double>(c.hwm_delta_kib) / 1024.0, ratio,
      static_cast<double>(c.ru_maxrss_kib) / 1024.0, c.seconds);
  ::testing::Test::RecordProperty(std::string(what) + "_peak_rss_delta_kib", std::to_string(c.hwm_delta_kib));
#ifdef KVSCALE_TEST_ASAN
  std::printf("[ peak RSS ] not checked under AddressSanitizer (shadow memory and quarantine)\n");
#else
  EXPECT_LE(ratio, 4.0) << "loading a 16 MiB file should not take more than 4x its size";
#endif
}

TEST(Limits, PeakRssManyScales) { check_peak_rss("many_scales", 64, 8192); }  // 524288 scales
TEST(Limits, PeakRssLongNumbers) { check_peak_rss("long_numbers", 2, 512); }  // ~16 kB per number

TEST(Limits, OneByteOverIsRefusedUnread) {
  TempDir dir;
  for (const std::uint64_t size : {kLimit + 1, std::uint64_t{1} << 40}) {
    const std::string path = dir.file("big-" + std::to_string(size) + ".json");
    const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    // Sparse: the bytes are zeros, so a loader that read them would also report a syntax error
    // (and take minutes over 1 TiB, which the child's alarm turns into a failure).
    const bool sized = ftruncate(fd, static_cast<off_t>(size)) == 0;
    close(fd);
    if (!sized) continue;  // a filesystem without sparse files of this size
    const ChildLoad c = load_in_child(path, {});
    ASSERT_TRUE(c.finished) << size << " bytes: the child crashed or hung (read the file?)";
    EXPECT_FALSE(c.ok);
    EXPECT_TRUE(c.only_too_large) << size << " bytes: expected exactly one diagnostic, file_too_large";
    EXPECT_LT(c.seconds, 1.0) << size << " bytes: refusing should not take " << c.seconds << " s";
    EXPECT_LT(c.hwm_delta_kib, 8u * 1024u) << size << " bytes: refusing should not allocate the file's size";
  }
}

}  // namespace
