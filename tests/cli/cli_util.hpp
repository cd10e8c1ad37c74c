// Shared by the CLI tests: runs the real kvscale binary (KVSCALE_CLI_PATH) and reads fixtures.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string kCli = KVSCALE_CLI_PATH;
const std::string kData = KVSCALE_TEST_DATA_DIR;
const std::string k7b = kData + "/vllm/llama2-7b-fp8-kv/kv_cache_scales.json";
const std::string k70b = kData + "/vllm/llama2-70b-fp8-kv/kv_cache_scales.json";

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout (and stderr when merged)
};

std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs `kvscale ARGS`; stderr goes to /dev/null unless merge_stderr.
CliRun run(const std::string& args, bool merge_stderr = false) {
  CliRun r;
  const std::string cmd = sh_quote(kCli) + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kvscale_cli_XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    path_ = d ? d : "";
  }
  ~TempDir() {
    if (!path_.empty()) (void)std::system(("rm -rf " + sh_quote(path_)).c_str());
  }
  std::string file(const std::string& name, const std::string& content) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// float32 values of a single-rank fixture, computed from its text: decimal -> double -> float.
std::vector<float> fixture_values(const std::string& path) {
  const std::string text = read_file(path);
  const std::regex entry("\"([0-9]+)\"\\s*:\\s*([-+0-9.eE]+)");
  std::vector<float> v;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), entry); it != std::sregex_iterator(); ++it) {
    const auto layer = static_cast<std::size_t>(std::stoi((*it)[1]));
    if (v.size() <= layer) v.resize(layer + 1);
    v[layer] = static_cast<float>(std::strtod((*it)[2].str().c_str(), nullptr));
  }
  return v;
}

}  // namespace
