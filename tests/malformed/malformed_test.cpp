// The malformed-scales corpus: every row of tests/data/malformed/expected.tsv is one test. A rejected
// file must carry its expected code (and pointer, where given) and yield no table; an accepted one
// must give the expected float32 bits. Every file is loaded from disk and from memory, under both
// failure policies, and every diagnostic must be printable on one line. Under the asan preset this
// is also the loader's memory-safety test over hostile input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kvscale/scales.hpp"

namespace {

using kvscale::DiagCode;
using kvscale::Diagnostic;
using kvscale::LoadOptions;
using kvscale::LoadResult;

const std::string kDir = std::string(KVSCALE_TEST_DATA_DIR) + "/malformed";

// The catalogue of scales.hpp, spelled out: the corpus matches on these names.
struct NamedCode {
  DiagCode code;
  const char* name;
};
const NamedCode kCodes[] = {
    {DiagCode::file_not_found, "file_not_found"},
    {DiagCode::not_a_regular_file, "not_a_regular_file"},
    {DiagCode::permission_denied, "permission_denied"},
    {DiagCode::read_error, "read_error"},
    {DiagCode::file_too_large, "file_too_large"},
    {DiagCode::nesting_too_deep, "nesting_too_deep"},
    {DiagCode::utf8_bom, "utf8_bom"},
    {DiagCode::invalid_utf8, "invalid_utf8"},
    {DiagCode::trailing_data, "trailing_data"},
    {DiagCode::syntax_error, "syntax_error"},
    {DiagCode::not_an_object, "not_an_object"},
    {DiagCode::nan_or_infinity, "nan_or_infinity"},
    {DiagCode::missing_key, "missing_key"},
    {DiagCode::wrong_type, "wrong_type"},
    {DiagCode::dtype_mismatch, "dtype_mismatch"},
    {DiagCode::rank_missing, "rank_missing"},
    {DiagCode::rank_unexpected, "rank_unexpected"},
    {DiagCode::layer_missing, "layer_missing"},
    {DiagCode::layer_unexpected, "layer_unexpected"},
    {DiagCode::tp_rank_out_of_range, "tp_rank_out_of_range"},
    {DiagCode::model_type_mismatch, "model_type_mismatch"},
    {DiagCode::key_not_canonical, "key_not_canonical"},
    {DiagCode::duplicate_key, "duplicate_key"},
    {DiagCode::scale_not_number, "scale_not_number"},
    {DiagCode::scale_out_of_range, "scale_out_of_range"},
    {DiagCode::too_many_ranks, "too_many_ranks"},
    {DiagCode::too_many_layers, "too_many_layers"},
    {DiagCode::invalid_context, "invalid_context"},
    {DiagCode::out_of_memory, "out_of_memory"},
    {DiagCode::too_many_diagnostics, "too_many_diagnostics"},
};

bool known_code_name(const std::string& name) {
  return std::any_of(std::begin(kCodes), std::end(kCodes), [&](const NamedCode& c) { return name == c.name; });
}

struct Row {
  std::string file, expect, tp_size, tp_rank, num_layers, model_type, pointer, scale0, note;
  bool has_context() const { return tp_size != "-"; }
  std::vector<std::string> codes() const {  // "a|b" -> {a, b}
    std::vector<std::string> out;
    std::stringstream ss(expect);
    for (std::string c; std::getline(ss, c, '|');) out.push_back(c);
    return out;
  }
};

// gtest prints a failing parameter with this (instead of its bytes).
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
    c.resize(9, "-");
    rows.push_back({c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]});
  }
  return rows;
}

std::string read_bytes(const std::string& path) {
  std::string out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

std::string dump(const LoadResult& r) {
  std::string s;
  for (const Diagnostic& d : r.diagnostics) s += "\n  " + kvscale::format_diagnostic(d);
  return s.empty() ? std::string("\n  (no diagnostics)") : s;
}

std::vector<std::string> code_names(const LoadResult& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.diagnostics) out.emplace_back(kvscale::diag_code_name(d.code));
  return out;
}

