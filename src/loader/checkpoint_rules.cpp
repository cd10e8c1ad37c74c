// The C rules of docs/checkpoint-scales.md over the scale tensors of a checkpoint, and the
// tensor-parallel split of per-head scales. Values are read here, a few bytes each.
#include "checkpoint_rules.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "kvscale/half.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {
namespace {

std::string tensor_ptr(const ScaleTensor& s, const char* field = nullptr) {
  std::string p;
  append_pointer_segment(p, s.tensor->name);
  if (field) append_pointer_segment(p, field);
  return p;
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void add_at(Sink& sink, const ScaleTensor& s, DiagCode code, std::string ptr, std::string msg) {
  sink.set_file(s.label);
  sink.add(code, std::move(ptr), std::move(msg));
}

/// C2: F32, F16, BF16 exact; F64 rounded to nearest float32.
bool scale_dtype_ok(StDtype d) {
  return d == StDtype::F32 || d == StDtype::F16 || d == StDtype::BF16 || d == StDtype::F64;
}

float to_f32(StDtype d, const std::uint8_t* p) {
  switch (d) {
    case StDtype::F16: return half::f16_to_f32(static_cast<std::uint16_t>(p[0] | p[1] << 8));
    case StDtype::BF16: return half::bf16_to_f32(static_cast<std::uint16_t>(p[0] | p[1] << 8));
    case StDtype::F64: {
      std::uint64_t b = 0;
      for (int i = 7; i >= 0; --i) b = b << 8 | p[i];
      double x;
      std::memcpy(&x, &b, sizeof x);
      return static_cast<float>(x);  // round to nearest even (the default rounding mode)
    }
    default: {
      const std::uint32_t b = static_cast<std::uint32_t>(p[0] | p[1] << 8 | p[2] << 16) | std::uint32_t{p[3]} << 24;
      float x;
      std::memcpy(&x, &b, sizeof x);
      return x;
    }
  }
}

/// Length n of an [n] or [n,1,1] shape; 0 for any other shape.
std::uint64_t head_shape(const std::vector<std::uint64_t>& shape) {
  if (shape.size() == 1) return shape[0];
  if (shape.size() == 3 && shape[1] == 1 && shape[2] == 1) return shape[0];
  return 0;
}

std::uint64_t numel(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) n *= d;  // S4 bounds the product by 2^62
  return n;
}

struct Slot {
  const ScaleTensor* src = nullptr;
  ScaleEntry entry;
};

class Checker {
 public:
  Checker(const CheckpointConfig* cfg, const LoadLimits& lim, Sink& sink) : cfg_(cfg), lim_(lim), sink_(sink) {}

  void run(const CheckpointFiles& files, std::vector<Diagnostic>* warnings, CheckpointScales* out);
  bool failed() const { return failed_; }

 private:
  void check_one(const ScaleTensor& s);
  bool layer_ok(const ScaleTensor& s);
  bool claim(const ScaleTensor& s);
  bool shape_ok(const ScaleTensor& s, Granularity* g);
  bool read_values(const ScaleTensor& s, Granularity g, ScaleEntry* e);
  void store(const ScaleTensor& s, const ScaleEntry& e);
  void check_bare_heads(CheckpointScales* out);
  void check_layers(int num_layers);
  bool check_declaration(bool any_scale, std::vector<Diagnostic>* warnings);
  void check_strategy();
  void check_uniform();

