// write_scales_json() and write_scales_safetensors(): a ScaleTable to the two files servers read.
// Both fold the table into what the format can hold (refusing, or MergePolicy::max), render the
// bytes in memory, and hand them to write_file_atomic().
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kvscale/scales.hpp"
#include "writer/atomic_write.hpp"

namespace kvscale {
namespace {

using detail::fail;

std::string g9(float f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
  return buf;
}

std::string where(int rank, int layer) { return "rank " + std::to_string(rank) + " layer " + std::to_string(layer); }

// JSON string literal (the only string either writer emits that comes from the input: model_type).
void append_quoted(std::string& out, const std::string& s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

float max_of(const float* v, int n) { return *std::max_element(v, v + n); }

// ---- kv_cache_scales.json --------------------------------------------------------------------

// The one scale of a rank's layer: K when K = V per tensor, else the max of K and V over heads
// (MergePolicy::max), else an error naming the layer.
Status json_scale(const ScaleTable& t, int rank, int layer, MergePolicy merge, float* out) {
  const bool per_tensor =
      t.k_granularity(rank, layer) == Granularity::tensor && t.v_granularity(rank, layer) == Granularity::tensor;
  const float k = max_of(t.k_scales(rank, layer), t.k_count(rank, layer));
  const float v = max_of(t.v_scales(rank, layer), t.v_count(rank, layer));
  if (per_tensor && k == v) {
    *out = k;
    return Status::success;
  }
  if (merge == MergePolicy::max) {
    *out = std::max(k, v);
    return Status::success;
  }
  if (!per_tensor)
    return fail(Status::invalid_argument, where(rank, layer) +
                                              " has per-head scales; kv_cache_scales.json holds one scale per layer "
                                              "(use MergePolicy::max, --merge max, to take the maximum over heads)");
  return fail(Status::invalid_argument, where(rank, layer) + ": K scale " + g9(k) + " != V scale " + g9(v) +
                                            "; kv_cache_scales.json holds one scale for both (use MergePolicy::max, "
                                            "--merge max, to take the larger)");
}

Status render_json(const ScaleTable& t, MergePolicy merge, std::string* out) {
  std::string& o = *out;
  o = "{\n    \"model_type\": ";
  if (t.model_type())
    append_quoted(o, *t.model_type());
  else
    o += "null";
  o += ",\n    \"kv_cache\": {\n        \"dtype\": \"float8_e4m3fn\",\n        \"scaling_factor\": {";
  for (int r = 0; r < t.tp_size(); ++r) {
    o += r ? ",\n            \"" : "\n            \"";
    o += std::to_string(r) + "\": {";
    for (int l = 0; l < t.num_layers(); ++l) {
      float s = 0;
      if (Status st = json_scale(t, r, l, merge, &s); st != Status::success) return st;
      o += l ? ",\n                \"" : "\n                \"";
      o += std::to_string(l) + "\": " + g9(s);
    }
    o += "\n            }";
  }
  o += "\n        }\n    }\n}\n";
  return Status::success;
}

// ---- scales-only .safetensors ----------------------------------------------------------------

struct OutTensor {
  std::string name;
  // 1 value: shape []; n >= 2 values: shape [n]. A per-head entry of a single head (heads_per_rank
  // 1) is written as [] too: a one-element tensor is per tensor on loading (checkpoint-scales.md C3).
  std::vector<float> values;
};

// One layer's K (kv 0) or V (kv 1) entry of a rank.
std::vector<float> entry_of(const ScaleTable& t, int rank, int layer, int kv) {
  const float* p = kv ? t.v_scales(rank, layer) : t.k_scales(rank, layer);
  const int n = kv ? t.v_count(rank, layer) : t.k_count(rank, layer);
  return std::vector<float>(p, p + n);
}

Status fold_entry(const ScaleTable& t, int layer, int kv, MergePolicy merge, std::vector<float>* out) {
  *out = entry_of(t, 0, layer, kv);
  for (int r = 1; r < t.tp_size(); ++r) {
    const std::vector<float> other = entry_of(t, r, layer, kv);
    if (other == *out) continue;
    if (other.size() != 1 || out->size() != 1)  // not fixable by merging: each rank holds its own heads
      return fail(Status::invalid_argument, where(r, layer) +
                                                ": the ranks hold different KV heads; per-head scales of several "
                                                "ranks cannot be merged (load the source without a TP context)");
    if (merge != MergePolicy::max)
      return fail(Status::invalid_argument, where(r, layer) + (kv ? " V" : " K") +
                                                " differs from rank 0; a .safetensors holds one rank (use "
                                                "MergePolicy::max, --merge max, to take the maximum over ranks)");
    (*out)[0] = std::max((*out)[0], other[0]);
  }
  return Status::success;
}

Status collect_tensors(const ScaleTable& t, MergePolicy merge, std::vector<OutTensor>* out) {
  const bool mixed = std::strcmp(table_granularity(t), "mixed") == 0;
  if (mixed && merge != MergePolicy::max)
    return fail(Status::invalid_argument,
                "the table mixes per-tensor and per-head scales; a .safetensors without config.json must have one "
                "granularity (use MergePolicy::max, --merge max, to take the maximum over heads)");
  for (int l = 0; l < t.num_layers(); ++l) {
    for (int kv = 0; kv < 2; ++kv) {
      OutTensor o;
      o.name = "model.layers." + std::to_string(l) + (kv ? ".self_attn.v_scale" : ".self_attn.k_scale");
      if (Status s = fold_entry(t, l, kv, merge, &o.values); s != Status::success) return s;
      if (mixed) o.values = {max_of(o.values.data(), static_cast<int>(o.values.size()))};
      out->push_back(std::move(o));
    }
  }
  return Status::success;
}

void append_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

void render_safetensors(const std::vector<OutTensor>& tensors, std::string* out) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const OutTensor& t : tensors) {
    const std::size_t begin = data.size();
    for (float f : t.values) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, &f, 4);
      for (int i = 0; i < 4; ++i) data += static_cast<char>((bits >> (8 * i)) & 0xFF);
    }
    header += ",\"" + t.name + "\":{\"dtype\":\"F32\",\"shape\":[";
    if (t.values.size() > 1) header += std::to_string(t.values.size());
    header += "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned
  out->clear();
  append_u64_le(*out, header.size());
  *out += header;
  *out += data;
}

template <class F>
Status guarded(const char* what, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(Status::out_of_memory, std::string("out of host memory in ") + what);
  } catch (...) {
    return fail(Status::internal_error, std::string("unexpected exception in ") + what);
  }
}

}  // namespace

Status write_scales_json(const ScaleTable& table, const std::string& path, const WriteOptions& options) noexcept {
  return guarded("write_scales_json", [&] {
    if (table.empty()) return fail(Status::invalid_argument, "write_scales_json: the table is empty");
    std::string text;
    if (Status s = render_json(table, options.merge, &text); s != Status::success) return s;
    return detail::write_file_atomic(path, text, options.force);
  });
}

Status write_scales_safetensors(const ScaleTable& table, const std::string& path,
                                const WriteOptions& options) noexcept {
  return guarded("write_scales_safetensors", [&] {
    if (table.empty()) return fail(Status::invalid_argument, "write_scales_safetensors: the table is empty");
    std::vector<OutTensor> tensors;
    if (Status s = collect_tensors(table, options.merge, &tensors); s != Status::success) return s;
    std::string bytes;
    render_safetensors(tensors, &bytes);
    return detail::write_file_atomic(path, bytes, options.force);
  });
}

}  // namespace kvscale
