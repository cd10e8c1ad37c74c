// Tests: writes .safetensors files and checkpoint directories by hand, byte for byte, so that the
// loader is tested against files it did not write (the library's writer is tested separately).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/temp_dir.hpp"

namespace kvscale {
namespace test {

/// One tensor: its dtype string, shape, and raw little-endian bytes (weights: any filler).
struct StEntry {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> bytes;
};

inline std::vector<std::uint8_t> f32_bytes(std::vector<float> v) {
  std::vector<std::uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline std::vector<std::uint8_t> u16_bytes(std::vector<std::uint16_t> v) {
  std::vector<std::uint8_t> b(v.size() * 2);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline std::vector<std::uint8_t> f64_bytes(std::vector<double> v) {
  std::vector<std::uint8_t> b(v.size() * 8);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline StEntry f32_scale(std::string name, std::vector<float> v, std::vector<std::uint64_t> shape = {}) {
  return {std::move(name), "F32", std::move(shape), f32_bytes(std::move(v))};
}

/// The header JSON the format defines: offsets in order, padded with spaces to a multiple of 8.
inline std::string st_header(const std::vector<StEntry>& ts, const std::string& extra = "") {
  std::string h = "{";
  std::uint64_t off = 0;
  bool first = true;
  if (!extra.empty()) {
    h += extra;
    first = false;
  }
  for (const StEntry& t : ts) {
    h += first ? "" : ",";
    first = false;
    h += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]}";
    off += t.bytes.size();
  }
  h += "}";
  while (h.size() % 8) h += ' ';
  return h;
}

/// Writes a file from a header text and the tensors' bytes in order.
inline void write_st_raw(const std::string& path, const std::string& header, const std::vector<StEntry>& ts) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  std::uint64_t n = header.size();
  std::uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
  std::fwrite(len, 1, 8, f);
  std::fwrite(header.data(), 1, header.size(), f);
  for (const StEntry& t : ts) std::fwrite(t.bytes.data(), 1, t.bytes.size(), f);
  std::fclose(f);
}

inline void write_st(const std::string& path, const std::vector<StEntry>& ts) { write_st_raw(path, st_header(ts), ts); }

inline void write_text(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

/// A llama-like config.json with `layers` layers and `kv_heads` KV heads; `quant` is the
/// quantization_config object text ("" for none).
inline std::string config_json(int layers, int kv_heads, const std::string& quant = "",
                               const std::string& model_type = "llama") {
  std::string s = "{\"model_type\":\"" + model_type + "\",\"num_hidden_layers\":" + std::to_string(layers) +
                  ",\"num_attention_heads\":32,\"num_key_value_heads\":" + std::to_string(kv_heads);
  if (!quant.empty()) s += ",\"quantization_config\":" + quant;
  return s + "}";
}

}  // namespace test
}  // namespace kvscale
