// kvscale roundtrip: the main job. Loads a scales file, uploads one rank's scales, and for every
// layer writes synthetic K/V into a paged FP8 cache and reads it back, reporting the error and the
// speed of each phase. On a GPU it also checks that the bytes equal the CPU reference.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "json_out.hpp"
#include "kvscale/kvscale.hpp"

#ifndef KVSCALE_EXAMPLE_FILE
#define KVSCALE_EXAMPLE_FILE ""
#endif
#ifndef KVSCALE_INSTALLED_EXAMPLE_FILE
#define KVSCALE_INSTALLED_EXAMPLE_FILE ""
#endif

namespace kvscale {
namespace cli {

const char kRoundtripUsage[] =
    "usage: kvscale roundtrip [FILE] [options]\n"
    "\n"
    "For every layer of one TP rank: generate reproducible synthetic K/V (normal, amax near\n"
    "scale x fp8 max, plus outliers and padding slots), quantize them into a paged FP8 cache with\n"
    "the layer's scale, read them back, and report max |error|, RMS relative error, the saturated\n"
    "fraction and time/bandwidth per phase. On a GPU the cache and output bytes are compared with\n"
    "the CPU reference. Without FILE, the bundled Llama-2-7B example is used. FILE may be any scales\n"
    "source (scales file, checkpoint directory, .safetensors); per-head scales are passed to the\n"
    "kernels with scale stride 1 (--kv-heads then defaults to, and must equal, the heads per rank).\n"
    "\n"
    "options:\n"
    "  --tp-size N --tp-rank R --num-layers L   context (all three, or none: taken from the file)\n"
    "  --model-type T                           expected model_type\n"
    "  --format e4m3fn|e4m3fnuz|native          cache format (default native: the device's, e4m3fn on CPU)\n"
    "  --backend auto|hip|cuda|cpu              default auto: the GPU if one is present, else the CPU\n"
    "  --tokens N      tokens per layer (default 4096)     --kv-heads H   (default 8)\n"
    "  --head-size D   (default 128)                       --block-size B (default 16)\n"
    "  --dtype bf16|f16|f32  (default bf16)                --seed S       (default 1)\n"
    "  --layout nhd|hnd|split (default nhd; split: vLLM ROCm, head-size % 16 == 0)\n"
    "  --json                machine-readable output\n"
    "  --calibrate OUT  also calibrate: observe_amax over every layer's synthetic K/V (padding\n"
    "                   tokens skipped), write scale = amax / 448 per layer to OUT (.json: K and V\n"
    "                   merged with max, rank 0 only; .safetensors: K and V apart), re-run the\n"
    "                   round trip with OUT's scales, and report the error before and after\n"
    "  --force          with --calibrate: replace OUT if it exists\n";

namespace {

// ---- reproducible synthetic data -------------------------------------------------------------

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double uniform01(std::uint64_t& s) { return static_cast<double>(splitmix(s) >> 11) * 0x1.0p-53; }

// Standard normals (Box-Muller), generated once; each layer scales a rotated window of them.
std::vector<float> standard_normals(std::size_t n, std::uint64_t seed) {
  std::vector<float> z(n);
  std::uint64_t s = seed;
  for (std::size_t i = 0; i < n; i += 2) {
    const double u1 = std::max(uniform01(s), 1e-300), u2 = uniform01(s);
    const double r = std::sqrt(-2.0 * std::log(u1));
    z[i] = static_cast<float>(r * std::cos(6.283185307179586 * u2));
    if (i + 1 < n) z[i + 1] = static_cast<float>(r * std::sin(6.283185307179586 * u2));
  }
  return z;
}

void store(DType t, void* base, std::size_t i, float v) {
  if (t == DType::f32) {
    static_cast<float*>(base)[i] = v;
  } else if (t == DType::f16) {
    static_cast<std::uint16_t*>(base)[i] = half::f32_to_f16(v);
  } else {
    static_cast<std::uint16_t*>(base)[i] = half::f32_to_bf16(v);
  }
}
float load(DType t, const void* base, std::size_t i) {
  if (t == DType::f32) return static_cast<const float*>(base)[i];
  if (t == DType::f16) return half::f16_to_f32(static_cast<const std::uint16_t*>(base)[i]);
  return half::bf16_to_f32(static_cast<const std::uint16_t*>(base)[i]);
}

struct Shape {
  std::int64_t tokens = 4096, heads = 8, head_size = 128, block_size = 16;
  DType dtype = DType::bf16;
  CacheLayout layout = CacheLayout::nhd;
  std::uint64_t seed = 1;
  std::size_t elems() const { return static_cast<std::size_t>(tokens * heads * head_size); }
  std::size_t row() const { return static_cast<std::size_t>(heads * head_size); }
};

struct LayerStats {
  double max_abs_err = 0, rms_rel_err = 0, saturated = 0;
  double write_ms = 0, read_ms = 0;
  bool bytes_match = true;  // GPU vs CPU reference (always true on the CPU backend)
};

// The bytes each phase moves, each counted once: write reads K,V and the slots and writes both
// caches; read reads the slots and both caches and writes K,V.
double phase_bytes(const Shape& s, std::int64_t valid_tokens) {
  const double row_in = static_cast<double>(s.row() * dtype_size(s.dtype));
  const double row_fp8 = static_cast<double>(s.row());
  return 2.0 * static_cast<double>(valid_tokens) * (row_in + row_fp8) + 8.0 * static_cast<double>(s.tokens);
}

// ---- backends behind one interface ---------------------------------------------------------

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Runs write then read for one layer; returns timings and fills cache/out host copies.
  // w and r carry the host scales (k_scale/v_scale and their strides); a GPU backend uses its
  // DeviceScales for `layer` instead.
  virtual Status run(PagedWriteArgs w, PagedReadArgs r, int layer, LayerStats* st, std::vector<std::uint8_t>* kc,
                     std::vector<std::uint8_t>* vc, std::vector<unsigned char>* ko, std::vector<unsigned char>* vo) = 0;
};

// GB/s of `bytes` moved in `ms`; 0 when the timer saw no time (keeps the JSON valid).
double gbps(double bytes, double ms) { return ms > 0 ? bytes / ms / 1e6 : 0.0; }

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

class CpuBackend : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  Status run(PagedWriteArgs w, PagedReadArgs r, int, LayerStats* st, std::vector<std::uint8_t>* kc,
             std::vector<std::uint8_t>* vc, std::vector<unsigned char>* ko, std::vector<unsigned char>* vo) override {
    w.key_cache = kc->data();
    w.value_cache = vc->data();
    auto t0 = std::chrono::steady_clock::now();
    if (Status s = cpu::paged_write(w); s != Status::success) return s;
    st->write_ms = ms_since(t0);
    r.key_cache = kc->data();
    r.value_cache = vc->data();
    r.key = ko->data();
    r.value = vo->data();
    t0 = std::chrono::steady_clock::now();
    if (Status s = cpu::paged_read(r); s != Status::success) return s;
    st->read_ms = ms_since(t0);
    return Status::success;
  }
};

class GpuBackend : public Backend {
 public:
  GpuBackend(int device, DeviceScales scales) : device_(device), scales_(std::move(scales)) {}
  const char* name() const override { return gpu::backend_name(); }

