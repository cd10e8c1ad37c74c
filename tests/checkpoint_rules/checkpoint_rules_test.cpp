// load_checkpoint on single-file checkpoints and bare .safetensors files: every naming convention,
// the C rules (code, location, message), the tensor-parallel split, and the equivalence with a
// kv_cache_scales.json.
#include <gtest/gtest.h>

#include <cstring>

#include "checkpoint_util.hpp"
#include "kvscale/half.hpp"

namespace kvscale {
namespace test {
namespace {

class Checkpoint : public ::testing::Test {
 protected:
  /// config.json + model.safetensors holding `ts`.
  std::string make(const std::string& config, const std::vector<StEntry>& ts) {
    write_text(dir / "config.json", config);
    write_st(dir / "model.safetensors", ts);
    return dir.path();
  }
  TempDir dir;
};

std::vector<StEntry> with_weights(std::vector<StEntry> ts) {
  ts.insert(ts.begin(), weight("model.embed_tokens.weight", 64));
  ts.push_back(weight("model.layers.0.self_attn.q_proj.weight"));
  return ts;
}

TEST_F(Checkpoint, QuarkFp8ExportPerTensor) {
  const auto r = load_checkpoint(make(config_json(4, 8, kQuarkFp8), with_weights(kv_scales(4))));
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.source, SourceKind::checkpoint);
  EXPECT_EQ(r.producer.value_or(""), "quark");
  EXPECT_EQ(r.num_kv_heads, 8);
  EXPECT_STREQ(table_granularity(r.table), "tensor");
  ASSERT_EQ(r.table.tp_size(), 1);
  ASSERT_EQ(r.table.num_layers(), 4);
  EXPECT_EQ(r.table.model_type().value_or(""), "llama");
  for (int l = 0; l < 4; ++l) {
    EXPECT_EQ(*r.table.k_scales(0, l), k_of(l));
    EXPECT_EQ(*r.table.v_scales(0, l), v_of(l));
    EXPECT_EQ(r.table.k_count(0, l), 1);
  }
  EXPECT_TRUE(r.warnings.empty());
}

struct Convention {
  const char* name;
  const char* k_suffix;
  const char* v_suffix;
  const char* prefix;
  const char* quant;
};

class Conventions : public ::testing::TestWithParam<Convention> {};

TEST_P(Conventions, LoadsEveryProducersNames) {
  TempDir dir;
  const Convention& c = GetParam();
  write_text(dir / "config.json", config_json(3, 8, c.quant));
  write_st(dir / "model.safetensors", kv_scales(3, c.k_suffix, c.v_suffix, c.prefix));
  const auto r = load_checkpoint(dir.path());
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(r.table.k_scales(0, l)[0], k_of(l));
    EXPECT_EQ(r.table.v_scales(0, l)[0], v_of(l));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Checkpoint, Conventions,
    ::testing::Values(
        Convention{"vllm", "self_attn.k_scale", "self_attn.v_scale", "model.", kQuarkFp8},
        Convention{"remapped", "self_attn.attn.k_scale", "self_attn.attn.v_scale", "model.", kCtTensor},
        Convention{"quark", "self_attn.k_proj.output_scale", "self_attn.v_proj.output_scale", "model.", kQuarkFp8},
        Convention{"modelopt", "self_attn.k_proj.k_scale", "self_attn.v_proj.v_scale", "model.", kModelOpt},
        Convention{"multimodal", "self_attn.k_scale", "self_attn.v_scale", "model.language_model.", kCtTensor},
        Convention{"lm_first", "self_attn.k_scale", "self_attn.v_scale", "language_model.model.", kCtTensor}),
    [](const ::testing::TestParamInfo<Convention>& p) { return std::string(p.param.name); });

TEST_F(Checkpoint, DeprecatedKvScaleFeedsKAndV) {
  std::vector<StEntry> ts;
  for (int l = 0; l < 2; ++l)
    ts.push_back(f32_scale("model.layers." + std::to_string(l) + ".self_attn.kv_scale", {k_of(l)}));
  const auto r = load_checkpoint(make(config_json(2, 8, kModelOpt), ts));
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.table.v_scales(0, 1)[0], k_of(1));
  EXPECT_TRUE(r.table.k_equals_v_per_tensor());
}

TEST_F(Checkpoint, PerHeadBf16AttnHeadIsSplitLikeVllm) {
  std::vector<StEntry> ts;
  for (int l = 0; l < 2; ++l)
    for (const char* kv : {"k", "v"}) {
      std::vector<std::uint16_t> h;
      for (int i = 0; i < 8; ++i) h.push_back(static_cast<std::uint16_t>(0x3C00 + 0x10 * i + l + (kv[0] == 'v')));
      ts.push_back(
          {"model.layers." + std::to_string(l) + ".self_attn." + kv + "_scale", "BF16", {8, 1, 1}, u16_bytes(h)});
    }
  const std::string d = make(config_json(2, 8, kCtHead), ts);
  const auto whole = load_checkpoint(d);
  ASSERT_TRUE(whole.ok()) << format_diagnostic(whole.diagnostics[0]);
  EXPECT_STREQ(table_granularity(whole.table), "head");
  EXPECT_EQ(whole.table.heads_per_rank(), 8);
  EXPECT_EQ(whole.producer.value_or(""), "compressed-tensors");
  const auto bf = [](std::uint16_t b) { return half::bf16_to_f32(b); };
  EXPECT_EQ(whole.table.k_scales(0, 1)[3], bf(0x3C00 + 0x30 + 1));
  // H % T == 0: rank 1 of 2 holds heads 4..7.
  const auto r1 = load_with(d, 2, 1);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1.table.tp_size(), 2);
  EXPECT_EQ(r1.table.heads_per_rank(), 4);
  EXPECT_EQ(r1.table.k_count(1, 0), 4);
  EXPECT_EQ(r1.table.v_scales(1, 0)[0], bf(0x3C00 + 0x40 + 1));
  // T % H == 0: 16 ranks over 8 heads, rank r holds head r / 2.
  const auto r16 = load_with(d, 16, 5);
  ASSERT_TRUE(r16.ok());
  EXPECT_EQ(r16.table.heads_per_rank(), 1);
  EXPECT_EQ(r16.table.k_granularity(5, 0), Granularity::head);
  EXPECT_EQ(r16.table.k_scales(5, 0)[0], bf(0x3C00 + 0x20));
  // Neither: tp_heads_incompatible.
  expect_only(load_with(d, 3, 0), DiagCode::tp_heads_incompatible, "", "",
              "expected tp_size to divide the 8 KV heads of the per-head scales, or to be a multiple of them, found "
              "tp_size 3");
}