  const CheckpointConfig* cfg_;
  const LoadLimits& lim_;
  Sink& sink_;
  std::vector<Slot> k_, v_;  // by layer
  std::vector<std::pair<const ScaleTensor*, std::uint64_t>> bare_heads_;
  bool failed_ = false;
  std::string weights_label_;
};

bool Checker::layer_ok(const ScaleTensor& s) {
  const int layer = s.name.layer;
  if (!cfg_) {
    if (layer >= lim_.max_layers) {
      add_at(sink_, s, DiagCode::too_many_layers, tensor_ptr(s),
             "expected layers below " + std::to_string(lim_.max_layers) + ", found layer " + std::to_string(layer));
      return false;
    }
    return true;
  }
  if (layer >= cfg_->num_hidden_layers) {
    add_at(sink_, s, DiagCode::layer_unexpected, tensor_ptr(s),
           "expected layers 0.." + std::to_string(cfg_->num_hidden_layers - 1) + " (num_hidden_layers " +
               std::to_string(cfg_->num_hidden_layers) + "), found layer " + std::to_string(layer));
    return false;
  }
  if (!cfg_->attention_layer.empty() && !cfg_->attention_layer[static_cast<std::size_t>(layer)]) {
    add_at(sink_, s, DiagCode::layer_unexpected, tensor_ptr(s),
           "expected scales only on attention layers, found one on layer " + std::to_string(layer) +
               ", which config.json marks as having no KV cache");
    return false;
  }
  return true;
}

bool Checker::shape_ok(const ScaleTensor& s, Granularity* g) {
  const std::vector<std::uint64_t>& shape = s.tensor->shape;
  if (numel(shape) == 1) {
    *g = Granularity::tensor;
    return true;
  }
  const std::uint64_t n = head_shape(shape);
  const int want = cfg_ ? cfg_->num_kv_heads : 0;
  if (cfg_ ? (want > 0 && n == static_cast<std::uint64_t>(want))
           : (n >= 2 && n <= static_cast<std::uint64_t>(lim_.max_heads))) {
    *g = Granularity::head;
    if (!cfg_) bare_heads_.emplace_back(&s, n);
    return true;
  }
  add_at(sink_, s, DiagCode::scale_shape_invalid, tensor_ptr(s, "shape"),
         "expected one element (per tensor) or [H] / [H,1,1] with H = " +
             (cfg_ ? (want > 0 ? std::to_string(want) + " KV heads" : std::string("the config's KV heads (unknown)"))
                   : std::string("the common head count >= 2")) +
             ", found shape " + shape_text(shape));
  return false;
}

bool Checker::read_values(const ScaleTensor& s, Granularity g, ScaleEntry* e) {
  std::vector<std::uint8_t> bytes;
  sink_.set_file(s.label);
  if (!s.file->read_tensor(*s.tensor, &bytes, sink_)) return false;
  const std::size_t width = st_dtype_size(s.tensor->dtype);
  const std::size_t n = bytes.size() / width;
  e->granularity = g;
  e->values.resize(n);
  bool ok = true;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = to_f32(s.tensor->dtype, bytes.data() + i * width);
    e->values[i] = x;
    if (!(std::isfinite(x) && x > 0.0f)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x));
      add_at(sink_, s, DiagCode::scale_out_of_range, tensor_ptr(s),
             "expected a finite float32 scale > 0" + (n > 1 ? " for head " + std::to_string(i) : std::string()) +
                 ", found " + buf + " (hint: scales are amax / 448 of a calibration run)");
      ok = false;
    }
  }
  return ok;
}

/// C1: one source for each layer's K and V. A tensor that meets a source already there is reported
/// once (a kv_scale may meet both k_scale and v_scale) and claims nothing.
bool Checker::claim(const ScaleTensor& s) {
  const std::size_t layer = static_cast<std::size_t>(s.name.layer);
  if (k_.size() <= layer) k_.resize(layer + 1), v_.resize(layer + 1);
  Slot* k = s.name.role != ScaleRole::v ? &k_[layer] : nullptr;
  Slot* v = s.name.role != ScaleRole::k ? &v_[layer] : nullptr;
  const ScaleTensor* first = k && k->src ? k->src : v && v->src ? v->src : nullptr;
  if (!first) {
    if (k) k->src = &s;
    if (v) v->src = &s;
    return true;
  }
  const char* kind = k && k->src && v && v->src ? "K and V" : k && k->src ? "K" : "V";
  add_at(sink_, s, DiagCode::duplicate_scale, tensor_ptr(s),
         std::string("expected one ") + kind + " scale for layer " + std::to_string(layer) + ", found a second (" +
             quote(s.tensor->name) + " besides " + first->label + ":" + quote(first->tensor->name) + "; remove one)");
  return false;
}

void Checker::store(const ScaleTensor& s, const ScaleEntry& e) {
  const std::size_t layer = static_cast<std::size_t>(s.name.layer);
  if (k_[layer].src == &s) k_[layer].entry = e;
  if (v_[layer].src == &s) v_[layer].entry = e;
}

void Checker::check_one(const ScaleTensor& s) {
  if (!layer_ok(s) || !claim(s)) return void(failed_ = true);
  if (!scale_dtype_ok(s.tensor->dtype)) {
    add_at(sink_, s, DiagCode::scale_dtype_unsupported, tensor_ptr(s, "dtype"),
           std::string("expected a scale of dtype F32, F16, BF16 or F64, found ") + st_dtype_name(s.tensor->dtype));
    return void(failed_ = true);
  }
  Granularity g;
  ScaleEntry e;
  if (!shape_ok(s, &g) || !read_values(s, g, &e)) return void(failed_ = true);
  store(s, e);
}