  Status run(PagedWriteArgs w, PagedReadArgs r, int layer, LayerStats* st, std::vector<std::uint8_t>* kc,
             std::vector<std::uint8_t>* vc, std::vector<unsigned char>* ko, std::vector<unsigned char>* vo) override {
    const std::size_t in_bytes =
        static_cast<std::size_t>(w.rows.num_tokens * w.rows.key_row_stride) * dtype_size(w.dtype);
    const std::size_t cache_bytes = kc->size();
    const std::size_t slot_bytes = static_cast<std::size_t>(w.rows.num_tokens) * sizeof(std::int64_t);
    if (key_.data() == nullptr) {
      Status s = Status::success;
      if ((s = gpu::DeviceBuffer::create(device_, in_bytes, &key_)) != Status::success ||
          (s = gpu::DeviceBuffer::create(device_, in_bytes, &value_)) != Status::success ||
          (s = gpu::DeviceBuffer::create(device_, in_bytes, &key_out_)) != Status::success ||
          (s = gpu::DeviceBuffer::create(device_, in_bytes, &value_out_)) != Status::success ||
          (s = gpu::DeviceBuffer::create(device_, cache_bytes, &kc_)) != Status::success ||
          (s = gpu::DeviceBuffer::create(device_, cache_bytes, &vc_)) != Status::success ||
          (s = gpu::DeviceBuffer::create(device_, slot_bytes, &slots_)) != Status::success)
        return s;
    }
    Stream stream = nullptr;
    Status s = Status::success;
    // Same starting bytes as the CPU reference's buffers (the caller zeroed them).
    if ((s = key_.upload(w.key, in_bytes, stream)) != Status::success ||
        (s = value_.upload(w.value, in_bytes, stream)) != Status::success ||
        (s = slots_.upload(w.slot_mapping, slot_bytes, stream)) != Status::success ||
        (s = kc_.fill(0, stream)) != Status::success || (s = vc_.fill(0, stream)) != Status::success ||
        (s = key_out_.fill(0, stream)) != Status::success || (s = value_out_.fill(0, stream)) != Status::success)
      return s;
    w.key = key_.data();
    w.value = value_.data();
    w.slot_mapping = static_cast<const std::int64_t*>(slots_.data());
    w.key_cache = static_cast<std::uint8_t*>(kc_.data());
    w.value_cache = static_cast<std::uint8_t*>(vc_.data());
    w.k_scale = scales_.k_scale(layer);
    w.v_scale = scales_.v_scale(layer);
    w.k_scale_stride = scales_.k_scale_stride(layer);
    w.v_scale_stride = scales_.v_scale_stride(layer);
    r.key_cache = w.key_cache;
    r.value_cache = w.value_cache;
    r.slot_mapping = w.slot_mapping;
    r.key = key_out_.data();
    r.value = value_out_.data();
    r.k_scale = w.k_scale;
    r.v_scale = w.v_scale;
    r.k_scale_stride = w.k_scale_stride;
    r.v_scale_stride = w.v_scale_stride;
    float ms = 0;
    if ((s = timer_.start(stream)) != Status::success || (s = gpu::paged_write(w, stream)) != Status::success ||
        (s = timer_.stop(stream)) != Status::success || (s = timer_.elapsed_ms(&ms)) != Status::success)
      return s;
    st->write_ms = ms;
    if ((s = timer_.start(stream)) != Status::success || (s = gpu::paged_read(r, stream)) != Status::success ||
        (s = timer_.stop(stream)) != Status::success || (s = timer_.elapsed_ms(&ms)) != Status::success)
      return s;
    st->read_ms = ms;
    if ((s = kc_.download(kc->data(), cache_bytes, stream)) != Status::success ||
        (s = vc_.download(vc->data(), cache_bytes, stream)) != Status::success ||
        (s = key_out_.download(ko->data(), in_bytes, stream)) != Status::success ||
        (s = value_out_.download(vo->data(), in_bytes, stream)) != Status::success)
      return s;
    return gpu::synchronize(stream);
  }