TEST_F(Checkpoint, DtypesF16Bf16AndF64RoundToNearestFloat) {
  std::vector<StEntry> ts = {{"model.layers.0.self_attn.k_scale", "F16", {}, u16_bytes({0x2E66})},
                             {"model.layers.0.self_attn.v_scale", "F64", {1}, f64_bytes({0.1})}};
  const auto r = load_checkpoint(make(config_json(1, 8, kCtTensor), ts));
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.table.k_scales(0, 0)[0], half::f16_to_f32(0x2E66));
  EXPECT_EQ(r.table.v_scales(0, 0)[0], 0.1f);
}

TEST_F(Checkpoint, C1KvScaleBesideKScaleIsADuplicate) {
  auto ts = kv_scales(2);
  ts.push_back(f32_scale("model.layers.1.self_attn.kv_scale", {0.5f}));
  expect_only(load_checkpoint(make(config_json(2, 8, kQuarkFp8), ts)), DiagCode::duplicate_scale, "model.safetensors",
              "/model.layers.1.self_attn.kv_scale",
              "expected one K and V scale for layer 1, found a second (\"model.layers.1.self_attn.kv_scale\" besides "
              "model.safetensors:\"model.layers.1.self_attn.k_scale\"; remove one)");
}

TEST_F(Checkpoint, C1SameLayerUnderTwoPrefixesIsADuplicateEvenWithEqualValues) {
  auto ts = kv_scales(1);
  ts.push_back(f32_scale("model.language_model.layers.0.self_attn.v_scale", {v_of(0)}));
  // Headers are read in name order: "model.language_model..." comes first, so the other is the second.
  expect_only(load_checkpoint(make(config_json(1, 8, kQuarkFp8), ts)), DiagCode::duplicate_scale, "model.safetensors",
              "/model.layers.0.self_attn.v_scale");
}

TEST_F(Checkpoint, C2UnsupportedDtype) {
  auto ts = kv_scales(1);
  ts[1] = {"model.layers.0.self_attn.v_scale", "I32", {}, {1, 0, 0, 0}};
  expect_only(load_checkpoint(make(config_json(1, 8, kQuarkFp8), ts)), DiagCode::scale_dtype_unsupported,
              "model.safetensors", "/model.layers.0.self_attn.v_scale/dtype",
              "expected a scale of dtype F32, F16, BF16 or F64, found I32");
}

