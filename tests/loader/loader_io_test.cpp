// load_scales_file: the I/O diagnostics, the size limit before reading, and the throwing helper.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/temp_dir.hpp"
#include "kvscale/scales.hpp"

namespace {

using kvscale::DiagCode;

using kvscale::test::TempDir;

const char kValid[] =
    "{\"model_type\": \"llama\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {\"0\": {\"0\": "
    "0.5}}}}";

void expect_one(const kvscale::LoadResult& r, DiagCode code, const std::string& msg) {
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_STREQ(kvscale::diag_code_name(r.diagnostics[0].code), kvscale::diag_code_name(code));
  EXPECT_EQ(r.diagnostics[0].pointer, "");
  EXPECT_EQ(r.diagnostics[0].message, msg);
  EXPECT_TRUE(r.table.empty());
}

TEST(LoaderIo, ValidFile) {
  TempDir t;
  const auto r = kvscale::load_scales_file(t.file("s.json", kValid));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.table.scale(0, 0), 0.5f);
}

TEST(LoaderIo, MissingFile) {
  TempDir t;
  expect_one(kvscale::load_scales_file(t.path() + "/nope.json"), DiagCode::file_not_found,
             "expected a file, found nothing at this path");
  expect_one(kvscale::load_scales_file(t.file("f", kValid) + "/x"), DiagCode::file_not_found,
             "expected a file, found nothing at this path");
}

TEST(LoaderIo, Directory) {
  TempDir t;
  expect_one(kvscale::load_scales_file(t.path()), DiagCode::not_a_regular_file,
             "expected a regular file, found a directory");
}

TEST(LoaderIo, FifoIsRefusedWithoutBlocking) {
  TempDir t;
  const std::string p = t.path() + "/fifo";
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  expect_one(kvscale::load_scales_file(p), DiagCode::not_a_regular_file, "expected a regular file, found a FIFO");
  expect_one(kvscale::load_scales_file("/dev/null"), DiagCode::not_a_regular_file,
             "expected a regular file, found a character device");
}

TEST(LoaderIo, PermissionDenied) {
  TempDir t;
  const std::string p = t.file("secret.json", kValid);
  ASSERT_EQ(::chmod(p.c_str(), 0), 0);
  if (::geteuid() != 0) {
    expect_one(kvscale::load_scales_file(p), DiagCode::permission_denied,
               "expected read permission, found access denied");
    return;
  }
  // Root reads mode-000 files, so check in a child that drops to an unprivileged user.
  ASSERT_EQ(::chmod(t.path().c_str(), 0755), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const auto r = kvscale::load_scales_file(p);
    const bool good = r.diagnostics.size() == 1 && r.diagnostics[0].code == DiagCode::permission_denied &&
                      r.diagnostics[0].message == "expected read permission, found access denied";
    ::_exit(good ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_NE(WEXITSTATUS(status), 3) << "running as root, the child could not drop to uid 65534 to test EACCES "
                                       "(the test needs CAP_SETUID/CAP_SETGID)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "permission_denied not reported for a mode-000 file read by uid 65534";
}

TEST(LoaderIo, HugeSparseFileRefusedBySize) {
  TempDir t;
  const std::string p = t.path() + "/huge.json";
  const int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 100 * 1024 * 1024), 0);
  ::close(fd);
  // The reported size (exact) comes from stat: the file is refused before any byte is read.
  expect_one(kvscale::load_scales_file(p), DiagCode::file_too_large,
             "expected at most 16777216 bytes, found 104857600 bytes");
  // Exactly at the limit is allowed by size (and then fails as JSON: NUL bytes are not JSON).
  const std::string q = t.path() + "/limit.json";
  const int fd2 = ::open(q.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_EQ(::ftruncate(fd2, 16 * 1024 * 1024), 0);
  ::close(fd2);
  const auto r = kvscale::load_scales_file(q);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::syntax_error);
}

TEST(LoaderIo, LoweredSizeLimit) {
  TempDir t;
  kvscale::LoadOptions o;
  o.limits.max_file_bytes = 20;
  expect_one(kvscale::load_scales_file(t.file("s.json", kValid), o), DiagCode::file_too_large,
             "expected at most 20 bytes, found " + std::to_string(sizeof(kValid) - 1) + " bytes");
}

TEST(LoaderIo, EmptyFile) {
  TempDir t;
  expect_one(kvscale::load_scales_file(t.file("e.json", "")), DiagCode::syntax_error,
             "expected a JSON object, found an empty file");
}

TEST(LoaderIo, NanTokensInAFileKeepTheirText) {
  TempDir t;
  const std::string text =
      "{\"model_type\": \"llama\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {\"0\": {\"0\": "
      "NaN}}}}";
  const auto r = kvscale::load_scales_file(t.file("n.json", text));
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::nan_or_infinity);
  EXPECT_EQ(r.diagnostics[0].pointer, "/kv_cache/scaling_factor/0/0");
  EXPECT_EQ(r.diagnostics[0].message, "expected a JSON number, found the non-standard token NaN at byte " +
                                          std::to_string(text.find("NaN")) +
                                          " (hint: JSON has no NaN or Infinity; write a finite scale > 0)");
}

TEST(LoaderIo, FallbackAlsoOnIoErrors) {
  kvscale::LoadOptions o;
  o.context = kvscale::LoadContext{1, 0, 2, std::nullopt};
  o.on_failure = kvscale::FailurePolicy::unit_fallback;
  const auto r = kvscale::load_scales_file("/nonexistent/kv.json", o);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::file_not_found);
  EXPECT_TRUE(r.used_fallback);
  EXPECT_EQ(r.table.num_layers(), 2);
  EXPECT_EQ(r.table.scale(0, 1), 1.0f);
}

TEST(LoaderIo, OrThrow) {
  TempDir t;
  const std::string p = t.file("s.json", kValid);
  const auto table = kvscale::load_scales_file_or_throw(p, kvscale::LoadContext{1, 0, 1, std::string("llama")});
  EXPECT_EQ(table.scale(0, 0), 0.5f);
  try {
    (void)kvscale::load_scales_file_or_throw(p, kvscale::LoadContext{2, 0, 1, std::nullopt});
    FAIL() << "expected LoadError";
  } catch (const kvscale::LoadError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].code, DiagCode::rank_missing);
    EXPECT_STREQ(e.what(),
                 "kv_cache_scales rejected: /kv_cache/scaling_factor: rank_missing: expected rank \"1\" (ranks 0..1), "
                 "found no such key");
  }
}

}  // namespace
