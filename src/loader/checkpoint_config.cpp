// config.json: model geometry (text_config for multimodal models), producer and the KV-cache
// declaration. Field names follow the producers (notes/checkpoint-scales.md §2).
#include "checkpoint_config.hpp"

#include <nlohmann/json.hpp>

#include "json_reader.hpp"

namespace kvscale {
namespace loader {
namespace {

using json = nlohmann::json;

constexpr const char* kConfig = "config.json";

/// A positive int32 from obj[key], or from obj["text_config"][key]; 0 when absent. *ptr names it.
/// Returns -1 when present but not a positive integer.
std::int64_t geometry(const json& cfg, const char* key, std::string* ptr) {
  for (const char* scope : {"", "text_config"}) {
    const json* o = &cfg;
    if (*scope) {
      auto it = cfg.find(scope);
      if (it == cfg.end() || !it->is_object()) continue;
      o = &*it;
    }
    auto it = o->find(key);
    if (it == o->end() || it->is_null()) continue;
    *ptr = std::string(*scope ? "/text_config/" : "/") + key;
    if (!it->is_number_integer()) return -1;
    const std::int64_t v = it->get<std::int64_t>();
    return v >= 1 && v <= INT32_MAX ? v : -1;
  }
  return 0;
}

std::optional<std::string> string_at(const json& cfg, const char* key) {
  for (const char* scope : {"", "text_config"}) {
    const json* o = &cfg;
    if (*scope) {
      auto it = cfg.find(scope);
      if (it == cfg.end() || !it->is_object()) continue;
      o = &*it;
    }
    auto it = o->find(key);
    if (it != o->end() && it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

bool non_empty(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return false;
  if (it->is_array() || it->is_object() || it->is_string()) return !it->empty();
  return true;
}

/// Producer and declaration from quantization_config (docs/checkpoint-scales.md "Declared").
void read_quantization(const json& cfg, CheckpointConfig* out) {
  auto q = cfg.find("quantization_config");
  if (q == cfg.end() || !q->is_object()) return;
  auto m = q->find("quant_method");
  if (m != q->end() && m->is_string()) {
    const std::string method = m->get<std::string>();
    for (const char* known : {"quark", "compressed-tensors", "modelopt", "fp8"})
      if (method == known) out->producer = method;
  }
  auto scheme = q->find("kv_cache_scheme");
  if (scheme != q->end() && !scheme->is_null()) {
    out->kv_declared = true;
    out->scheme_pointer = "/quantization_config/kv_cache_scheme";
    out->strategy = KvStrategy::tensor;  // absent strategy means per tensor
    if (scheme->is_object()) {
      auto s = scheme->find("strategy");
      if (s != scheme->end() && s->is_string() && s->get<std::string>() == "attn_head")
        out->strategy = KvStrategy::attn_head;
    }
  }
  auto algo = q->find("kv_cache_quant_algo");
  if (!out->kv_declared && algo != q->end() && !algo->is_null()) {
    out->kv_declared = true;
    out->scheme_pointer = "/quantization_config/kv_cache_quant_algo";
  }
  if (!out->kv_declared && out->producer && *out->producer == "quark") {
    auto ex = q->find("export");
    if (ex != q->end() && ex->is_object() && non_empty(*ex, "kv_cache_group")) {
      out->kv_declared = true;
      out->scheme_pointer = "/quantization_config/export/kv_cache_group";
    } else if (non_empty(*q, "kv_cache_quant_config")) {
      out->kv_declared = true;
      out->scheme_pointer = "/quantization_config/kv_cache_quant_config";
    }
  }
}

/// Layer kinds without a KV cache in hybrid models (layer_types / layers_block_type values).
bool is_cacheless_kind(const std::string& kind) {
  for (const char* k : {"linear_attention", "mamba", "mamba2", "mamba1", "recurrent", "conv", "ssm"})
    if (kind == k) return true;
  return false;
}

void read_hybrid_layers(const json& cfg, CheckpointConfig* out) {
  for (const char* scope : {"", "text_config"}) {
    const json* o = &cfg;
    if (*scope) {
      auto it = cfg.find(scope);
      if (it == cfg.end() || !it->is_object()) continue;
      o = &*it;
    }
    for (const char* key : {"layer_types", "layers_block_type"}) {
      auto it = o->find(key);
      if (it == o->end() || !it->is_array() || it->size() != static_cast<std::size_t>(out->num_hidden_layers)) continue;
      out->attention_layer.assign(it->size(), true);
      for (std::size_t i = 0; i < it->size(); ++i)
        if ((*it)[i].is_string() && is_cacheless_kind((*it)[i].get<std::string>())) out->attention_layer[i] = false;
      return;
    }
  }
}

}  // namespace

bool read_checkpoint_config(const std::string& dir, const LoadLimits& limits, Sink& sink, CheckpointConfig* out) {
  sink.set_file(kConfig);
  json cfg;
  const std::size_t before = sink.diags().size();
  if (!read_json_file(dir + "/" + kConfig, JsonLimits{limits.max_config_bytes, limits.max_depth}, sink, &cfg)) {
    if (sink.diags().size() == before)
      sink.add(DiagCode::config_invalid, "", "expected a readable config.json object, found none");
    return false;
  }
  std::string ptr;
  const std::int64_t layers = geometry(cfg, "num_hidden_layers", &ptr);
  if (layers <= 0) {
    sink.add(DiagCode::config_invalid, layers < 0 ? ptr : "",
             layers < 0 ? "expected num_hidden_layers to be a positive integer, found " + cfg.at(json::json_pointer(ptr)).dump()
                        : "expected key \"num_hidden_layers\" (or text_config.num_hidden_layers), found no such key");
    return false;
  }
  if (layers > limits.max_layers) {
    sink.add(DiagCode::too_many_layers, ptr,
             "expected num_hidden_layers <= " + std::to_string(limits.max_layers) + ", found " + std::to_string(layers));
    return false;
  }
  out->num_hidden_layers = static_cast<int>(layers);
  std::string hptr;
  std::int64_t heads = geometry(cfg, "num_key_value_heads", &hptr);
  if (heads == 0) heads = geometry(cfg, "num_attention_heads", &hptr);
  out->num_kv_heads = heads > 0 && heads <= limits.max_heads ? static_cast<int>(heads) : 0;
  out->model_type = string_at(cfg, "model_type");
  read_quantization(cfg, out);
  read_hybrid_layers(cfg, out);
  return true;
}

}  // namespace loader
}  // namespace kvscale