TEST_F(Checkpoint, C3ShapeThatIsNeitherOneElementNorHeads) {
  auto ts = kv_scales(1);
  ts[0] = f32_scale("model.layers.0.self_attn.k_scale", {1, 2, 3}, {3});
  expect_only(load_checkpoint(make(config_json(1, 8, kQuarkFp8), ts)), DiagCode::scale_shape_invalid,
              "model.safetensors", "/model.layers.0.self_attn.k_scale/shape",
              "expected one element (per tensor) or [H] / [H,1,1] with H = 8 KV heads, found shape [3]");
}

TEST_F(Checkpoint, C3OneElementIsPerTensorWhateverTheRank) {
  auto ts = kv_scales(1);
  ts[0].shape = {1, 1, 1};
  const auto r = load_checkpoint(make(config_json(1, 1, kQuarkFp8), ts));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.table.k_granularity(0, 0), Granularity::tensor);
}

TEST_F(Checkpoint, C4ValuesMustBeFiniteAndPositiveInFloat32) {
  auto ts = kv_scales(2);
  ts[1] = f32_scale("model.layers.0.self_attn.v_scale", {-0.5f});
  ts[2] = {"model.layers.1.self_attn.k_scale", "F64", {}, f64_bytes({1e39})};
  const auto r = load_checkpoint(make(config_json(2, 8, kQuarkFp8), ts));
  ASSERT_EQ(r.diagnostics.size(), 2u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::scale_out_of_range);
  EXPECT_EQ(r.diagnostics[0].pointer, "/model.layers.0.self_attn.v_scale");
  EXPECT_EQ(r.diagnostics[0].message,
            "expected a finite float32 scale > 0, found -0.5 (hint: scales are amax / 448 of a calibration run)");
  EXPECT_EQ(r.diagnostics[1].message,
            "expected a finite float32 scale > 0, found inf (hint: scales are amax / 448 of a calibration run)");
}

TEST_F(Checkpoint, C4NamesTheHeadOfAPerHeadScale) {
  auto ts = kv_scales(1);
  ts[0] = f32_scale("model.layers.0.self_attn.k_scale", {1, 1, 0, 1}, {4});
  const auto r = load_checkpoint(make(config_json(1, 4, kCtHead), ts));
  ASSERT_EQ(r.diagnostics.size(), 2u);  // the zero, and V per tensor under attn_head (C9)
  EXPECT_EQ(r.diagnostics[0].message,
            "expected a finite float32 scale > 0 for head 2, found 0 (hint: scales are amax / 448 of a calibration "
            "run)");
}

TEST_F(Checkpoint, C5MissingAndUnexpectedLayers) {
  auto ts = kv_scales(3);
  ts.erase(ts.begin() + 3);  // layer 1's V
  ts.push_back(f32_scale("model.layers.3.self_attn.k_scale", {1}));
  const auto r = load_checkpoint(make(config_json(3, 8, kQuarkFp8), ts));
  ASSERT_EQ(r.diagnostics.size(), 2u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::layer_unexpected);
  EXPECT_EQ(diagnostic_location(r.diagnostics[0]), "model.safetensors:/model.layers.3.self_attn.k_scale");
  EXPECT_EQ(r.diagnostics[0].message, "expected layers 0..2 (num_hidden_layers 3), found layer 3");
  EXPECT_EQ(r.diagnostics[1].code, DiagCode::layer_missing);
  EXPECT_EQ(diagnostic_location(r.diagnostics[1]), "model.safetensors:");
  EXPECT_EQ(r.diagnostics[1].message, "expected a K and a V scale for layer 1 (layers 0..2), found no V scale");
}

TEST_F(Checkpoint, C5HybridModelsNeedScalesOnlyOnAttentionLayers) {
  auto ts = kv_scales(3);
  ts.erase(ts.begin() + 2, ts.begin() + 4);  // layer 1 is linear attention
  const std::string cfg =
      "{\"model_type\":\"qwen3_next\",\"num_hidden_layers\":3,\"num_key_value_heads\":2,\"layer_types\":"
      "[\"full_attention\",\"linear_attention\",\"full_attention\"],\"quantization_config\":" +
      std::string(kCtTensor) + "}";
  const auto r = load_checkpoint(make(cfg, ts));
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.table.k_scales(0, 2)[0], k_of(2));
}

TEST_F(Checkpoint, C6DeclaredButNoScales) {
  expect_only(load_checkpoint(make(config_json(2, 8, kCtTensor), {weight("model.embed_tokens.weight")})),
              DiagCode::kv_scales_missing, "config.json", "/quantization_config/kv_cache_scheme",
              "expected k_scale/v_scale tensors for the declared FP8 KV cache, found none (hint: vLLM would warn and "
              "run with scale 1.0; check the tensor names)");
}