 private:
  int device_;
  DeviceScales scales_;
  gpu::DeviceBuffer key_, value_, key_out_, value_out_, kc_, vc_, slots_;
  gpu::EventTimer timer_;
};

bool parse_choice(const std::string& name, const std::string& v, const std::vector<std::string>& allowed,
                  std::string* error) {
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return true;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
  *error = name + ": expected " + list + ", got '" + v + "'";
  return false;
}

std::string example_file() {
  for (const char* p : {KVSCALE_INSTALLED_EXAMPLE_FILE, KVSCALE_EXAMPLE_FILE})
    if (p[0] != '\0' && access(p, R_OK) == 0) return p;
  return "";
}

// ---- one pass over every layer -------------------------------------------------------------

// The scales of one layer as the kernels take them: head h of K uses k[h * k_stride] (V likewise),
// stride 0 per tensor, 1 per head.
struct LayerScales {
  const float* k = nullptr;
  const float* v = nullptr;
  int k_stride = 0, v_stride = 0;
  double of(int side, std::size_t h) const {
    return static_cast<double>(side ? v[h * static_cast<std::size_t>(v_stride)]
                                    : k[h * static_cast<std::size_t>(k_stride)]);
  }
};

// Layer `layer` of effective scales laid out [K | V][layer][head slot], as DeviceScales holds them.
LayerScales layer_scales(const EffectiveScales& e, int layer) {
  const std::size_t l = static_cast<std::size_t>(layer), slots = static_cast<std::size_t>(e.head_slots);
  const float* base = e.values.data();
  return LayerScales{base + l * slots, base + (static_cast<std::size_t>(e.num_layers) + l) * slots, e.k_stride[l],
                     e.v_stride[l]};
}

struct ErrorSums {
  double err2 = 0, ref2 = 0, max_abs = 0, sat = 0, count = 0;
};

// The buffers of a run, shared by its passes: one set of standard normals, slots with padding,
// caches sized with spare blocks, the host copies of the outputs and of the CPU reference.
class RoundTrip {
 public:
  RoundTrip(const Shape& shape, Fp8Format format)
      : shape_(shape), n_(shape.elems()), fmax_(static_cast<double>(fp8::max_finite(format))) {
    z_ = standard_normals(n_ + 4099, shape.seed);
    const std::int64_t blocks = (shape.tokens + shape.block_size - 1) / shape.block_size + 4;
    const PagedCacheShape cache{shape.layout, blocks, shape.block_size, shape.heads, shape.head_size};
    slots_.resize(static_cast<std::size_t>(shape.tokens));
    std::vector<std::int64_t> perm(static_cast<std::size_t>(cache.num_slots()));
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<std::int64_t>(i);
    std::uint64_t s = shape.seed ^ 0xA5A5A5A5ull;
    for (std::size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[splitmix(s) % (i + 1)]);
    for (std::size_t t = 0; t < slots_.size(); ++t) slots_[t] = (t % 61 == 7) ? -1 : perm[t];  // ~1.6% padding
    for (auto sl : slots_) valid_tokens_ += sl >= 0;
    const std::size_t bytes = n_ * dtype_size(shape.dtype);
    key_.resize(bytes);
    value_.resize(bytes);
    key_out_.resize(bytes);
    value_out_.resize(bytes);
    kc_.resize(static_cast<std::size_t>(cache.bytes()));
    vc_.resize(kc_.size());
    w_.format = r_.format = format;
    w_.dtype = r_.dtype = shape.dtype;
    w_.rows = r_.rows = TokenRows{shape.tokens, shape.heads, shape.head_size, static_cast<std::int64_t>(shape.row()),
                                  static_cast<std::int64_t>(shape.row())};
    w_.key = key_.data();
    w_.value = value_.data();
    w_.slot_mapping = r_.slot_mapping = slots_.data();
    w_.cache = r_.cache = cache;
  }

  std::int64_t valid_tokens() const { return valid_tokens_; }
  std::size_t amax_stride() const { return static_cast<std::size_t>(amax_floats(shape_.heads)); }

