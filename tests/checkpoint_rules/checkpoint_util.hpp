// Tests: shared helpers for the checkpoint-source tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/safetensors_builder.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {
namespace test {

/// Layer l's K scale is 0.01 * (l + 1), V's 0.02 * (l + 1): distinct, exact-enough floats.
inline float k_of(int l) { return 0.01f * static_cast<float>(l + 1); }
inline float v_of(int l) { return 0.02f * static_cast<float>(l + 1); }

/// Per-tensor K/V scales of `layers` layers under `prefix` + "layers.<l>." + k/v suffix.
inline std::vector<StEntry> kv_scales(int layers, const std::string& k_suffix = "self_attn.k_scale",
                                      const std::string& v_suffix = "self_attn.v_scale",
                                      const std::string& prefix = "model.") {
  std::vector<StEntry> ts;
  for (int l = 0; l < layers; ++l) {
    ts.push_back(f32_scale(prefix + "layers." + std::to_string(l) + "." + k_suffix, {k_of(l)}));
    ts.push_back(f32_scale(prefix + "layers." + std::to_string(l) + "." + v_suffix, {v_of(l)}));
  }
  return ts;
}

/// A weight tensor (F16 [rows, 8]) whose bytes must never be read.
inline StEntry weight(const std::string& name, std::uint64_t rows = 4) {
  return {name, "F16", {rows, 8}, std::vector<std::uint8_t>(rows * 16, 0xA5)};
}

inline const char* kQuarkFp8 = "{\"quant_method\":\"quark\",\"export\":{\"kv_cache_group\":[\"*k_proj\",\"*v_proj\"]}}";
inline const char* kCtTensor =
    "{\"quant_method\":\"compressed-tensors\",\"kv_cache_scheme\":{\"num_bits\":8,\"type\":\"float\","
    "\"strategy\":\"tensor\",\"dynamic\":false,\"symmetric\":true}}";
inline const char* kCtHead =
    "{\"quant_method\":\"compressed-tensors\",\"kv_cache_scheme\":{\"num_bits\":8,\"type\":\"float\","
    "\"strategy\":\"attn_head\",\"dynamic\":false,\"symmetric\":true}}";
inline const char* kModelOpt = "{\"quant_method\":\"modelopt\",\"kv_cache_quant_algo\":\"FP8\"}";

/// Asserts exactly one diagnostic with this code, file, pointer and message (message "" = any).
inline void expect_only(const LoadResult& r, DiagCode code, const std::string& file, const std::string& pointer,
                        const std::string& message = "") {
  ASSERT_EQ(r.diagnostics.size(), 1u) << (r.diagnostics.empty() ? std::string("no diagnostics")
                                                                : format_diagnostic(r.diagnostics[0]));
  const Diagnostic& d = r.diagnostics[0];
  EXPECT_STREQ(diag_code_name(d.code), diag_code_name(code)) << format_diagnostic(d);
  EXPECT_EQ(d.file, file) << format_diagnostic(d);
  EXPECT_EQ(d.pointer, pointer) << format_diagnostic(d);
  if (!message.empty()) {
    EXPECT_EQ(d.message, message);
  }
  EXPECT_TRUE(r.table.empty());
}

inline LoadResult load_with(const std::string& path, int tp_size, int tp_rank) {
  LoadOptions o;
  o.context = LoadContext{tp_size, tp_rank, 0, std::nullopt};
  return load_checkpoint(path, o);
}

}  // namespace test
}  // namespace kvscale