TEST_F(Checkpoint, C6MisnamedScalesAreNotScales) {
  std::vector<StEntry> ts = {f32_scale("model.layers.0.self_attn.k_scales", {1}),
                             f32_scale("model.layers.01.self_attn.k_scale", {1})};
  expect_only(load_checkpoint(make(config_json(1, 8, kModelOpt), ts)), DiagCode::kv_scales_missing, "config.json",
              "/quantization_config/kv_cache_quant_algo");
}

TEST_F(Checkpoint, C7NoDeclarationAndNoScales) {
  expect_only(load_checkpoint(make(config_json(2, 8), {weight("w")})), DiagCode::no_kv_scales, "config.json", "",
              "expected KV-cache scales (k_scale/v_scale tensors) or an FP8 KV-cache declaration, found neither");
}

TEST_F(Checkpoint, C8ScalesWithoutDeclarationWarn) {
  const auto r = load_checkpoint(make(config_json(2, 8), kv_scales(2)));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].code, DiagCode::kv_scheme_undeclared);
  EXPECT_EQ(r.warnings[0].file, "config.json");
}

TEST_F(Checkpoint, C9GranularityMismatch) {
  auto ts = kv_scales(1);
  ts[0] = f32_scale("model.layers.0.self_attn.k_scale", {1, 2}, {2, 1, 1});
  expect_only(load_checkpoint(make(config_json(1, 2, kCtTensor), ts)), DiagCode::scale_granularity_mismatch,
              "model.safetensors", "/model.layers.0.self_attn.k_scale/shape",
              "expected per-tensor scales (config.json kv_cache_scheme.strategy \"tensor\"), found shape [2,1,1]");
}

TEST_F(Checkpoint, C10ConfigProblems) {
  write_st(dir / "model.safetensors", kv_scales(1));
  expect_only(load_checkpoint(dir.path()), DiagCode::file_not_found, "config.json", "");
  write_text(dir / "config.json", "[1]");
  expect_only(load_checkpoint(dir.path()), DiagCode::not_an_object, "config.json", "");
  write_text(dir / "config.json", "{\"model_type\":\"llama\"}");
  expect_only(load_checkpoint(dir.path()), DiagCode::config_invalid, "config.json", "",
              "expected key \"num_hidden_layers\" (or text_config.num_hidden_layers), found no such key");
  write_text(dir / "config.json", "{\"num_hidden_layers\":\"1\"}");
  expect_only(load_checkpoint(dir.path()), DiagCode::config_invalid, "config.json", "/num_hidden_layers",
              "expected num_hidden_layers to be a positive integer, found \"1\"");
  write_text(dir / "config.json", "{\"text_config\":{\"num_hidden_layers\":1,\"num_key_value_heads\":2}}");
  const auto r = load_checkpoint(dir.path());
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.num_kv_heads, 2);
}

TEST_F(Checkpoint, ContextMustAgreeWithTheConfig) {
  const std::string d = make(config_json(2, 8, kQuarkFp8, "llama"), kv_scales(2));
  LoadOptions o;
  o.context = LoadContext{1, 0, 3, std::string("llama")};
  expect_only(load_checkpoint(d, o), DiagCode::context_mismatch, "config.json", "/num_hidden_layers",
              "expected num_hidden_layers 3 (the context), found 2 in config.json");
  o.context = LoadContext{1, 0, 2, std::string("mistral")};
  expect_only(load_checkpoint(d, o), DiagCode::model_type_mismatch, "config.json", "/model_type");
  o.context = LoadContext{2, 2, 0, std::nullopt};
  expect_only(load_checkpoint(d, o), DiagCode::tp_rank_out_of_range, "", "");
  // Per-tensor scales are the same on every rank, for any tp_size.
  const auto r = load_with(d, 3, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.table.k_scales(2, 1)[0], k_of(1));
}

TEST_F(Checkpoint, UnitFallbackIsOptInAndKeepsTheDiagnostics) {
  const std::string d = make(config_json(2, 8, kCtTensor), {weight("w")});
  LoadOptions o;
  o.context = LoadContext{2, 0, 0, std::nullopt};
  o.on_failure = FailurePolicy::unit_fallback;
  const auto r = load_checkpoint(d, o);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_TRUE(r.used_fallback);
  EXPECT_EQ(r.table.num_layers(), 2);
  EXPECT_EQ(r.table.scale(1, 1), 1.0f);
}

