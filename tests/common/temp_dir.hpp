// Tests: a temporary directory, removed with its contents. One definition for every test area.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace kvscale {
namespace test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kvscale_test_XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    path_ = d ? d : "";
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path_ + "'";
    if (!path_.empty()) (void)std::system(cmd.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Writes `content` to `name` in the directory and returns its path.
  std::string file(const std::string& name, const std::string& content) const {
    const std::string p = path_ + "/" + name;
    FILE* f = std::fopen(p.c_str(), "wb");
    if (f) {
      std::fwrite(content.data(), 1, content.size(), f);
      std::fclose(f);
    }
    return p;
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace test
}  // namespace kvscale