LoadOptions options_for(const Row& row) {
  LoadOptions o;
  if (row.has_context()) {
    kvscale::LoadContext ctx;
    ctx.tp_size = std::stoi(row.tp_size);
    ctx.tp_rank = std::stoi(row.tp_rank);
    ctx.num_hidden_layers = std::stoi(row.num_layers);
    if (row.model_type != "-") ctx.model_type = row.model_type;
    o.context = ctx;
  }
  return o;
}

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Properties every result must have, accepted or not.
// The cap: max_diagnostics problems, plus the too_many_diagnostics marker that says the list was cut.
void check_common(const Row& row, const LoadResult& r, const LoadOptions& o) {
  EXPECT_LE(r.diagnostics.size(), o.limits.max_diagnostics + 1) << row.file;
  for (const Diagnostic& d : r.diagnostics) {
    const char* name = kvscale::diag_code_name(d.code);
    ASSERT_NE(name, nullptr);
    EXPECT_TRUE(known_code_name(name)) << row.file << ": unknown code " << static_cast<int>(d.code);
    EXPECT_FALSE(d.message.empty()) << row.file << ": " << name;
    EXPECT_EQ(d.message.find_first_of("\r\n"), std::string::npos) << row.file << ": multi-line message " << d.message;
    EXPECT_TRUE(d.pointer.empty() || d.pointer[0] == '/') << row.file << ": pointer '" << d.pointer << "'";
    const std::string line = kvscale::format_diagnostic(d);
    EXPECT_NE(line.find(name), std::string::npos) << row.file << ": " << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << row.file << ": " << line;
  }
}

class Corpus : public ::testing::TestWithParam<Row> {};

TEST_P(Corpus, File) {
  const Row& row = GetParam();
  for (const std::string& c : row.codes()) {
    if (c != "ok") {
      ASSERT_TRUE(known_code_name(c)) << "expected.tsv names an unknown code: " << c;
    }
  }
  const std::string path = kDir + "/" + row.file;
  const LoadOptions opts = options_for(row);
  const LoadResult r = kvscale::load_scales_file(path, opts);
  SCOPED_TRACE(row.file + " (" + row.note + ")" + dump(r));
  check_common(row, r, opts);
  EXPECT_FALSE(r.used_fallback);

  if (row.expect == "ok") {
    ASSERT_TRUE(r.ok());
    ASSERT_FALSE(r.table.empty());
    if (row.has_context()) {
      EXPECT_EQ(r.table.tp_size(), opts.context->tp_size);
      EXPECT_EQ(r.table.num_layers(), opts.context->num_hidden_layers);
    }
    for (int rank = 0; rank < r.table.tp_size(); ++rank) {
      for (int layer = 0; layer < r.table.num_layers(); ++layer) {
        const float s = r.table.scale(rank, layer);
        EXPECT_TRUE(std::isfinite(s) && s > 0.0f) << "rank " << rank << " layer " << layer << ": " << s;
      }
    }
    if (row.scale0 != "-") {
      EXPECT_EQ(bits(r.table.scale(0, 0)), static_cast<std::uint32_t>(std::stoul(row.scale0, nullptr, 16)))
          << "scale(0, 0) = " << r.table.scale(0, 0);
    }
  } else {
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.table.empty()) << "a rejected file must not yield a table (FailurePolicy::error)";
    const std::vector<std::string> got = code_names(r);
    const std::vector<std::string> want = row.codes();
    const bool found = std::any_of(want.begin(), want.end(),
                                   [&](const std::string& w) { return std::count(got.begin(), got.end(), w) > 0; });
    EXPECT_TRUE(found) << "expected " << row.expect;
    if (row.pointer != "-") {
      const std::string ptr = row.pointer == "<root>" ? std::string() : row.pointer;
      const bool at = std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [&](const Diagnostic& d) {
        return d.pointer == ptr && std::count(want.begin(), want.end(), kvscale::diag_code_name(d.code)) > 0;
      });
      EXPECT_TRUE(at) << "expected " << row.expect << " at pointer '" << ptr << "'";
    }
  }

  // The same bytes from memory: the same verdict and the same codes (there is no I/O here).
  const LoadResult m = kvscale::load_scales_json(read_bytes(path), opts);
  check_common(row, m, opts);
  EXPECT_EQ(code_names(m), code_names(r)) << "load_scales_json disagrees with load_scales_file:" << dump(m);
  if (r.ok() && m.ok()) {
    ASSERT_EQ(m.table.tp_size(), r.table.tp_size());
    ASSERT_EQ(m.table.num_layers(), r.table.num_layers());
    for (int rank = 0; rank < r.table.tp_size(); ++rank) {
      for (int layer = 0; layer < r.table.num_layers(); ++layer) {
        EXPECT_EQ(bits(m.table.scale(rank, layer)), bits(r.table.scale(rank, layer)));
      }
    }
  }

  // vLLM's fallback, where the context is a sane one: every scale 1.0 and the diagnostics kept.
  if (row.expect != "ok" && row.has_context()) {
    const kvscale::LoadContext& ctx = *opts.context;
    if (ctx.tp_size >= 1 && ctx.tp_size <= 64 && ctx.tp_rank >= 0 && ctx.tp_rank < ctx.tp_size &&
        ctx.num_hidden_layers >= 1 && ctx.num_hidden_layers <= 1024) {
      LoadOptions fb = opts;
      fb.on_failure = kvscale::FailurePolicy::unit_fallback;
      const LoadResult f = kvscale::load_scales_file(path, fb);
      EXPECT_FALSE(f.ok());
      EXPECT_TRUE(f.used_fallback);
      EXPECT_EQ(code_names(f), code_names(r));
      ASSERT_EQ(f.table.tp_size(), ctx.tp_size);
      ASSERT_EQ(f.table.num_layers(), ctx.num_hidden_layers);
      for (int rank = 0; rank < ctx.tp_size; ++rank) {
        for (int layer = 0; layer < ctx.num_hidden_layers; ++layer) EXPECT_EQ(f.table.scale(rank, layer), 1.0f);
      }
    }
  }
}