TEST(BareSafetensors, SelfConsistentFileLoads) {
  TempDir dir;
  std::vector<StEntry> ts;
  for (int l = 0; l < 3; ++l)
    for (const char* kv : {"k", "v"})
      ts.push_back(f32_scale("model.layers." + std::to_string(l) + ".self_attn." + kv + "_scale", {1, 2, 3, 4}, {4}));
  write_st(dir / "scales.safetensors", ts);
  const auto r = load_scales(dir / "scales.safetensors");
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.source, SourceKind::safetensors);
  EXPECT_EQ(r.num_kv_heads, 4);
  EXPECT_EQ(r.table.heads_per_rank(), 4);
  EXPECT_FALSE(r.producer.has_value());
}

TEST(BareSafetensors, LayersMustBeDenseAndGranularityUniform) {
  TempDir dir;
  auto ts = kv_scales(3);
  ts.erase(ts.begin() + 2, ts.begin() + 4);
  write_st(dir / "a.safetensors", ts);
  expect_only(load_scales(dir / "a.safetensors"), DiagCode::layer_missing, "a.safetensors", "",
              "expected a K and a V scale for layer 1 (layers 0..2), found neither");
  ts = kv_scales(2);
  ts[3] = f32_scale("model.layers.1.self_attn.v_scale", {1, 2}, {2});
  write_st(dir / "b.safetensors", ts);
  expect_only(load_scales(dir / "b.safetensors"), DiagCode::scale_granularity_mismatch, "b.safetensors",
              "/model.layers.1.self_attn.v_scale/shape");
}

TEST(Equivalence, CheckpointAndScalesFileGiveIdenticalDeviceScaleBytes) {
  TempDir dir;
  std::vector<StEntry> ts;
  std::string json = "{\"model_type\":\"llama\",\"kv_cache\":{\"dtype\":\"float8_e4m3fn\",\"scaling_factor\":{\"0\":{";
  for (int l = 0; l < 5; ++l) {
    ts.push_back(f32_scale("model.layers." + std::to_string(l) + ".self_attn.kv_scale", {k_of(l)}));
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s\"%d\":%.9g", l ? "," : "", l, static_cast<double>(k_of(l)));
    json += buf;
  }
  json += "}}}}";
  write_text(dir / "config.json", config_json(5, 8, kQuarkFp8));
  write_st(dir / "model.safetensors", ts);
  write_text(dir / "kv_cache_scales.json", json);
  const auto a = load_scales(dir.path());
  const auto b = load_scales(dir / "kv_cache_scales.json");
  ASSERT_TRUE(a.ok() && b.ok());
  for (Fp8Format f : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
    EffectiveScales ea, eb;
    ASSERT_EQ(effective_scales(a.table, 0, {}, {f}, &ea), Status::success);
    ASSERT_EQ(effective_scales(b.table, 0, {}, {f}, &eb), Status::success);
    ASSERT_EQ(ea.values.size(), 10u);
    EXPECT_EQ(std::memcmp(ea.values.data(), eb.values.data(), ea.values.size() * sizeof(float)), 0);
    EXPECT_EQ(ea.k_stride, eb.k_stride);
  }
}

TEST(EffectiveScales, PerHeadLayoutIsKThenVByLayerThenHead) {
  std::vector<ScaleEntry> k = {{Granularity::head, {1, 2}}, {Granularity::tensor, {5}}};
  std::vector<ScaleEntry> v = {{Granularity::tensor, {3}}, {Granularity::head, {6, 7}}};
  const ScaleTable t(1, 2, 2, k, v, std::nullopt);
  EffectiveScales e;
  ASSERT_EQ(effective_scales(t, 0, {}, {Fp8Format::e4m3fnuz}, &e), Status::success);
  EXPECT_EQ(e.head_slots, 2);
  EXPECT_EQ(e.values, (std::vector<float>{2, 4, 10, 10, 6, 6, 12, 14}));
  EXPECT_EQ(e.k_stride, (std::vector<std::uint8_t>{1, 0}));
  EXPECT_EQ(e.v_stride, (std::vector<std::uint8_t>{0, 1}));
  EXPECT_STREQ(table_granularity(t), "mixed");
  EXPECT_EQ(effective_scales(t, 1, {}, {}, &e), Status::invalid_argument);
  EXPECT_EQ(effective_scales(t, 0, {2, 1}, {}, &e), Status::invalid_argument);
}

}  // namespace
}  // namespace test
}  // namespace kvscale