/// A bare file has no config: H is the common length of its [n] / [n,1,1] tensors.
void Checker::check_bare_heads(CheckpointScales* out) {
  if (bare_heads_.empty()) return;
  const std::uint64_t h = bare_heads_.front().second;
  out->num_heads = static_cast<int>(h);
  for (const auto& [s, n] : bare_heads_) {
    if (n == h) continue;
    add_at(sink_, *s, DiagCode::scale_shape_invalid, tensor_ptr(*s, "shape"),
           "expected every per-head scale to have the file's common head count " + std::to_string(h) + ", found " +
               shape_text(s->tensor->shape));
    failed_ = true;
  }
}

/// C5: every (attention) layer 0..L-1 has a K and a V scale.
void Checker::check_layers(int num_layers) {
  k_.resize(static_cast<std::size_t>(num_layers));
  v_.resize(static_cast<std::size_t>(num_layers));
  sink_.set_file(weights_label_);
  const std::string range = "(layers 0.." + std::to_string(num_layers - 1) + ")";
  for (int l = 0; l < num_layers && !sink_.full(); ++l) {
    if (cfg_ && !cfg_->attention_layer.empty() && !cfg_->attention_layer[static_cast<std::size_t>(l)]) continue;
    const bool k = k_[static_cast<std::size_t>(l)].src != nullptr, v = v_[static_cast<std::size_t>(l)].src != nullptr;
    if (k && v) continue;
    sink_.add(DiagCode::layer_missing, "",
              "expected a K and a V scale for layer " + std::to_string(l) + " " + range + ", found " +
                  (k   ? "no V scale"
                   : v ? "no K scale"
                       : "neither"));
    failed_ = true;
  }
}

/// C9: a declared kv_cache_scheme.strategy must match the tensors' granularity.
void Checker::check_strategy() {
  if (!cfg_ || cfg_->strategy == KvStrategy::none) return;
  const Granularity want = cfg_->strategy == KvStrategy::attn_head ? Granularity::head : Granularity::tensor;
  for (const auto* slots : {&k_, &v_})
    for (const Slot& slot : *slots) {
      if (!slot.src || slot.entry.values.empty() || slot.entry.granularity == want) continue;
      if (slots == &v_ && k_[static_cast<std::size_t>(slot.src->name.layer)].src == slot.src) continue;  // kv_scale
      add_at(sink_, *slot.src, DiagCode::scale_granularity_mismatch, tensor_ptr(*slot.src, "shape"),
             std::string("expected ") + (want == Granularity::head ? "per-head" : "per-tensor") +
                 " scales (config.json kv_cache_scheme.strategy \"" +
                 (want == Granularity::head ? "attn_head" : "tensor") + "\"), found shape " +
                 shape_text(slot.src->tensor->shape));
      failed_ = true;
    }
}

/// C6..C8: scales against the config's declaration of an FP8 KV cache.
bool Checker::check_declaration(bool any_scale, std::vector<Diagnostic>* warnings) {
  if (any_scale) {
    if (cfg_ && !cfg_->kv_declared)
      warnings->push_back({DiagCode::kv_scheme_undeclared, "",
                           "scales found, but config.json declares no FP8 KV cache (quantization_config."
                           "kv_cache_scheme, kv_cache_quant_algo or a Quark KV-cache config); vLLM may ignore them",
                           "config.json"});
    return true;
  }
  if (cfg_ && cfg_->kv_declared) {
    sink_.set_file("config.json");
    sink_.add(DiagCode::kv_scales_missing, cfg_->scheme_pointer,
              "expected k_scale/v_scale tensors for the declared FP8 KV cache, found none (hint: vLLM would warn and "
              "run with scale 1.0; check the tensor names)");
  } else {
    sink_.set_file(cfg_ ? "config.json" : weights_label_);
    sink_.add(DiagCode::no_kv_scales, "",
              "expected KV-cache scales (k_scale/v_scale tensors) or an FP8 KV-cache declaration, found neither");
  }
  return false;
}