  // One layer: K/V generated from `data`, written to the paged cache and read back with `quant` on
  // `backend` (a GPU backend uses its DeviceScales, which must hold `quant`); on a GPU the CPU
  // reference must give the same bytes. With `amax` (amax_stride() floats), K/V are observed first
  // (padding tokens skipped). Prints the reason and returns false on failure.
  bool run_layer(Backend& backend, bool gpu, int layer, const LayerScales& data, const LayerScales& quant, float* amax,
                 LayerStats* st, ErrorSums* sums) {
    generate(layer, data);
    if (amax != nullptr) {
      const ObserveAmaxArgs oa{shape_.dtype, w_.rows, key_.data(), value_.data(), slots_.data(), amax};
      if (cpu::observe_amax(oa) != Status::success) {
        std::fprintf(stderr, "kvscale roundtrip: observe_amax failed: %s\n", last_error_message().c_str());
        return false;
      }
    }
    PagedWriteArgs w = w_;
    PagedReadArgs r = r_;
    w.k_scale = r.k_scale = quant.k;
    w.v_scale = r.v_scale = quant.v;
    w.k_scale_stride = r.k_scale_stride = quant.k_stride;
    w.v_scale_stride = r.v_scale_stride = quant.v_stride;
    zero(&kc_, &vc_, &key_out_, &value_out_);
    if (Status s = backend.run(w, r, layer, st, &kc_, &vc_, &key_out_, &value_out_); s != Status::success) {
      std::fprintf(stderr, "kvscale roundtrip: layer %d failed: %s: %s\n", layer, status_name(s),
                   last_error_message().c_str());
      return false;
    }
    if (gpu) {  // the CPU reference on the same input must give the same bytes
      ref_kc_.resize(kc_.size());
      ref_vc_.resize(vc_.size());
      ref_ko_.resize(key_out_.size());
      ref_vo_.resize(value_out_.size());
      zero(&ref_kc_, &ref_vc_, &ref_ko_, &ref_vo_);
      LayerStats ignored;
      CpuBackend ref;
      if (ref.run(w, r, layer, &ignored, &ref_kc_, &ref_vc_, &ref_ko_, &ref_vo_) != Status::success) {
        std::fprintf(stderr, "kvscale roundtrip: CPU reference failed: %s\n", last_error_message().c_str());
        return false;
      }
      st->bytes_match = ref_kc_ == kc_ && ref_vc_ == vc_ && ref_ko_ == key_out_ && ref_vo_ == value_out_;
    }
    *sums = measure(quant);
    st->max_abs_err = sums->max_abs;
    st->rms_rel_err = sums->ref2 > 0 ? std::sqrt(sums->err2 / sums->ref2) : 0.0;
    st->saturated = sums->count > 0 ? sums->sat / sums->count : 0.0;
    return true;
  }

 private:
  template <typename... V>
  static void zero(V*... v) {
    (std::fill(v->begin(), v->end(), 0), ...);
  }

  // K/V: normal with amax near the head's scale x fp8 max (~5 sigma over millions of samples),
  // plus ~0.05% outliers beyond the range, which must saturate. Depends on the layer and `data` only.
  void generate(int layer, const LayerScales& data) {
    const std::size_t off = static_cast<std::size_t>(layer) * 131u % 4099u;  // a different window per layer
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t h = (i % shape_.row()) / static_cast<std::size_t>(shape_.head_size);
      double kx = data.of(0, h) * fmax_ / 5.0 * static_cast<double>(z_[i + off]);
      double vx = -data.of(1, h) * fmax_ / 5.0 * static_cast<double>(z_[(i + off + n_ / 2) % n_]);
      if ((i * 2654435761u + static_cast<std::size_t>(layer)) % 2003u == 0) {
        kx *= 8.0;
        vx *= 8.0;
      }
      store(shape_.dtype, key_.data(), i, static_cast<float>(kx));
      store(shape_.dtype, value_.data(), i, static_cast<float>(vx));
    }
  }

  // The error of the outputs against the inputs over the valid tokens; saturated against `quant`.
  ErrorSums measure(const LayerScales& quant) const {
    ErrorSums e;
    for (std::size_t t = 0; t < slots_.size(); ++t) {
      if (slots_[t] < 0) continue;
      for (std::size_t j = 0; j < shape_.row(); ++j) {
        const std::size_t i = t * shape_.row() + j, h = j / static_cast<std::size_t>(shape_.head_size);
        for (int side = 0; side < 2; ++side) {
          const double in = static_cast<double>(load(shape_.dtype, side ? value_.data() : key_.data(), i));
          const double out = static_cast<double>(load(shape_.dtype, side ? value_out_.data() : key_out_.data(), i));
          const double d = std::fabs(out - in);
          e.max_abs = std::max(e.max_abs, d);
          e.err2 += d * d;
          e.ref2 += in * in;
          e.sat += std::fabs(out) >= quant.of(side, h) * fmax_ * (1.0 - 1e-6) ? 1.0 : 0.0;
          e.count += 1;
        }
      }
    }
    return e;
  }

  Shape shape_;
  std::size_t n_;
  double fmax_;
  std::vector<float> z_;
  std::vector<std::int64_t> slots_;
  std::int64_t valid_tokens_ = 0;
  std::vector<unsigned char> key_, value_, key_out_, value_out_, ref_ko_, ref_vo_;
  std::vector<std::uint8_t> kc_, vc_, ref_kc_, ref_vc_;
  PagedWriteArgs w_;
  PagedReadArgs r_;
};

// What the output says about the run; the same for every pass.
struct RunInfo {
  std::string file, why, layout;
  Shape shape;
  Fp8Format format = Fp8Format::e4m3fn;
  int rank = 0;
  bool per_head = false, gpu = false, json = false, progress = false;
};

struct PassTotals {
  double rms = 0, sat = 0;
  bool all_match = true;
  std::string json;  // the pass's object, with --json
};

void print_table_header(const RunInfo& info, const char* scale_label) {
  std::printf("%5s %12s %12s %12s %10s %10s %10s %10s %10s%s\n", "layer", scale_label, "max|err|", "rms rel err",
              "saturated", "write ms", "write GB/s", "read ms", "read GB/s", info.gpu ? "  vs CPU" : "");
}

