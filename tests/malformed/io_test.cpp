// The loader's I/O edge cases: missing files, directories, devices and FIFOs (which must be refused
// without blocking or reading forever), the size limit at the byte, symlinks. Each load that could
// hang runs in a child process with an alarm, so that a hang is a failure and not a stuck ctest.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "kvscale/scales.hpp"

namespace {

using kvscale::DiagCode;
using kvscale::LoadResult;

const char kValid[] =
    R"({"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {"0": {"0": 0.5}}}})";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kvscale-io-XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (d != nullptr) path_ = d;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

 private:
  std::string path_;
};

bool has_code(const LoadResult& r, DiagCode c) {
  return std::any_of(r.diagnostics.begin(), r.diagnostics.end(),
                     [&](const kvscale::Diagnostic& d) { return d.code == c; });
}

std::string dump(const LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += "\n  " + kvscale::format_diagnostic(d);
  return s;
}

// Loads `path` in a child with a 20 s alarm. Returns "hang", "crash", "ok" or the first code's name.
std::string load_in_child(const std::string& path) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(20);
    const LoadResult r = kvscale::load_scales_file(path);
    const std::string out = r.ok() ? std::string("ok") : kvscale::diag_code_name(r.diagnostics.front().code);
    if (write(fds[1], out.data(), out.size()) < 0) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  char buf[128] = {};
  const ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGALRM ? "hang" : "crash";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0) return "crash";
  return std::string(buf, static_cast<std::size_t>(n));
}

TEST(LoaderIo, FileNotFound) {
  const LoadResult r = kvscale::load_scales_file("/nonexistent/kvscale/kv_cache_scales.json");
  EXPECT_TRUE(has_code(r, DiagCode::file_not_found)) << dump(r);
  EXPECT_TRUE(r.table.empty());
  const LoadResult e = kvscale::load_scales_file("");
  EXPECT_FALSE(e.ok());
}

TEST(LoaderIo, Directory) {
  TempDir t;
  ASSERT_FALSE(t.path().empty());
  EXPECT_EQ(load_in_child(t.path()), "not_a_regular_file");
}

TEST(LoaderIo, CharacterDeviceIsNotReadForever) {
  // /dev/zero never ends and /dev/urandom is not JSON: both must be refused before reading.
  EXPECT_EQ(load_in_child("/dev/zero"), "not_a_regular_file");
  EXPECT_EQ(load_in_child("/dev/null"), "not_a_regular_file");
}

TEST(LoaderIo, FifoDoesNotBlock) {
  TempDir t;
  const std::string fifo = t.path() + "/fifo.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // A loader that opens before checking blocks in open() until a writer appears: the alarm says so.
  EXPECT_EQ(load_in_child(fifo), "not_a_regular_file");
}

TEST(LoaderIo, SymlinkToDevice) {
  TempDir t;
  const std::string link = t.path() + "/scales.json";
  ASSERT_EQ(symlink("/dev/zero", link.c_str()), 0);
  EXPECT_EQ(load_in_child(link), "not_a_regular_file");
}

TEST(LoaderIo, SymlinkToFileIsFollowed) {
  TempDir t;
  const std::string target = t.write("real.json", kValid);
  const std::string link = t.path() + "/link.json";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  const LoadResult r = kvscale::load_scales_file(link);
  EXPECT_TRUE(r.ok()) << dump(r);
}

TEST(LoaderIo, EmptyFile) {
  TempDir t;
  const LoadResult r = kvscale::load_scales_file(t.write("empty.json", ""));
  EXPECT_TRUE(has_code(r, DiagCode::syntax_error)) << dump(r);
}

// Permission denied is covered by tests/loader/loader_io_test.cpp, which drops to an
// unprivileged user in a child process because tests run as root.

TEST(LoaderIo, SizeLimitAtTheByte) {
  TempDir t;
  const std::string valid = kValid;
  const std::string p = t.write("scales.json", valid);
  kvscale::LoadOptions o;
  o.limits.max_file_bytes = valid.size();
  const LoadResult at = kvscale::load_scales_file(p, o);
  EXPECT_TRUE(at.ok()) << dump(at);
  o.limits.max_file_bytes = valid.size() - 1;
  const LoadResult over = kvscale::load_scales_file(p, o);
  EXPECT_TRUE(has_code(over, DiagCode::file_too_large)) << dump(over);
  EXPECT_EQ(over.diagnostics.size(), 1u) << "refused before reading: nothing else can be known" << dump(over);
}

}  // namespace