std::string test_name(const ::testing::TestParamInfo<Row>& info) {
  std::string n = info.param.file;
  if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) n.resize(n.size() - 5);
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Malformed, Corpus, ::testing::ValuesIn(read_rows()), test_name);

TEST(MalformedCorpus, TableIsComplete) {
  const std::vector<Row> rows = read_rows();
  EXPECT_GE(rows.size(), 60u);
  std::set<std::string> names;
  std::size_t rejected = 0;
  for (const Row& row : rows) {
    EXPECT_TRUE(names.insert(row.file).second) << "listed twice: " << row.file;
    EXPECT_TRUE(std::ifstream(kDir + "/" + row.file).good()) << "missing: " << row.file;
    rejected += row.expect != "ok";
  }
  EXPECT_GE(rejected, 60u);
}

TEST(MalformedCorpus, CodeNamesAreTheEnumNames) {
  for (const NamedCode& c : kCodes) EXPECT_STREQ(kvscale::diag_code_name(c.code), c.name);
}

// ------------------------------------------------------------------------------------------------
// Boundaries too big to commit: built in memory.

std::string file_with(const std::string& scaling_factor) {
  return R"({"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": )" + scaling_factor + "}}";
}

std::string rank_of(int layers) {
  std::string s = "{";
  for (int l = 0; l < layers; ++l) s += (l ? ",\"" : "\"") + std::to_string(l) + "\":1";
  return s + "}";
}

bool has_code(const LoadResult& r, DiagCode c) {
  return std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [&](const Diagnostic& d) { return d.code == c; });
}

TEST(MalformedLimits, LayerCountBoundary) {
  const LoadResult at = kvscale::load_scales_json(file_with("{\"0\": " + rank_of(65536) + "}"));
  EXPECT_TRUE(at.ok()) << dump(at);
  EXPECT_EQ(at.table.num_layers(), 65536);
  const LoadResult over = kvscale::load_scales_json(file_with("{\"0\": " + rank_of(65537) + "}"));
  EXPECT_TRUE(has_code(over, DiagCode::too_many_layers)) << dump(over);
}