// One layer's row: a line of the table, or an object of the pass's "layers" array.
void report_layer(const RunInfo& info, int layer, float scale, const LayerStats& st, double bytes,
                  JsonWriter* layers_json) {
  if (info.json) {
    layers_json->begin_object().key("layer").value(layer).key("scale").value(scale);
    layers_json->key("max_abs_err").number(st.max_abs_err).key("rms_rel_err").number(st.rms_rel_err);
    layers_json->key("saturated_fraction").number(st.saturated).key("write_ms").fixed(st.write_ms, 6);
    layers_json->key("read_ms").fixed(st.read_ms, 6).key("bytes_match").value(st.bytes_match).end_object();
  } else {
    std::printf("%5d %12.6g %12.6g %12.6g %9.4f%% %10.3f %10.2f %10.3f %10.2f%s\n", layer, static_cast<double>(scale),
                st.max_abs_err, st.rms_rel_err, 100.0 * st.saturated, st.write_ms, gbps(bytes, st.write_ms), st.read_ms,
                gbps(bytes, st.read_ms), info.gpu ? (st.bytes_match ? "  equal" : "  DIFFERENT") : "");
  }
}

// The pass's totals: the table's last lines, or the pass's object (into result->json) around the
// layers' array. `bytes` is one layer's per phase.
void report_pass(const RunInfo& info, const Backend& backend, int num_layers, const LayerStats& total, double bytes,
                 const std::string& layers_json, PassTotals* result) {
  const double layers = num_layers;
  const Shape& shape = info.shape;
  if (info.json) {
    JsonWriter o;
    o.begin_object().key("file").value(info.file).key("backend").value(backend.name());
    o.key("backend_reason").value(info.why).key("format").value(format_name(info.format));
    o.key("dtype").value(dtype_name(shape.dtype)).key("tokens").value(static_cast<std::int64_t>(shape.tokens));
    o.key("kv_heads").value(static_cast<std::int64_t>(shape.heads));
    o.key("head_size").value(static_cast<std::int64_t>(shape.head_size));
    o.key("block_size").value(static_cast<std::int64_t>(shape.block_size)).key("tp_rank").value(info.rank);
    o.key("layout").value(info.layout).key("scale_granularity").value(info.per_head ? "head" : "tensor");
    o.key("layers").raw(layers_json).key("total").begin_object();
    o.key("max_abs_err").number(total.max_abs_err).key("rms_rel_err").number(result->rms);
    o.key("saturated_fraction").number(result->sat).key("write_ms").fixed(total.write_ms, 6);
    o.key("read_ms").fixed(total.read_ms, 6).key("write_gbps").fixed(gbps(bytes * layers, total.write_ms), 6);
    o.key("read_gbps").fixed(gbps(bytes * layers, total.read_ms), 6).key("bytes_match").value(result->all_match);
    o.end_object().end_object();
    result->json = o.str();
  } else {
    std::printf("%5s %12s %12.6g %12.6g %9.4f%% %10.3f %10.2f %10.3f %10.2f%s\n", "total", "", total.max_abs_err,
                result->rms, 100.0 * result->sat, total.write_ms, gbps(bytes * layers, total.write_ms), total.read_ms,
                gbps(bytes * layers, total.read_ms), info.gpu ? (result->all_match ? "  equal" : "  DIFFERENT") : "");
    std::printf("\n%s bytes per phase per layer: %.1f MB (K+V in %s, K+V fp8, slots)\n", backend.name(), bytes / 1e6,
                dtype_name(shape.dtype));
  }
}

// One pass over every layer of `data` (which also gives the data), quantized with `quant`. Text:
// prints the rows and the total. JSON: the pass's object goes to result->json. With `amax`
// ([layer][amax_stride()] floats), the data are also observed. Returns false on failure.
bool run_pass(RoundTrip& rt, Backend& backend, const RunInfo& info, const EffectiveScales& data,
              const EffectiveScales& quant, std::vector<float>* amax, PassTotals* result) {
  const double bytes = phase_bytes(info.shape, rt.valid_tokens());
  JsonWriter layers_json;
  layers_json.begin_array();
  LayerStats total;
  ErrorSums sums;
  for (int layer = 0; layer < data.num_layers; ++layer) {
    const LayerScales q = layer_scales(quant, layer);
    float* layer_amax = amax ? amax->data() + static_cast<std::size_t>(layer) * rt.amax_stride() : nullptr;
    LayerStats st;
    ErrorSums e;
    if (!rt.run_layer(backend, info.gpu, layer, layer_scales(data, layer), q, layer_amax, &st, &e)) return false;
    result->all_match = result->all_match && st.bytes_match;
    total.max_abs_err = std::max(total.max_abs_err, st.max_abs_err);
    total.write_ms += st.write_ms;
    total.read_ms += st.read_ms;
    sums.err2 += e.err2;
    sums.ref2 += e.ref2;
    sums.sat += e.sat;
    report_layer(info, layer, q.k[0], st, bytes, &layers_json);  // the scale shown: head 0 of K when per head
    if (info.progress) std::fprintf(stderr, "\r  layer %d/%d", layer + 1, data.num_layers);
  }
  if (info.progress) std::fputs("\r                    \r", stderr);
  result->rms = sums.ref2 > 0 ? std::sqrt(sums.err2 / sums.ref2) : 0.0;
  result->sat = sums.sat / (static_cast<double>(data.num_layers) * 2.0 * static_cast<double>(rt.valid_tokens()) *
                            static_cast<double>(info.shape.row()));
  layers_json.end_array();
  report_pass(info, backend, data.num_layers, total, bytes, layers_json.str(), result);
  return true;
}

