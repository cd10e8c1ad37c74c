// The malformed-safetensors corpus: every row of tests/data/malformed-safetensors/expected.tsv is one
// test. Each file goes through SafetensorsFile::open (the positioned-read path) and, when its
// length prefix is sane, through parse_safetensors_header from memory; both must agree. A rejected
// file's FIRST diagnostic must have the expected code (and pointer, where given); an accepted one
// must have no diagnostic and the expected tensor count. Under the asan preset this is also the
// reader's memory-safety test over hostile headers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kvscale/scales.hpp"
#include "safetensors.hpp"
#include "sink.hpp"

namespace {

using kvscale::Diagnostic;
using kvscale::LoadLimits;
using kvscale::loader::Sink;

const std::string kDir = std::string(KVSCALE_TEST_DATA_DIR) + "/malformed-safetensors";

struct Row {
  std::string file, expect, pointer, limits, tensors, note;
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    std::stringstream ss(expect);
    for (std::string c; std::getline(ss, c, '|');) out.push_back(c);
    return out;
  }
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.file; }

std::vector<Row> read_rows() {
  std::vector<Row> rows;
  std::ifstream in(kDir + "/expected.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("file\t", 0) == 0) continue;
    std::vector<std::string> c;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, '\t');) c.push_back(f);
    c.resize(6, "-");
    rows.push_back({c[0], c[1], c[2], c[3], c[4], c[5]});
  }
  return rows;
}

LoadLimits limits_for(const Row& row) {
  LoadLimits lim;
  if (row.limits == "-") return lim;
  std::stringstream ss(row.limits);
  for (std::string kv; std::getline(ss, kv, ',');) {
    const std::size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq);
    const std::string v = kv.substr(eq + 1);
    if (k == "max_tensors")
      lim.max_tensors = std::stoll(v);
    else if (k == "max_header_bytes")
      lim.max_header_bytes = std::stoull(v);
    else if (k == "max_depth")
      lim.max_depth = std::stoi(v);
    else
      ADD_FAILURE() << "expected.tsv: unknown limit " << k;
  }
  return lim;
}

std::string read_bytes(const std::string& path) {
  std::string out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const Diagnostic& d : ds) s += "\n  " + kvscale::format_diagnostic(d);
  return s.empty() ? std::string("\n  (no diagnostics)") : s;
}

std::vector<std::string> names(const std::vector<Diagnostic>& ds) {
  std::vector<std::string> out;
  for (const Diagnostic& d : ds) out.emplace_back(kvscale::diag_code_name(d.code));
  return out;
}

class SafetensorsCorpus : public ::testing::TestWithParam<Row> {};

TEST_P(SafetensorsCorpus, File) {
  const Row& row = GetParam();
  const LoadLimits lim = limits_for(row);
  const std::string path = kDir + "/" + row.file;
  const std::string bytes = read_bytes(path);
  ASSERT_LT(bytes.size(), 4096u) << "corpus files stay small";

  kvscale::loader::SafetensorsFile f;
  Sink sink(lim.max_diagnostics);
  const bool ok = f.open(
      path, row.file, lim, [](std::string_view) { return true; }, sink);
  const std::vector<Diagnostic>& ds = sink.diags();
  SCOPED_TRACE(row.file + " (" + row.note + ")" + dump(ds));

  EXPECT_LE(ds.size(), lim.max_diagnostics + 1);
  for (const Diagnostic& d : ds) {
    EXPECT_EQ(d.file, row.file);
    EXPECT_FALSE(d.message.empty());
    EXPECT_EQ(d.message.find_first_of("\r\n"), std::string::npos);
    EXPECT_TRUE(d.pointer.empty() || d.pointer[0] == '/') << d.pointer;
    EXPECT_NE(d.message.find("expected"), std::string::npos) << d.message;
  }

  if (row.expect == "ok") {
    EXPECT_TRUE(ok);
    EXPECT_TRUE(ds.empty());
    if (row.tensors != "-") {
      EXPECT_EQ(f.header().tensor_count, std::stoll(row.tensors));
    }
    EXPECT_EQ(f.header().kept.size(), static_cast<std::size_t>(f.header().tensor_count));
    for (const auto& t : f.header().kept) {
      if (t.end - t.begin > kvscale::loader::kMaxScaleTensorBytes) continue;
      std::vector<std::uint8_t> data;
      EXPECT_TRUE(f.read_tensor(t, &data, sink)) << t.name;
      EXPECT_EQ(data.size(), t.end - t.begin);
    }
  } else {
    EXPECT_FALSE(ok);
    ASSERT_FALSE(ds.empty());
    const std::vector<std::string> want = row.codes();
    const std::string first = kvscale::diag_code_name(ds[0].code);
    EXPECT_TRUE(std::count(want.begin(), want.end(), first) > 0)
        << "expected " << row.expect << " first, found " << first;
    if (row.pointer != "-") {
      EXPECT_EQ(ds[0].pointer, row.pointer == "<root>" ? std::string() : row.pointer);
    }
    EXPECT_TRUE(f.header().kept.empty());
  }

  // From memory, where the prefix gives a header inside the file: the same codes.
  if (bytes.size() >= 8) {
    Sink mem(lim.max_diagnostics);
    std::uint64_t n = 0;
    if (kvscale::loader::check_safetensors_prefix(std::string_view(bytes).substr(0, 8), bytes.size(), lim, mem, &n)) {
      kvscale::loader::StHeader h;
      kvscale::loader::parse_safetensors_header(std::string_view(bytes).substr(8, n), bytes.size() - 8 - n, lim,
                                                nullptr, mem, &h);
      EXPECT_TRUE(h.kept.empty()) << "keep is empty: nothing is kept";
    }
    EXPECT_EQ(names(mem.diags()), names(ds)) << "from memory:" << dump(mem.diags());
  }
}

std::string test_name(const ::testing::TestParamInfo<Row>& info) {
  std::string n = info.param.file;
  const std::string ext = ".safetensors";
  if (n.size() > ext.size() && n.compare(n.size() - ext.size(), ext.size(), ext) == 0) n.resize(n.size() - ext.size());
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Files, SafetensorsCorpus, ::testing::ValuesIn(read_rows()), test_name);

TEST(SafetensorsCorpusMeta, CoversEveryRule) {
  const std::vector<Row> rows = read_rows();
  ASSERT_GE(rows.size(), 60u);
  for (const char* code :
       {"ok", "safetensors_header_invalid", "safetensors_metadata_invalid", "safetensors_tensor_invalid",
        "safetensors_offsets_invalid", "too_many_tensors", "duplicate_key", "nan_or_infinity", "utf8_bom",
        "invalid_utf8", "nesting_too_deep", "trailing_data", "syntax_error"}) {
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.expect == code; })) << code;
  }
  // Every file in the folder has a row (and so is tested).
  for (const Row& r : rows) {
    std::FILE* f = std::fopen((kDir + "/" + r.file).c_str(), "rb");
    EXPECT_NE(f, nullptr) << r.file;
    if (f) std::fclose(f);
  }
}

}  // namespace
