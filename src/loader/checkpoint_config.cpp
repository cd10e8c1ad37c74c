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

/// The string a value holds, or "" (get_ptr, not get<std::string>: GCC's -Wnull-dereference
/// misfires inside nlohmann's conversion and iterators).
std::string text_of(const json* j) {
  const std::string* s = j ? j->get_ptr<const std::string*>() : nullptr;
  return s ? *s : std::string();
}

std::string dump_of(const json* j) { return j ? j->dump() : std::string("nothing"); }

/// o[key] when o is an object that has it, else null. Goes through the underlying std::map.
const json* member(const json* o, const char* key) {
  const json::object_t* obj = o ? o->get_ptr<const json::object_t*>() : nullptr;
  if (!obj) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() ? nullptr : &it->second;
}

/// The object config holds geometry in: the top level, or its text_config (multimodal models)
/// when the top level lacks `key`.
const json* scope_of(const json& cfg, const char* key) {
  const json* v = member(&cfg, key);
  if (v && !v->is_null()) return &cfg;
  const json* text = member(&cfg, "text_config");
  v = member(text, key);
  return v && !v->is_null() ? text : nullptr;
}

/// A positive int32 at `key` (top level, else text_config); 0 when absent, -1 when present but not
/// a positive integer. *ptr names it.
std::int64_t geometry(const json& cfg, const char* key, std::string* ptr) {
  const json* scope = scope_of(cfg, key);
  if (!scope) return 0;
  *ptr = std::string(scope == &cfg ? "/" : "/text_config/") + key;
  const json* v = member(scope, key);
  if (!v) return 0;
  const std::int64_t* i = v->get_ptr<const std::int64_t*>();
  const std::uint64_t* u = v->get_ptr<const std::uint64_t*>();
  const std::int64_t n = i ? *i : u && *u <= INT32_MAX ? static_cast<std::int64_t>(*u) : -1;
  return n >= 1 && n <= INT32_MAX ? n : -1;
}

std::optional<std::string> string_at(const json& cfg, const char* key) {
  const json* scope = scope_of(cfg, key);
  const json* v = member(scope, key);
  if (v && v->is_string()) return text_of(v);
  return std::nullopt;
}

/// A value that is present and says something: not null, not an empty string, list or object.
bool non_empty(const json* v) {
  if (!v || v->is_null()) return false;
  return !(v->is_array() || v->is_object() || v->is_string()) || !v->empty();
}

/// Producer and declaration from quantization_config (docs/checkpoint-scales.md "Declared").
void read_quantization(const json& cfg, CheckpointConfig* out) {
  const json* q = member(&cfg, "quantization_config");
  if (!q || !q->is_object()) return;
  const std::string method = text_of(member(q, "quant_method"));
  for (const char* known : {"quark", "compressed-tensors", "modelopt", "fp8"})
    if (method == known) out->producer = method;
  const json* scheme = member(q, "kv_cache_scheme");
  const json* algo = member(q, "kv_cache_quant_algo");
  if (scheme && !scheme->is_null()) {
    out->kv_declared = true;
    out->scheme_pointer = "/quantization_config/kv_cache_scheme";
    // An absent strategy means per tensor.
    out->strategy = text_of(member(scheme, "strategy")) == "attn_head" ? KvStrategy::attn_head : KvStrategy::tensor;
  } else if (algo && !algo->is_null()) {
    out->kv_declared = true;
    out->scheme_pointer = "/quantization_config/kv_cache_quant_algo";
  } else if (method == "quark" && non_empty(member(member(q, "export"), "kv_cache_group"))) {
    out->kv_declared = true;
    out->scheme_pointer = "/quantization_config/export/kv_cache_group";
  } else if (method == "quark" && non_empty(member(q, "kv_cache_quant_config"))) {
    out->kv_declared = true;
    out->scheme_pointer = "/quantization_config/kv_cache_quant_config";
  }
}

bool is_cacheless_kind(const std::string& kind) {
  for (const char* k : {"linear_attention", "mamba", "mamba2", "mamba1", "recurrent", "conv", "ssm"})
    if (kind == k) return true;
  return false;
}

void read_hybrid_layers(const json& cfg, CheckpointConfig* out) {
  for (const char* key : {"layer_types", "layers_block_type"}) {
    const json* kinds = member(scope_of(cfg, key), key);
    if (!kinds || !kinds->is_array() || kinds->size() != static_cast<std::size_t>(out->num_hidden_layers)) continue;
    out->attention_layer.assign(kinds->size(), true);
    for (std::size_t i = 0; i < kinds->size(); ++i)
      if (is_cacheless_kind(text_of(&(*kinds)[i]))) out->attention_layer[i] = false;
    return;
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
             layers < 0 ? "expected num_hidden_layers to be a positive integer, found " +
                              dump_of(member(scope_of(cfg, "num_hidden_layers"), "num_hidden_layers"))
                        : "expected key \"num_hidden_layers\" (or text_config.num_hidden_layers), found no such key");
    return false;
  }
  if (layers > limits.max_layers) {
    sink.add(
        DiagCode::too_many_layers, ptr,
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