// The backend of a pass: the GPU's with `table`'s scales of `rank` uploaded, or the CPU's. Prints
// the reason and returns null on failure.
std::unique_ptr<Backend> make_backend(bool gpu, const ScaleTable& table, int rank, const ScaleConversion& conv,
                                      const char* what) {
  if (!gpu) return std::make_unique<CpuBackend>();
  DeviceScales ds;
  if (Status s = DeviceScales::create(0, table, rank, LayerRange{}, conv, nullptr, &ds); s != Status::success) {
    std::fprintf(stderr, "kvscale roundtrip: uploading the %s failed: %s: %s\n", what, status_name(s),
                 last_error_message().c_str());
    return nullptr;
  }
  return std::make_unique<GpuBackend>(0, std::move(ds));
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() > n && s.compare(s.size() - n, n, suffix) == 0;
}

// Calibration: amax ([layer][amax_floats(heads)], one rank) -> per-tensor scales = amax / 448 ->
// `out` (.json: K and V merged with max; .safetensors: K and V apart). Prints the reason and
// returns false on failure.
bool write_calibrated(const std::vector<float>& amax, int num_layers, std::int64_t heads,
                      const std::optional<std::string>& model_type, const std::string& out, bool force,
                      CalibrationReport* report) {
  ScaleTable calibrated;
  CalibrationOptions co;
  co.model_type = model_type;
  WriteOptions wo;
  wo.force = force;
  wo.merge = MergePolicy::max;  // JSON holds one scale per layer: max(K, V) never saturates more
  Status s = scales_from_amax(amax.data(), 1, num_layers, static_cast<int>(heads), co, &calibrated, report);
  if (s == Status::success)
    s = ends_with(out, ".json") ? write_scales_json(calibrated, out, wo)
                                : write_scales_safetensors(calibrated, out, wo);
  if (s != Status::success) {
    std::fprintf(stderr, "kvscale roundtrip: calibration failed: %s: %s\n", status_name(s),
                 last_error_message().c_str());
    return false;
  }
  return true;
}

// ---- the command, step by step ---------------------------------------------------------------

// The command line, checked before anything is loaded (every mistake in it is a usage error).
struct Options {
  std::string file;
  Shape shape;
  bool heads_given = false;  // --kv-heads; per-head scales fix it otherwise
  std::string layout, format, backend;
  bool json = false, force = false;
  std::optional<std::string> calibrate;  // OUT of --calibrate
};

// The shape options into o->shape; false with *err set on a bad value.
bool parse_shape(const Args& args, Options* o, std::string* err) {
  Shape& shape = o->shape;
  struct IntOpt {
    const char* name;
    std::int64_t* dst;
    std::int64_t lo, hi;
  };
  o->heads_given = args.value("--kv-heads").has_value();
  for (IntOpt i :
       {IntOpt{"--tokens", &shape.tokens, 1, 1 << 24}, IntOpt{"--kv-heads", &shape.heads, 1, 1024},
        IntOpt{"--head-size", &shape.head_size, 1, 4096}, IntOpt{"--block-size", &shape.block_size, 1, 4096}}) {
    if (auto v = args.value(i.name)) {
      if (!parse_int(i.name, *v, i.lo, i.hi, i.dst, err)) return false;
    }
  }
  if (static_cast<double>(shape.elems()) * 4.0 > 2.0e9) {
    *err = "tokens x kv-heads x head-size is too large (> 2 GB per tensor)";
    return false;
  }
  // The two caches: (blocks for the tokens + 4 spare) x block x heads x head-size bytes each.
  const double blocks = std::ceil(static_cast<double>(shape.tokens) / static_cast<double>(shape.block_size)) + 4.0;
  if (blocks * static_cast<double>(shape.block_size) * static_cast<double>(shape.row()) > 2.0e9) {
    *err = "the paged cache would exceed 2 GB (lower --block-size, --kv-heads or --head-size)";
    return false;
  }
  std::int64_t seed = 0;
  if (auto v = args.value("--seed")) {
    if (!parse_int("--seed", *v, 0, INT64_MAX, &seed, err)) return false;
    shape.seed = static_cast<std::uint64_t>(seed);
  }
  return true;
}

// The choices (--dtype, --layout, --format, --backend) into o; false with *err set.
bool parse_choices(const Args& args, Options* o, std::string* err) {
  const std::string dtype = args.value("--dtype").value_or("bf16");
  if (!parse_choice("--dtype", dtype, {"bf16", "f16", "f32"}, err)) return false;
  o->shape.dtype = dtype == "f32" ? DType::f32 : dtype == "f16" ? DType::f16 : DType::bf16;
  o->layout = args.value("--layout").value_or("nhd");
  if (!parse_choice("--layout", o->layout, {"nhd", "hnd", "split"}, err)) return false;
  o->shape.layout = o->layout == "hnd"     ? CacheLayout::hnd
                    : o->layout == "split" ? CacheLayout::split
                                           : CacheLayout::nhd;
  if (o->shape.layout == CacheLayout::split && o->shape.head_size % 16 != 0) {
    *err = "--layout split needs --head-size to be a multiple of 16";
    return false;
  }
  o->format = args.value("--format").value_or("native");
  if (!parse_choice("--format", o->format, {"e4m3fn", "e4m3fnuz", "native"}, err)) return false;
  o->backend = args.value("--backend").value_or("auto");
  return parse_choice("--backend", o->backend, {"auto", "hip", "cuda", "cpu"}, err);
}

