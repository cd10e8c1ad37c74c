// validate --json, as the functions that print it: the checkpoint shape of the spec's CLI contract,
// byte for byte, for hand-built load results (per tensor, per head, rejected, with a TP context).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "json_out.hpp"
#include "report.hpp"

namespace {

using namespace kvscale;

ScaleEntry tensor(float v) { return ScaleEntry{Granularity::tensor, {v}}; }
ScaleEntry heads(std::vector<float> v) { return ScaleEntry{Granularity::head, std::move(v)}; }

TEST(CliReport, CheckpointPerHeadWithoutContextShowsRank0WithEveryHead) {
  LoadResult r;
  r.source = SourceKind::checkpoint;
  r.producer = "quark";
  r.num_kv_heads = 2;
  r.table = ScaleTable(1, 2, 2, {heads({0.5f, 0.0152239129f}), heads({1.0f, 2.0f})},
                       {heads({0.25f, 0.125f}), heads({3.0f, 0.1f})}, std::string("llama"));
  r.warnings.push_back({DiagCode::kv_scheme_undeclared, "/quantization_config", "no \"declaration\"", "config.json"});
  EXPECT_EQ(cli::checkpoint_json(r, {}),
            "{\"valid\": true, \"source\": \"checkpoint\", \"producer\": \"quark\", \"model_type\": \"llama\", "
            "\"num_layers\": 2, \"num_kv_heads\": 2, \"tp_size\": null, \"tp_rank\": null, \"granularity\": \"head\", "
            "\"k_scales\": {\"0\": [[0.5, 0.0152239129], [1, 2]]}, \"v_scales\": {\"0\": [[0.25, 0.125], [3, "
            "0.100000001]]}, \"diagnostics\": [], \"warnings\": [{\"code\": \"kv_scheme_undeclared\", \"pointer\": "
            "\"config.json:/quantization_config\", \"message\": \"no \\\"declaration\\\"\"}]}");
}

TEST(CliReport, CheckpointWithTpContextShowsThatRankOnly) {
  LoadResult r;
  r.source = SourceKind::checkpoint;
  r.num_kv_heads = 4;
  // tp_size 2: each rank holds 2 of the 4 heads; layer 1's V is per tensor (mixed).
  r.table = ScaleTable(2, 2, 2, {heads({1, 2}), heads({3, 4}), heads({5, 6}), heads({7, 8})},
                       {tensor(0.5f), tensor(0.75f), tensor(0.5f), tensor(0.75f)}, std::nullopt);
  cli::ReportContext c;
  c.context = LoadContext{2, 1, 0, std::nullopt};
  c.tp_given = true;
  EXPECT_EQ(cli::checkpoint_json(r, c),
            "{\"valid\": true, \"source\": \"checkpoint\", \"producer\": null, \"model_type\": null, "
            "\"num_layers\": 2, \"num_kv_heads\": 4, \"tp_size\": 2, \"tp_rank\": 1, \"granularity\": \"mixed\", "
            "\"k_scales\": {\"1\": [[5, 6], [7, 8]]}, \"v_scales\": {\"1\": [0.5, 0.75]}, \"diagnostics\": [], "
            "\"warnings\": []}");
}

TEST(CliReport, RejectedSafetensorsHasEmptyScales) {
  LoadResult r;
  r.source = SourceKind::safetensors;
  r.diagnostics.push_back({DiagCode::scale_shape_invalid, "/model.layers.7.self_attn.k_scale/shape",
                           "expected [] or [H]", "s.safetensors"});
  EXPECT_EQ(
      cli::checkpoint_json(r, {}),
      "{\"valid\": false, \"source\": \"safetensors\", \"producer\": null, \"model_type\": null, "
      "\"num_layers\": null, \"num_kv_heads\": null, \"tp_size\": null, \"tp_rank\": null, \"granularity\": null, "
      "\"k_scales\": {}, \"v_scales\": {}, \"diagnostics\": [{\"code\": \"scale_shape_invalid\", \"pointer\": "
      "\"s.safetensors:/model.layers.7.self_attn.k_scale/shape\", \"message\": \"expected [] or [H]\"}], "
      "\"warnings\": []}");
}

TEST(CliReport, ScalesFileKeepsItsShapeAndGainsSourceAndWarnings) {
  LoadResult r;
  r.table = ScaleTable(2, 1, {0.5f, 0.25f}, std::string("m"));
  r.warnings.push_back({DiagCode::unknown_key, "/x", "unknown key /x"});
  EXPECT_EQ(cli::scales_file_json(r, {}),
            "{\"valid\": true, \"source\": \"scales_file\", \"model_type\": \"m\", \"tp_size\": 2, \"num_layers\": 1, "
            "\"tp_rank\": null, \"scales\": {\"0\": [0.5], \"1\": [0.25]}, \"diagnostics\": [], \"warnings\": "
            "[{\"code\": \"unknown_key\", \"pointer\": \"/x\", \"message\": \"unknown key /x\"}]}");
}

std::string inspect_text(const LoadResult& r) {
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* f = ::open_memstream(&buf, &size);
  cli::inspect_report(f, "ck", r, false);
  std::fclose(f);
  std::string s(buf, size);
  std::free(buf);
  return s;
}

TEST(CliReport, InspectShowsKAndVApartWithALayersByHeadsView) {
  LoadResult r;
  r.source = SourceKind::checkpoint;
  r.producer = "modelopt";
  r.num_kv_heads = 4;
  // Layer 2's K head 3 is an outlier (and 40x layer 2's V); layer 1's V is 20x its K; 18 of the 21
  // values are exactly 1.
  r.table = ScaleTable(1, 3, 4, {heads({1, 1, 1, 1}), heads({1, 1, 1, 1}), heads({1, 1, 2, 40})},
                       {heads({1, 1, 1, 1}), tensor(20.0f), heads({1, 1, 1, 1})}, std::string("llama"));
  EXPECT_EQ(inspect_text(r),
            "ck: checkpoint, model_type llama, 1 rank x 3 layers, 4 KV heads, granularity mixed, producer modelopt\n"
            "rank 0 K: 3 layers x 4 heads, min 1 max 40 median 1\n"
            "  layer  heads 0..3\n"
            "      0  ____\n"
            "      1  ____\n"
            "      2  ___#\n"
            "rank 0 V: 3 layers x 4 heads, min 1 max 20 median 1\n"
            "  layer  heads 0..3\n"
            "      0  ____\n"
            "      1  ~  (per tensor)\n"
            "      2  ____\n"
            "warning: scale_outlier: rank 0 K layer 2 head 3: scale 40 is more than 10x the rank's median 1\n"
            "warning: scale_outlier: rank 0 V layer 1: scale 20 is more than 10x the rank's median 1\n"
            "warning: k_v_far_apart: rank 0 layer 1: K scale 1 and V scale 20 are more than 10x apart\n"
            "warning: k_v_far_apart: rank 0 layer 2: K scale 40 and V scale 1 are more than 10x apart\n"
            "warning: scales_mostly_one: 18 of 21 scales are exactly 1.0: ModelOpt clamps to >= 1; likely "
            "uncalibrated\n");
}

TEST(CliReport, InspectPerTensorCheckpointHasOneSparklinePerSide) {
  LoadResult r;
  r.source = SourceKind::safetensors;
  r.table = ScaleTable(1, 2, 0, {tensor(0.5f), tensor(0.25f)}, {tensor(0.5f), tensor(0.03125f)}, std::nullopt);
  EXPECT_EQ(
      inspect_text(r),
      "ck: safetensors, model_type unknown, 1 rank x 2 layers, KV heads unknown, granularity tensor, producer unknown\n"
      "rank 0 K: 2 layers, min 0.25 max 0.5 median 0.375\n"
      "  #~\n"  // the levels span the min and max of K and V together
      "rank 0 V: 2 layers, min 0.03125 max 0.5 median 0.265625\n"
      "  #_\n");
}

TEST(CliJsonWriter, NestingSeparatorsAndNumbers) {
  cli::JsonWriter w;
  w.begin_object().key("a").begin_array().value(1).value(0.1f).null().end_array();
  w.key("b").begin_object().end_object().key("c").fixed(1.5, 3).key("d\n").value("x\"y").end_object();
  EXPECT_EQ(w.str(), "{\"a\": [1, 0.100000001, null], \"b\": {}, \"c\": 1.500, \"d\\n\": \"x\\\"y\"}");
}

}  // namespace