void Checker::run(const CheckpointFiles& files, std::vector<Diagnostic>* warnings, CheckpointScales* out) {
  weights_label_ = files.weights_label;
  bool any_scale = false;
  // The deprecated kv_scale goes last, so that beside k_scale and v_scale it is the one reported.
  for (bool kv_pass : {false, true})
    for (const ScaleTensor& s : files.scales) {
      if (!is_kv_role(s.name.role) || (s.name.role == ScaleRole::kv) != kv_pass) continue;
      any_scale = true;
      check_one(s);
      if (sink_.full()) return void(failed_ = true);
    }
  if (!check_declaration(any_scale, warnings)) return void(failed_ = true);
  out->num_heads = cfg_ ? cfg_->num_kv_heads : 0;
  if (!cfg_) check_bare_heads(out);
  check_layers(cfg_ ? cfg_->num_hidden_layers : static_cast<int>(k_.size()));
  check_strategy();
  if (!cfg_ && !failed_) check_uniform();
  if (failed_) return;
  out->num_layers = static_cast<int>(k_.size());
  for (std::size_t l = 0; l < k_.size(); ++l) {
    const bool cacheless = k_[l].src == nullptr;  // a hybrid model's layer without a KV cache
    out->k.push_back(cacheless ? ScaleEntry{Granularity::tensor, {1.0f}} : k_[l].entry);
    out->v.push_back(cacheless ? ScaleEntry{Granularity::tensor, {1.0f}} : v_[l].entry);
  }
}

/// Without a config every entry has the same granularity (as `kvscale convert` writes).
void Checker::check_uniform() {
  if (k_.empty() || !k_.front().src) return;
  const Granularity g = k_.front().entry.granularity;
  for (const auto* slots : {&k_, &v_})
    for (const Slot& slot : *slots) {
      if (slot.entry.granularity == g) continue;
      add_at(sink_, *slot.src, DiagCode::scale_granularity_mismatch, tensor_ptr(*slot.src, "shape"),
             std::string("expected every scale of a file without config.json to be ") +
                 (g == Granularity::head ? "per head" : "per tensor") + " like layer 0's K, found shape " +
                 shape_text(slot.src->tensor->shape));
      failed_ = true;
      return;
    }
}

}  // namespace

bool check_scales(const CheckpointFiles& files, const CheckpointConfig* config, const LoadLimits& limits, Sink& sink,
                  std::vector<Diagnostic>* warnings, CheckpointScales* out) {
  Checker c(config, limits, sink);
  c.run(files, warnings, out);
  return !c.failed();
}

namespace {
/// The heads rank `rank` of `tp` holds, as [first, first + count) of H.
bool rank_heads(int heads, int tp, int rank, int* first, int* count) {
  if (heads % tp == 0) {
    *count = heads / tp;
    *first = rank * *count;
    return true;
  }
  if (tp % heads == 0) {
    *count = 1;
    *first = rank / (tp / heads);
    return true;
  }
  return false;
}
}  // namespace

bool split_for_tp(const CheckpointScales& scales, int tp_size, std::optional<std::string> model_type, Sink& sink,
                  ScaleTable* out) {
  bool any_head = false;
  for (const auto* e : {&scales.k, &scales.v})
    for (const ScaleEntry& x : *e) any_head = any_head || x.granularity == Granularity::head;
  int first = 0, count = scales.num_heads;
  if (any_head && !rank_heads(scales.num_heads, tp_size, 0, &first, &count)) {
    sink.set_file("");
    sink.add(DiagCode::tp_heads_incompatible, "",
             "expected tp_size to divide the " + std::to_string(scales.num_heads) +
                 " KV heads of the per-head scales, or to be a multiple of them, found tp_size " +
                 std::to_string(tp_size));
    return false;
  }
  std::vector<ScaleEntry> k, v;
  k.reserve(static_cast<std::size_t>(tp_size) * scales.k.size());
  v.reserve(k.capacity());
  for (int r = 0; r < tp_size; ++r) {
    if (any_head) rank_heads(scales.num_heads, tp_size, r, &first, &count);
    for (std::size_t l = 0; l < scales.k.size(); ++l)
      for (auto [src, dst] : {std::make_pair(&scales.k[l], &k), std::make_pair(&scales.v[l], &v)}) {
        if (src->granularity == Granularity::tensor) {
          dst->push_back(*src);
          continue;
        }
        dst->push_back(
            {Granularity::head, std::vector<float>(src->values.begin() + first, src->values.begin() + first + count)});
      }
  }
  *out = ScaleTable(tp_size, scales.num_layers, any_head ? count : 0, k, v, std::move(model_type));
  return true;
}

}  // namespace loader
}  // namespace kvscale