// The whole command line into o. nullopt: go on; else the exit code (the reason printed).
std::optional<int> parse_options(const Args& args, Options* o) {
  std::string err;
  o->file = args.positional.empty() ? example_file() : args.positional[0];
  if (o->file.empty()) return usage_error(args, "no FILE given and the bundled example was not found");
  if (!parse_shape(args, o, &err) || !parse_choices(args, o, &err)) return usage_error(args, err);
  o->json = args.has("--json");
  o->force = args.has("--force");
  o->calibrate = args.value("--calibrate");
  if (!o->calibrate) {
    if (o->force) return usage_error(args, "--force only applies to --calibrate");
    return std::nullopt;
  }
  const std::string& out = *o->calibrate;
  if (!ends_with(out, ".json") && !ends_with(out, ".safetensors"))
    return usage_error(args, "--calibrate: OUT must end in .json or .safetensors, got '" + out + "'");
  if (!o->force && access(out.c_str(), F_OK) == 0) {
    std::fprintf(stderr, "kvscale roundtrip: %s exists; use --force to replace it (nothing was run)\n", out.c_str());
    return kExitRejected;
  }
  return std::nullopt;
}

// Which backend runs the passes, and why (for the output).
struct BackendChoice {
  bool gpu = false;
  std::string why;
};

// --backend `opt` against this build and machine. nullopt: *c is set; else the exit code.
std::optional<int> choose_backend(const std::string& opt, BackendChoice* c) {
  int ndev = 0;
  const Status dev_status = gpu::device_count(&ndev);
  const bool have = dev_status == Status::success && ndev > 0;
  if (opt == "cpu") {
    c->why = "requested with --backend cpu";
  } else if (opt == "auto") {
    c->gpu = have;
    c->why =
        have ? std::string("auto: ") + std::to_string(ndev) + " " + gpu::backend_name() + " device(s) found"
             : std::string("auto: no GPU (") +
                   (std::string(gpu::backend_name()) == "none" ? "built without a GPU backend" : last_error_message()) +
                   "); the CPU backend is the reference and the fallback";
  } else if (opt != gpu::backend_name()) {
    std::fprintf(stderr, "kvscale roundtrip: --backend %s: this build's GPU backend is '%s'\n", opt.c_str(),
                 gpu::backend_name());
    return kExitRejected;
  } else if (!have) {
    std::fprintf(stderr, "kvscale roundtrip: --backend %s: no device (%s)\n", opt.c_str(),
                 last_error_message().c_str());
    return kExitRejected;
  } else {
    c->gpu = true;
    c->why = "requested with --backend " + opt;
  }
  return std::nullopt;
}

// --format `opt`: the cache format and why. native is device 0's, or e4m3fn on the CPU.
Fp8Format choose_format(const std::string& opt, bool gpu, std::string* why) {
  *why = "requested";
  if (opt == "e4m3fnuz") return Fp8Format::e4m3fnuz;
  if (opt != "native") return Fp8Format::e4m3fn;
  Fp8Format f = Fp8Format::e4m3fn;
  if (gpu && gpu::native_format(0, &f) == Status::success) {
    *why = "native to device 0";
    return f;
  }
  *why = "native: e4m3fn, the format the scales are calibrated for";
  return Fp8Format::e4m3fn;
}

// The text output's header: what runs, where, in which format and shape.
void print_run_header(const RunInfo& info, const ScaleTable& table, const RoundTrip& rt, const Backend& backend,
                      const std::string& device, const std::string& format_why) {
  const Shape& shape = info.shape;
  std::printf("kvscale roundtrip: %s\n", info.file.c_str());
  std::printf("  scales   tp_size %d, rank %d, %d layers, model_type %s\n", table.tp_size(), info.rank,
              table.num_layers(), table.model_type() ? table.model_type()->c_str() : "null");
  std::printf("  backend  %s (%s), %s\n", backend.name(), info.why.c_str(), device.c_str());
  std::printf("  format   %s (%s)%s\n", format_name(info.format), format_why.c_str(),
              info.format == Fp8Format::e4m3fnuz ? ", scales x2" : "");
  std::printf("  shape    %lld tokens (%lld padding) x %lld kv-heads x %lld head-size, %s, block %lld, %s\n",
              static_cast<long long>(shape.tokens), static_cast<long long>(shape.tokens - rt.valid_tokens()),
              static_cast<long long>(shape.heads), static_cast<long long>(shape.head_size), dtype_name(shape.dtype),
              static_cast<long long>(shape.block_size),
              info.layout == "hnd"     ? "HND"
              : info.layout == "split" ? "split (vLLM ROCm)"
                                       : "NHD");
  std::printf("  scales   %s\n", info.per_head ? "per head (scale stride 1; the scale column shows K head 0)"
                                               : "per tensor (scale stride 0)");
  std::printf("\n");
  print_table_header(info, "scale");
}