TEST(MalformedLimits, RankCountBoundary) {
  std::string sf = "{";
  for (int r = 0; r < 65536; ++r) sf += (r ? ",\"" : "\"") + std::to_string(r) + "\":{\"0\":1}";
  const LoadResult at = kvscale::load_scales_json(file_with(sf + "}"));
  EXPECT_TRUE(at.ok()) << dump(at);
  EXPECT_EQ(at.table.tp_size(), 65536);
  const LoadResult over = kvscale::load_scales_json(file_with(sf + ",\"65536\":{\"0\":1}}"));
  EXPECT_TRUE(has_code(over, DiagCode::too_many_ranks)) << dump(over);
}

TEST(MalformedLimits, LoweredLimits) {
  const std::string valid = file_with("{\"0\": " + rank_of(4) + ", \"1\": " + rank_of(4) + "}");
  LoadOptions o;
  o.limits.max_depth = 4;  // root, kv_cache, scaling_factor, rank
  EXPECT_TRUE(kvscale::load_scales_json(valid, o).ok());
  o.limits.max_depth = 3;
  EXPECT_TRUE(has_code(kvscale::load_scales_json(valid, o), DiagCode::nesting_too_deep));
  o = {};
  o.limits.max_layers = 4;
  EXPECT_TRUE(kvscale::load_scales_json(valid, o).ok());
  o.limits.max_layers = 3;
  EXPECT_TRUE(has_code(kvscale::load_scales_json(valid, o), DiagCode::too_many_layers));
  o = {};
  o.limits.max_ranks = 2;
  EXPECT_TRUE(kvscale::load_scales_json(valid, o).ok());
  o.limits.max_ranks = 1;
  EXPECT_TRUE(has_code(kvscale::load_scales_json(valid, o), DiagCode::too_many_ranks));
  o = {};
  o.limits.max_diagnostics = 5;
  std::string bad = "{";
  for (int l = 0; l < 50; ++l) bad += (l ? ",\"" : "\"") + std::to_string(l) + "\":-1";
  const LoadResult capped = kvscale::load_scales_json(file_with("{\"0\": " + bad + "}}"), o);
  EXPECT_LE(capped.diagnostics.size(), 6u) << dump(capped);  // 5 problems + the marker
  EXPECT_TRUE(has_code(capped, DiagCode::too_many_diagnostics)) << dump(capped);
}

TEST(MalformedLimits, EveryScaleCountsOnce) {
  // 300 bad scales and a capped list: the loader must stop collecting, not stop checking.
  std::string bad = "{";
  for (int l = 0; l < 300; ++l) bad += (l ? ",\"" : "\"") + std::to_string(l) + "\":0";
  const LoadResult r = kvscale::load_scales_json(file_with("{\"0\": " + bad + "}}"));
  EXPECT_FALSE(r.ok());
  EXPECT_LE(r.diagnostics.size(), 101u);
  EXPECT_TRUE(has_code(r, DiagCode::scale_out_of_range));
  EXPECT_TRUE(has_code(r, DiagCode::too_many_diagnostics));
}

TEST(MalformedFixtures, VllmFilesAreAccepted) {
  for (const auto& [dir, layers] : {std::pair<const char*, int>{"llama2-7b-fp8-kv", 32}, {"llama2-70b-fp8-kv", 80}}) {
    const std::string path = std::string(KVSCALE_TEST_DATA_DIR) + "/vllm/" + dir + "/kv_cache_scales.json";
    LoadOptions o;
    o.context = kvscale::LoadContext{1, 0, layers, std::string("llama")};
    const LoadResult r = kvscale::load_scales_file(path, o);
    EXPECT_TRUE(r.ok()) << path << dump(r);
    EXPECT_EQ(r.table.num_layers(), layers);
  }
}

}  // namespace