// Step 4, calibration: amax -> per-tensor scales (e4m3fn terms, one rank) -> OUT, then the same
// data quantized with OUT's scales as loaded back (what a server would use; x2 for fnuz as for any
// file). Returns the command's exit code.
int calibrate_pass(const Options& o, RoundTrip& rt, const RunInfo& info, const ScaleTable& table,
                   const EffectiveScales& eff, const std::vector<float>& amax, const PassTotals& before) {
  const std::string& out = *o.calibrate;
  const ScaleConversion conv{info.format, true};
  CalibrationReport report;
  if (!write_calibrated(amax, eff.num_layers, o.shape.heads, table.model_type(), out, o.force, &report))
    return kExitRejected;
  const LoadResult reloaded = load_scales(out);
  EffectiveScales cal;
  if (!reloaded.ok() || effective_scales(reloaded.table, 0, LayerRange{}, conv, &cal) != Status::success ||
      cal.num_layers != eff.num_layers) {
    std::fprintf(stderr, "kvscale roundtrip: %s does not load back as %d layers\n", out.c_str(), eff.num_layers);
    return kExitRejected;
  }
  std::unique_ptr<Backend> backend = make_backend(info.gpu, reloaded.table, 0, conv, "calibrated scales");
  if (!backend) return kExitRejected;
  if (!info.json) {
    std::printf("\ncalibrated: wrote %s (%s, %d layers, scale = amax / 448%s); the same data with its scales:\n\n",
                out.c_str(),
                ends_with(out, ".json") ? "kv_cache_scales.json, K and V merged with max" : "safetensors, K and V",
                eff.num_layers, report.floored ? ", some floored to FLT_MIN" : "");
    print_table_header(info, "k scale");
  }
  PassTotals after;
  if (!run_pass(rt, *backend, info, eff, cal, nullptr, &after)) return kExitRejected;
  if (info.json) {
    JsonWriter j;
    j.begin_object().key("before").raw(before.json).key("after").raw(after.json).key("calibration").begin_object();
    j.key("out").value(out).key("floored").value(report.floored).key("rms_rel_err_before").number(before.rms);
    j.key("rms_rel_err_after").number(after.rms).key("saturated_fraction_before").number(before.sat);
    j.key("saturated_fraction_after").number(after.sat).end_object().end_object();
    std::printf("%s\n", j.str().c_str());
  } else {
    std::printf("\ncalibration: rms rel err %.6g -> %.6g, saturated %.4f%% -> %.4f%%%s\n", before.rms, after.rms,
                100.0 * before.sat, 100.0 * after.sat,
                report.floored ? (", " + std::to_string(report.floored) + " scale(s) floored").c_str() : "");
  }
  return before.all_match && after.all_match ? kExitOk : kExitRejected;
}

}  // namespace

int cmd_roundtrip(const Args& args) {
  Options o;
  if (auto code = parse_options(args, &o)) return *code;
  // 1. Load and validate.
  LoadOptions lo;
  std::string err;
  if (!parse_context(args, false, &lo.context, &err)) return usage_error(args, err);
  const int rank = lo.context ? lo.context->tp_rank : 0;
  LoadResult loaded = load_scales(o.file, lo);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics)
      std::fprintf(stderr, "%s:%s\n", o.file.c_str(), format_diagnostic(d).c_str());
    std::fprintf(stderr, "kvscale roundtrip: %s was rejected; nothing was run\n", o.file.c_str());
    return kExitRejected;
  }
  const ScaleTable& table = loaded.table;
  // 2. Choose the backend and the format, and say why.
  BackendChoice bc;
  if (auto code = choose_backend(o.backend, &bc)) return *code;
  std::string format_why;
  const Fp8Format format = choose_format(o.format, bc.gpu, &format_why);
  const ScaleConversion conv{format, true};
  // [K | V][layer][head slot] with per-layer strides 0 (per tensor) or 1 (per head), as DeviceScales.
  EffectiveScales eff;
  if (effective_scales(table, rank, LayerRange{}, conv, &eff) != Status::success) {
    std::fprintf(stderr, "kvscale roundtrip: %s\n", last_error_message().c_str());
    return kExitRejected;
  }
  bool per_head = false;
  for (int l = 0; l < eff.num_layers; ++l) per_head = per_head || eff.k_stride[l] || eff.v_stride[l];
  if (per_head && !o.heads_given) o.shape.heads = eff.head_slots;
  if (per_head && o.shape.heads != eff.head_slots)
    return usage_error(args, "the scales are per head with " + std::to_string(eff.head_slots) +
                                 " KV heads per rank; --kv-heads must be " + std::to_string(eff.head_slots));
  std::unique_ptr<Backend> backend = make_backend(bc.gpu, table, rank, conv, "scales");
  if (!backend) return kExitRejected;
  std::string device = "host CPU";
  if (bc.gpu) gpu::device_description(0, &device);
  // 3. The first pass: the file's scales give the data and quantize them.
  RoundTrip rt(o.shape, format);
  const RunInfo info{o.file, bc.why,   o.layout, o.shape, format,
                     rank,   per_head, bc.gpu,   o.json,  !o.json && isatty(STDERR_FILENO)};
  if (!o.json) print_run_header(info, table, rt, *backend, device, format_why);
  std::vector<float> amax;
  if (o.calibrate) amax.assign(static_cast<std::size_t>(eff.num_layers) * rt.amax_stride(), 0.0f);
  PassTotals before;
  if (!run_pass(rt, *backend, info, eff, eff, o.calibrate ? &amax : nullptr, &before)) return kExitRejected;
  if (o.calibrate) return calibrate_pass(o, rt, info, table, eff, amax, before);
  if (o.json) std::printf("%s\n", before.json.c_str());
  return before.all_match ? kExitOk : kExitRejected;
}

}  // namespace cli
}  // namespace kvscale
