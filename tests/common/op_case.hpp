// tests/common/op_case.hpp: one harness that runs an operation on any backend and compares it
// with the CPU backend bit for bit, in the style of ggml's test-backend-ops.
//
//   OpCase        the variables (op, format, dtype, size or paged shape, layout, alignment
//                 offsets, row padding, seed, paged grid cap) and name();
//   init()        seeded buffers: inputs with every special value, outputs pre-filled with random
//                 sentinel bytes, plus guard bytes after every output view;
//   run()         on a Backend: allocate, upload, launch through the backend, download;
//   eval()        run on the CPU backend (the oracle) and on the backend under test; every byte of
//                 every buffer must match, and every byte outside the views the op may write must
//                 still hold its initial value (checked against init, not against the CPU);
//   eval_perf()   the perf hook: GB/s of repeated runs (bytes_moved() / time).
//
// Backends: CpuBackend (here), the emulated device code (tests/emulator/emu_backend.hpp) and the
// real GPU (tests/gpu/gpu_backend.hpp). Case lists shared by all of them: contiguous_cases(),
// paged_cases(), every_code_cases().
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kvscale/cpu.hpp"
#include "kvscale/kv_cache.hpp"
#include "kvscale/status.hpp"

namespace kvscale {
namespace test {

inline const Fp8Format kFormats[] = {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz};
inline const DType kDTypes[] = {DType::f32, DType::f16, DType::bf16};
inline const CacheLayout kLayouts[] = {CacheLayout::nhd, CacheLayout::hnd};

/// How a paged case lays out its caches (with OpCase::layout).
enum class CacheKind : std::uint8_t {
  dense = 0,      ///< the layout's preset (strides 0): nhd, hnd or split
  strided = 1,    ///< explicit strides with padding between heads, slots and blocks (nhd- or hnd-like)
  kv_shared = 2,  ///< vLLM v1: K and V in one allocation [num_blocks, 2, block_size, heads, head_size]
};
/// Edge sizes around the vector width (16), the block (256 threads x 16) and a large one.
inline const std::size_t kSizes[] = {0, 1, 15, 16, 17, 127, 128, 129, 4095, 4096, 4097, 1000000};
constexpr std::size_t kGuard = 64;  // sentinel bytes after every output view

inline std::uint32_t f2u(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Scales exercised: 1, 0.1 (the spec's division-vs-reciprocal example), a real vLLM scale, a
/// power of two, and a large one.
inline const float kScales[] = {1.0f, u2f(0x3DCCCCCDu), 0.0152239128947258f, 0.0078125f, 3.5f};

/// n elements of `t` as raw bytes: mostly values in the fp8 range around the scale, plus every
/// special: +-0, +-inf, NaNs of both signs, huge values, values near the saturation threshold,
/// subnormals, and random bit patterns (all fp16/bf16 codes appear in large inputs).
inline std::vector<std::uint8_t> make_input(DType t, std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 64.0f);
  std::vector<std::uint8_t> bytes(n * dtype_size(t));
  const float specials[] = {0.0f,      -0.0f,  u2f(0x7F800000u), u2f(0xFF800000u), u2f(0x7FC00000u), u2f(0xFFC00001u),
                            1e30f,     -1e30f, 448.0f,           464.0f,           465.0f,           -464.0f,
                            240.0f,    248.0f, -249.0f,          0x1p-9f,          0x1p-10f,         0x1p-11f,
                            -0x1p-11f, 3e-5f,  -3.3e-5f,         1e-40f,           -1e-40f};
  for (std::size_t i = 0; i < n; ++i) {
    const auto pick = static_cast<std::uint32_t>(rng() % 16);
    float x;
    const auto raw = static_cast<std::uint32_t>(rng());
    if (pick == 0) {
      x = specials[rng() % (sizeof specials / sizeof specials[0])] * (rng() % 2 ? scale : 1.0f);
    } else if (pick == 1) {
      x = u2f(raw);  // any bit pattern
    } else {
      x = normal(rng) * scale;
    }
    if (t == DType::f32) {
      std::memcpy(&bytes[4 * i], &x, 4);
    } else {
      std::uint16_t h;
      if (pick == 1) {
        h = static_cast<std::uint16_t>(raw >> 16);
      } else if (t == DType::bf16) {
        h = static_cast<std::uint16_t>(f2u(x) >> 16);  // truncation is fine for test data
      } else {
        // crude f32 -> f16 for test data (exactness is irrelevant; all codes are valid inputs)
        const std::uint32_t u = f2u(x);
        const std::uint32_t sign = (u >> 16) & 0x8000u;
        const int e = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
          h = 0x7E00;
        } else if (e >= 31) {
          h = static_cast<std::uint16_t>(sign | 0x7C00u);
        } else if (e <= 0) {
          h = static_cast<std::uint16_t>(sign | (raw & 0x3FFu));  // subnormal
        } else {
          h = static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(e) << 10) | ((u >> 13) & 0x3FFu));
        }
      }
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

/// Empty when equal; otherwise where and what the first differences are.
inline std::string diff_bytes(const std::vector<std::uint8_t>& want, const std::vector<std::uint8_t>& got) {
  if (want.size() != got.size())
    return "sizes differ: " + std::to_string(want.size()) + " vs " + std::to_string(got.size());
  std::string out;
  std::size_t count = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i]) {
      if (count < 8) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "byte %zu: want %02x got %02x; ", i, want[i], got[i]);
        out += buf;
      }
      ++count;
    }
  }
  if (count) out += std::to_string(count) + " bytes differ";
  return out;
}

inline std::string describe(Fp8Format f, DType t) { return std::string(format_name(f)) + "/" + dtype_name(t); }

// ---------------------------------------------------------------------------------------------
// Backends

/// One allocation of a backend (host or device memory).
class Memory {
 public:
  virtual ~Memory() = default;
  virtual void* data() = 0;
  virtual Status upload(const std::vector<std::uint8_t>& bytes) = 0;
  virtual Status download(std::vector<std::uint8_t>* bytes) = 0;
};

/// Host memory, 64-byte aligned (so that only a case's offsets decide alignment, as with
/// device allocations).
class HostMemory final : public Memory {
 public:
  explicit HostMemory(std::size_t bytes)
      : bytes_(bytes), p_(static_cast<std::uint8_t*>(::operator new(bytes ? bytes : 1, std::align_val_t(64)))) {}
  ~HostMemory() override { ::operator delete(p_, std::align_val_t(64)); }
  HostMemory(const HostMemory&) = delete;
  HostMemory& operator=(const HostMemory&) = delete;
  void* data() override { return p_; }
  Status upload(const std::vector<std::uint8_t>& b) override {
    if (!b.empty()) std::memcpy(p_, b.data(), b.size());
    return Status::success;
  }
  Status download(std::vector<std::uint8_t>* b) override {
    b->assign(p_, p_ + bytes_);
    return Status::success;
  }

 private:
  std::size_t bytes_;
  std::uint8_t* p_;
};

/// A place where the four operations run. Arguments hold pointers into this backend's Memory.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  /// The oracle: the CPU backend. It gets Buffer::reference_bytes where a buffer has them (it
  /// refuses slots outside the cache, which the device kernels skip).
  virtual bool is_reference() const { return false; }
  virtual std::unique_ptr<Memory> allocate(std::size_t bytes) { return std::make_unique<HostMemory>(bytes); }
  virtual Status run(const QuantizeArgs& a) = 0;
  virtual Status run(const DequantizeArgs& a) = 0;
  virtual Status run(const PagedWriteArgs& a) = 0;
  virtual Status run(const PagedReadArgs& a) = 0;
  /// Calibration (not every backend has it).
  virtual Status run(const ObserveAmaxArgs&) { return Status::unsupported; }
  /// Detail of the last failed run (default: the library's last_error_message()).
  virtual std::string failure_detail() const { return last_error_message(); }
  /// Waits for the backend's work (for timing); run() results are complete after download().
  virtual Status synchronize() { return Status::success; }
  /// The paged grid cap the next runs should use (0: the library's); backends that cannot
  /// choose ignore it.
  virtual void set_paged_max_blocks(std::uint32_t) {}
};

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  bool is_reference() const override { return true; }
  Status run(const QuantizeArgs& a) override { return cpu::quantize(a); }
  Status run(const DequantizeArgs& a) override { return cpu::dequantize(a); }
  Status run(const PagedWriteArgs& a) override { return cpu::paged_write(a); }
  Status run(const PagedReadArgs& a) override { return cpu::paged_read(a); }
  Status run(const ObserveAmaxArgs& a) override { return cpu::observe_amax(a); }
};

// ---------------------------------------------------------------------------------------------
// Cases

enum class Op { quantize, dequantize, paged_write, paged_read, observe_amax };
inline const char* op_name(Op op) {
  switch (op) {
    case Op::quantize: return "quantize";
    case Op::dequantize: return "dequantize";
    case Op::paged_write: return "paged_write";
    case Op::observe_amax: return "observe_amax";
    default: return "paged_read";
  }
}

struct PagedShape {
  std::int64_t heads, head_size, block_size, tokens;
};
/// Llama-3 8x128 (vector path), TP8 1x128, and odd shapes that force the scalar segments.
inline const PagedShape kPagedShapes[] = {{8, 128, 16, 37}, {1, 128, 16, 5}, {3, 40, 5, 23}, {2, 7, 3, 9}};
/// Row stride = row + pad (elements): dense, padded but aligned, padded and misaligned.
inline const std::int64_t kPads[] = {0, 16, 1};
/// Base offset of key/value rows, in elements.
inline const std::int64_t kBaseOffsets[] = {0, 1};

struct Offsets {
  std::size_t wide_elems;  // offset of the f32/f16/bf16 side, in elements (so it stays element-aligned)
  std::size_t fp8_bytes;   // offset of the fp8 side, in bytes (any)
};
/// (0,0) aligned; (1,1) both off but co-aligned for 2-byte types; (0,3) and (3,7) never
/// co-aligned (scalar path); (5,0) the wide side off only.
inline const Offsets kOffsets[] = {{0, 0}, {1, 1}, {0, 3}, {5, 0}, {3, 7}};

/// One buffer of an initialised case.
struct Buffer {
  std::string name;
  std::vector<std::uint8_t> bytes;            // initial content: inputs, or sentinels of an output
  std::vector<std::uint8_t> reference_bytes;  // if not empty: what the CPU backend gets instead
  std::size_t view_begin = 0, view_end = 0;   // the bytes the op may write (empty for inputs)
};

/// The variables of one case.
struct OpCase {
  Op op = Op::quantize;
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;
  std::uint32_t seed = 1;
  std::uint32_t scale_k = 0, scale_v = 0;  // indices into kScales (scale_k is the contiguous scale)
  // contiguous
  std::size_t n = 0;
  Offsets offsets{0, 0};
  bool every_code = false;  // quantize: the input is all 65536 fp16/bf16 codes (n = 65536)
  // paged
  CacheLayout layout = CacheLayout::nhd;
  PagedShape shape{0, 0, 0, 0};
  std::int64_t pad = 0;
  std::int64_t base = 0;
  std::uint32_t max_blocks = 0;  // paged grid cap (0: the library's); emulated backends honour it
  bool no_slots = false;         // observe_amax: slot_mapping = nullptr (every token counts)
  // paged: slots as a prefill gets them from vLLM's block allocator (blocks in random order, each
  // filled from its first free slot; the first block starts at slot seed % block_size, so the first
  // and last blocks are partly written), no padding. Otherwise distinct random slots with padding.
  bool prefill_slots = false;
  // prefill_slots: the first block starts at this slot instead (-1: seed % block_size), and every
  // 7th token is padding (-1) if prefill_padding.
  std::int64_t prefill_first = -1;
  bool prefill_padding = false;
  CacheKind kind = CacheKind::dense;
  int k_scale_stride = 0, v_scale_stride = 0;  // 1: one scale per head (kScales[(scale + h) % 5])

  bool paged() const { return op == Op::paged_write || op == Op::paged_read; }
  bool rows_op() const { return paged() || op == Op::observe_amax; }
  std::int64_t row() const { return shape.heads * shape.head_size; }
  std::int64_t stride() const { return row() + pad; }
  std::int64_t num_blocks() const { return (2 * shape.tokens + shape.block_size - 1) / shape.block_size + 1; }
  PagedCacheShape cache() const {
    PagedCacheShape c{layout, num_blocks(), shape.block_size, shape.heads, shape.head_size};
    const std::int64_t H = shape.heads, D = shape.head_size, bs = shape.block_size;
    if (kind == CacheKind::strided && layout == CacheLayout::nhd) {
      c.head_stride = D + 16;
      c.slot_stride = H * c.head_stride + 16;
      c.block_stride = bs * c.slot_stride + 32;
    } else if (kind == CacheKind::strided) {  // hnd-like
      c.slot_stride = D + 16;
      c.head_stride = bs * c.slot_stride + 16;
      c.block_stride = H * c.head_stride + 48;
    } else if (kind == CacheKind::kv_shared) {
      c.head_stride = D;
      c.slot_stride = H * D;
      c.block_stride = 2 * bs * H * D;
      c.allocation_bytes = value_offset() + c.bytes();
    }
    return c;
  }
  /// kv_shared: value_cache - key_cache in the one allocation.
  std::int64_t value_offset() const { return shape.block_size * shape.heads * shape.head_size; }
  /// Bytes of the cache buffer(s): each cache, or the shared allocation.
  std::size_t cache_buffer_bytes() const {
    return static_cast<std::size_t>(kind == CacheKind::kv_shared ? cache().allocation_bytes : cache().bytes());
  }
  /// Scale of head h (per head when the stride is 1).
  float k_scale_of(std::int64_t h) const {
    return kScales[(scale_k + static_cast<std::uint32_t>(h * k_scale_stride)) % 5];
  }
  float v_scale_of(std::int64_t h) const {
    return kScales[(scale_v + static_cast<std::uint32_t>(h * v_scale_stride)) % 5];
  }
  std::string layout_label() const {
    std::string l = layout == CacheLayout::nhd ? "NHD" : layout == CacheLayout::hnd ? "HND" : "split";
    if (kind == CacheKind::strided) l += "-strided";
    if (kind == CacheKind::kv_shared) l += "-kvshared";
    if (k_scale_stride || v_scale_stride)
      l += "-heads" + std::to_string(k_scale_stride) + std::to_string(v_scale_stride);
    return l;
  }
  TokenRows rows() const { return TokenRows{shape.tokens, shape.heads, shape.head_size, stride(), stride()}; }
  std::size_t es() const { return dtype_size(dtype); }

  std::string name() const {
    std::string s = std::string(op_name(op)) + " " + describe(format, dtype);
    if (op == Op::observe_amax) {
      s = std::string(op_name(op)) + " " + dtype_name(dtype) + " " + std::to_string(shape.heads) + "x" +
          std::to_string(shape.head_size) + " tokens=" + std::to_string(shape.tokens) + " pad=" + std::to_string(pad) +
          " base=" + std::to_string(base) + (no_slots ? " no-slots" : "") +
          (prefill_slots ? " prefill" + std::to_string(prefill_first) + (prefill_padding ? "p" : "") : "");
      if (max_blocks) s += " max_blocks=" + std::to_string(max_blocks);
      return s;
    }
    if (paged()) {
      s += " " + layout_label() + " " + std::to_string(shape.heads) + "x" + std::to_string(shape.head_size) +
           " bs=" + std::to_string(shape.block_size) + " tokens=" + std::to_string(shape.tokens) +
           " pad=" + std::to_string(pad) + " base=" + std::to_string(base);
      if (max_blocks) s += " max_blocks=" + std::to_string(max_blocks);
    } else {
      s += every_code ? " every code" : " n=" + std::to_string(n);
      s += " offsets=(" + std::to_string(offsets.wide_elems) + "," + std::to_string(offsets.fp8_bytes) + ")";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, " scales=%g,%g", static_cast<double>(kScales[scale_k]),
                  static_cast<double>(kScales[scale_v]));
    return s + buf;
  }

  /// Bytes read and written by one run (for eval_perf).
  std::size_t bytes_moved() const {
    if (op == Op::observe_amax)
      return static_cast<std::size_t>(shape.tokens) * (8 + 2 * static_cast<std::size_t>(row()) * es());
    if (!paged()) return n * (es() + 1);
    const auto tokens = static_cast<std::size_t>(shape.tokens), r = static_cast<std::size_t>(row());
    return tokens * (8 + 2 * r * (es() + 1));
  }

  /// Seeded buffers, in the order the args use them (see make_args).
  std::vector<Buffer> init() const {
    std::vector<Buffer> b;
    const float ks = kScales[scale_k], vs = kScales[scale_v];
    auto scalar = [](const char* name, float v) {
      Buffer s{name, std::vector<std::uint8_t>(4), {}, 0, 0};
      std::memcpy(s.bytes.data(), &v, 4);
      return s;
    };
    auto per_head = [&](const char* name, bool k) {
      Buffer s{name, std::vector<std::uint8_t>(static_cast<std::size_t>(shape.heads) * 4), {}, 0, 0};
      for (std::int64_t h = 0; h < shape.heads; ++h) {
        const float v = k ? k_scale_of(h) : v_scale_of(h);
        std::memcpy(s.bytes.data() + 4 * h, &v, 4);
      }
      return s;
    };
    if (op == Op::quantize) {
      const std::size_t wide = offsets.wide_elems * es();
      Buffer in{"in", random_bytes(wide + n * es() + kGuard, seed + 1000), {}, 0, 0};
      std::vector<std::uint8_t> x;
      if (every_code) {
        x.resize(65536 * 2);
        for (std::uint32_t i = 0; i < 65536; ++i) {
          const auto h = static_cast<std::uint16_t>(i);
          std::memcpy(&x[2 * i], &h, 2);
        }
      } else {
        x = make_input(dtype, n, seed, ks);
      }
      if (!x.empty()) std::memcpy(in.bytes.data() + wide, x.data(), x.size());  // n may be 0
      b.push_back(std::move(in));
      b.push_back(Buffer{"out",
                         random_bytes(offsets.fp8_bytes + n + kGuard, seed + 2000),
                         {},
                         offsets.fp8_bytes,
                         offsets.fp8_bytes + n});
      b.push_back(scalar("scale", ks));
    } else if (op == Op::dequantize) {
      const std::size_t wide = offsets.wide_elems * es();
      b.push_back(Buffer{"in", random_bytes(offsets.fp8_bytes + n + kGuard, seed), {}, 0, 0});  // every code appears
      b.push_back(Buffer{"out", random_bytes(wide + n * es() + kGuard, seed + 3000), {}, wide, wide + n * es()});
      b.push_back(scalar("scale", ks));
    } else if (op == Op::observe_amax) {
      const std::size_t row_bytes = static_cast<std::size_t>((shape.tokens * stride() + base) * es()) + kGuard;
      const std::size_t first = static_cast<std::size_t>(base) * es();
      const std::size_t elems = static_cast<std::size_t>(shape.tokens * stride());
      Buffer key{"key", random_bytes(row_bytes, seed), {}, 0, 0};
      Buffer value{"value", random_bytes(row_bytes, ~seed), {}, 0, 0};
      const std::vector<std::uint8_t> kin = make_input(dtype, elems, seed, ks),
                                      vin = make_input(dtype, elems, ~seed, vs);
      if (!kin.empty()) {  // 0 tokens: memcpy may not take null, even for 0 bytes
        std::memcpy(key.bytes.data() + first, kin.data(), kin.size());
        std::memcpy(value.bytes.data() + first, vin.data(), vin.size());
      }
      // Any slots: negative ones are padding; large ones count (no cache is involved).
      std::mt19937 rng(seed);
      std::vector<std::int64_t> slots(static_cast<std::size_t>(shape.tokens));
      for (std::size_t i = 0; i < slots.size(); ++i)
        slots[i] = i % 7 == 0 ? (i % 2 ? -1 : -1000) : static_cast<std::int64_t>(rng() % 100000);
      Buffer sb{"slots", std::vector<std::uint8_t>(slots.size() * 8 + 8), {}, 0, 0};
      if (!slots.empty()) std::memcpy(sb.bytes.data(), slots.data(), slots.size() * 8);
      // The running maxima: zeros, and earlier results (non-negative floats) that a call must keep
      // where they are larger. Guard bytes follow.
      const std::size_t na = static_cast<std::size_t>(amax_floats(shape.heads));
      Buffer am{"amax", random_bytes(na * 4 + kGuard, seed + 9), {}, 0, na * 4};
      for (std::size_t i = 0; i < na; ++i) {
        const float old = (seed + i) % 3 == 0 ? ks * static_cast<float>((seed + i) % 700) : 0.0f;
        std::memcpy(am.bytes.data() + 4 * i, &old, 4);
      }
      b.push_back(std::move(key));
      b.push_back(std::move(value));
      b.push_back(std::move(sb));
      b.push_back(std::move(am));
    } else {
      const std::size_t row_bytes = static_cast<std::size_t>((shape.tokens * stride() + base) * es()) + kGuard;
      const std::size_t cache_bytes = cache_buffer_bytes();
      const bool shared = kind == CacheKind::kv_shared;  // one allocation: buffer 4 is unused
      const std::size_t first = static_cast<std::size_t>(base) * es();
      const std::size_t last = first + static_cast<std::size_t>(shape.tokens * stride()) * es();
      // Distinct random slots; every 7th is padding (-1, or another negative), one is past the end.
      std::vector<std::int64_t> all(static_cast<std::size_t>(cache().num_slots()));
      std::iota(all.begin(), all.end(), 0);
      std::mt19937 rng(seed);
      std::shuffle(all.begin(), all.end(), rng);
      std::vector<std::int64_t> slots(all.begin(), all.begin() + shape.tokens);
      if (prefill_slots) {
        std::vector<std::int64_t> blocks(static_cast<std::size_t>(num_blocks()));
        std::iota(blocks.begin(), blocks.end(), 0);
        std::shuffle(blocks.begin(), blocks.end(), rng);
        const std::int64_t bs = shape.block_size;
        const std::int64_t skip = prefill_first >= 0 ? prefill_first : static_cast<std::int64_t>(seed) % bs;
        for (std::size_t t = 0; t < slots.size(); ++t) {
          const std::int64_t i = static_cast<std::int64_t>(t) + skip;
          slots[t] = prefill_padding && t % 7 == 6 ? -1 : blocks[static_cast<std::size_t>(i / bs)] * bs + i % bs;
        }
      } else {
        for (std::size_t i = 0; i < slots.size(); i += 7) slots[i] = i % 2 ? -1 : -1000;
        if (slots.size() > 3) slots[3] = cache().num_slots() + 3;
      }
      std::vector<std::int64_t> cpu_slots = slots;
      for (auto& s : cpu_slots)
        if (s >= cache().num_slots()) s = -1;
      Buffer sb{"slots", std::vector<std::uint8_t>(slots.size() * 8), std::vector<std::uint8_t>(slots.size() * 8), 0,
                0};
      if (!slots.empty()) {
        std::memcpy(sb.bytes.data(), slots.data(), sb.bytes.size());
        std::memcpy(sb.reference_bytes.data(), cpu_slots.data(), sb.bytes.size());
      }
      if (op == Op::paged_write) {
        Buffer key{"key", random_bytes(row_bytes, seed), {}, 0, 0};
        Buffer value{"value", random_bytes(row_bytes, ~seed), {}, 0, 0};
        const std::size_t elems = static_cast<std::size_t>(shape.tokens * stride());
        const std::vector<std::uint8_t> kin = make_input(dtype, elems, seed, ks),
                                        vin = make_input(dtype, elems, ~seed, vs);
        if (!kin.empty()) {  // 0 tokens: memcpy may not take null, even for 0 bytes
          std::memcpy(key.bytes.data() + first, kin.data(), kin.size());
          std::memcpy(value.bytes.data() + first, vin.data(), vin.size());
        }
        b.push_back(std::move(key));
        b.push_back(std::move(value));
        b.push_back(std::move(sb));
        b.push_back(Buffer{
            shared ? "kv_cache" : "key_cache", random_bytes(cache_bytes + kGuard, seed + 5), {}, 0, cache_bytes});
        b.push_back(shared ? Buffer{"unused", random_bytes(kGuard, seed + 6), {}, 0, 0}
                           : Buffer{"value_cache", random_bytes(cache_bytes + kGuard, seed + 6), {}, 0, cache_bytes});
      } else {
        b.push_back(Buffer{shared ? "kv_cache" : "key_cache", random_bytes(cache_bytes + kGuard, seed), {}, 0, 0});
        b.push_back(Buffer{
            shared ? "unused" : "value_cache", random_bytes(shared ? kGuard : cache_bytes + kGuard, ~seed), {}, 0, 0});
        b.push_back(std::move(sb));
        b.push_back(Buffer{"key", random_bytes(row_bytes, seed + 7), {}, first, last});
        b.push_back(Buffer{"value", random_bytes(row_bytes, seed + 8), {}, first, last});
      }
      b.push_back(k_scale_stride ? per_head("k_scale", true) : scalar("k_scale", ks));
      b.push_back(v_scale_stride ? per_head("v_scale", false) : scalar("v_scale", vs));
    }
    return b;
  }

  /// Runs the op on `be` over buffers `p` (pointers to the backend's copies of init()'s buffers).
  Status launch(Backend& be, const std::vector<void*>& p) const {
    auto u8 = [&](std::size_t i) { return static_cast<std::uint8_t*>(p[i]); };
    auto f32 = [&](std::size_t i) { return static_cast<const float*>(p[i]); };
    const std::size_t wide = offsets.wide_elems * es();
    const std::size_t rows_at = static_cast<std::size_t>(base) * es();
    switch (op) {
      case Op::quantize: return be.run(QuantizeArgs{format, dtype, u8(0) + wide, u8(1) + offsets.fp8_bytes, n, f32(2)});
      case Op::dequantize:
        return be.run(DequantizeArgs{format, dtype, u8(0) + offsets.fp8_bytes, u8(1) + wide, n, f32(2)});
      case Op::observe_amax:
        return be.run(ObserveAmaxArgs{dtype, rows(), u8(0) + rows_at, u8(1) + rows_at,
                                      no_slots ? nullptr : static_cast<const std::int64_t*>(p[2]),
                                      static_cast<float*>(p[3])});
      case Op::paged_write: {
        std::uint8_t* vc = kind == CacheKind::kv_shared ? u8(3) + value_offset() : u8(4);
        return be.run(PagedWriteArgs{format, dtype, rows(), u8(0) + rows_at, u8(1) + rows_at,
                                     static_cast<const std::int64_t*>(p[2]), cache(), u8(3), vc, f32(5), f32(6),
                                     k_scale_stride, v_scale_stride});
      }
      default: {
        const std::uint8_t* vc = kind == CacheKind::kv_shared ? u8(0) + value_offset() : u8(1);
        return be.run(PagedReadArgs{format, dtype, rows(), u8(0), vc, cache(), static_cast<const std::int64_t*>(p[2]),
                                    u8(3) + rows_at, u8(4) + rows_at, f32(5), f32(6), k_scale_stride, v_scale_stride});
      }
    }
  }
};

/// What a backend left in every buffer.
struct RunResult {
  Status status = Status::success;
  std::string message;
  std::vector<std::vector<std::uint8_t>> buffers;
};

/// Allocates, uploads, runs and downloads on `be`.
inline RunResult run(const OpCase& c, const std::vector<Buffer>& init, Backend& be) {
  RunResult r;
  std::vector<std::unique_ptr<Memory>> mem;
  std::vector<void*> p;
  for (const Buffer& b : init) {
    mem.push_back(be.allocate(b.bytes.size()));
    p.push_back(mem.back()->data());
    const auto& bytes = be.is_reference() && !b.reference_bytes.empty() ? b.reference_bytes : b.bytes;
    if (Status s = mem.back()->upload(bytes); s != Status::success) {
      r.status = s;
      r.message = "upload of " + b.name + ": " + last_error_message();
      return r;
    }
  }
  be.set_paged_max_blocks(c.max_blocks);
  r.status = c.launch(be, p);
  if (r.status != Status::success) {
    r.message = be.failure_detail();
    return r;
  }
  for (auto& m : mem) {
    r.buffers.emplace_back();
    if (Status s = m->download(&r.buffers.back()); s != Status::success) {
      r.status = s;
      r.message = "download: " + last_error_message();
      return r;
    }
  }
  return r;
}

/// Empty when no byte outside the views changed in `r` (`initial` per buffer).
inline std::string check_sentinels(const std::vector<Buffer>& init, const RunResult& r, bool reference,
                                   const std::string& who) {
  for (std::size_t i = 0; i < init.size(); ++i) {
    const Buffer& b = init[i];
    const auto& initial = reference && !b.reference_bytes.empty() ? b.reference_bytes : b.bytes;
    for (std::size_t k = 0; k < initial.size(); ++k) {
      if (k >= b.view_begin && k < b.view_end) continue;
      if (r.buffers[i][k] != initial[k])
        return who + " " + b.name + ": byte " + std::to_string(k) + " outside the output changed";
    }
  }
  return {};
}

/// Empty when `got` equals the reference run bit for bit and no sentinel byte changed in either.
/// Buffers the backends get different inputs in (slots) are checked for sentinels only.
inline std::string compare(const std::vector<Buffer>& init, const RunResult& want, const RunResult& got,
                           const Backend& be) {
  const std::string who = be.name();
  if (want.status != Status::success) return "cpu: " + std::string(status_name(want.status)) + ": " + want.message;
  if (got.status != Status::success) return who + ": " + status_name(got.status) + ": " + got.message;
  for (std::size_t i = 0; i < init.size(); ++i) {
    if (!init[i].reference_bytes.empty() && !be.is_reference()) continue;
    const std::string d = diff_bytes(want.buffers[i], got.buffers[i]);
    if (!d.empty()) return who + " " + init[i].name + " differs from cpu: " + d;
  }
  if (std::string d = check_sentinels(init, want, true, "cpu"); !d.empty()) return d;
  return check_sentinels(init, got, be.is_reference(), who);
}

/// The whole check for one case: init, run on the CPU and on `be`, compare. Empty when it passes.
inline std::string eval(const OpCase& c, Backend& be) {
  static CpuBackend cpu_backend;
  const std::vector<Buffer> init = c.init();
  const RunResult want = run(c, init, cpu_backend);
  const RunResult got = run(c, init, be);
  return compare(init, want, got, be);
}

/// Perf hook: GB/s of `iterations` back-to-back runs on `be` (host wall clock around the batch,
/// after one warm-up run); 0 if a run fails.
inline double eval_perf(const OpCase& c, Backend& be, int iterations) {
  const std::vector<Buffer> init = c.init();
  std::vector<std::unique_ptr<Memory>> mem;
  std::vector<void*> p;
  for (const Buffer& b : init) {
    mem.push_back(be.allocate(b.bytes.size()));
    p.push_back(mem.back()->data());
    if (mem.back()->upload(be.is_reference() && !b.reference_bytes.empty() ? b.reference_bytes : b.bytes) !=
        Status::success)
      return 0.0;
  }
  be.set_paged_max_blocks(c.max_blocks);
  if (c.launch(be, p) != Status::success || be.synchronize() != Status::success) return 0.0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i)
    if (c.launch(be, p) != Status::success) return 0.0;
  if (be.synchronize() != Status::success) return 0.0;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s > 0 ? static_cast<double>(c.bytes_moved()) * iterations / s / 1e9 : 0.0;
}

/// Contiguous cases: formats x dtypes x kSizes x kOffsets (quantize or dequantize).
inline std::vector<OpCase> contiguous_cases(Op op) {
  std::vector<OpCase> v;
  std::uint32_t seed = op == Op::quantize ? 1 : 7;
  for (Fp8Format f : kFormats)
    for (DType t : kDTypes)
      for (std::size_t n : kSizes)
        for (const Offsets& o : kOffsets) {
          OpCase c;
          c.op = op;
          c.format = f;
          c.dtype = t;
          c.n = n;
          c.offsets = o;
          c.seed = ++seed;
          c.scale_k = c.scale_v = seed % 5;
          v.push_back(c);
        }
  return v;
}

/// Paged cases: formats x dtypes x layouts x kPagedShapes x kPads x kBaseOffsets.
inline std::vector<OpCase> paged_cases(Op op) {
  std::vector<OpCase> v;
  std::uint32_t seed = 11;
  for (Fp8Format f : kFormats)
    for (DType t : kDTypes)
      for (CacheLayout l : kLayouts)
        for (const PagedShape& s : kPagedShapes)
          for (std::int64_t pad : kPads)
            for (std::int64_t base : kBaseOffsets) {
              OpCase c;
              c.op = op;
              c.format = f;
              c.dtype = t;
              c.layout = l;
              c.shape = s;
              c.pad = pad;
              c.base = base;
              c.seed = seed++;
              c.scale_k = c.seed % 5;
              c.scale_v = (c.seed + (op == Op::paged_write ? 2 : 3)) % 5;
              v.push_back(c);
            }
  return v;
}

/// observe_amax cases: dtypes x kPagedShapes x kPads x kBaseOffsets, with and without slots, plus
/// long calls (many token chunks per head, and a grid cap of 2 blocks that makes blocks stride).
inline std::vector<OpCase> amax_cases() {
  std::vector<OpCase> v;
  std::uint32_t seed = 500;
  for (DType t : kDTypes) {
    for (const PagedShape& s : kPagedShapes)
      for (std::int64_t pad : kPads)
        for (std::int64_t base : kBaseOffsets) {
          OpCase c;
          c.op = Op::observe_amax;
          c.dtype = t;
          c.shape = s;
          c.pad = pad;
          c.base = base;
          c.seed = seed++;
          c.no_slots = c.seed % 2 == 0;
          c.scale_k = c.seed % 5;
          c.scale_v = (c.seed + 2) % 5;
          v.push_back(c);
        }
    for (const PagedShape& s : {PagedShape{8, 128, 16, 3001}, PagedShape{4, 64, 16, 0}, PagedShape{2, 7, 3, 2049}})
      for (std::uint32_t mb : {0u, 2u}) {
        OpCase c;
        c.op = Op::observe_amax;
        c.dtype = t;
        c.shape = s;
        c.seed = seed++;
        c.max_blocks = mb;
        c.scale_k = c.seed % 5;
        c.scale_v = (c.seed + 1) % 5;
        v.push_back(c);
      }
  }
  return v;
}

/// Layout cases: formats x dtypes x {dense NHD/HND with per-head scales, strided NHD-/HND-like, K/V
/// in one allocation, split} x shapes x row pads {0, 1}, K and V scale strides cycling over
/// (0,0), (1,0), (0,1), (1,1) (the dense presets over the three with a per-head scale); then split
/// with prefill slots.
inline std::vector<OpCase> layout_cases(Op op) {
  struct Kind {
    CacheLayout layout;
    CacheKind kind;
  };
  const Kind kinds[] = {{CacheLayout::nhd, CacheKind::dense},     {CacheLayout::hnd, CacheKind::dense},
                        {CacheLayout::nhd, CacheKind::strided},   {CacheLayout::hnd, CacheKind::strided},
                        {CacheLayout::nhd, CacheKind::kv_shared}, {CacheLayout::split, CacheKind::dense}};
  const PagedShape split_shapes[] = {{8, 128, 16, 37}, {1, 128, 16, 5}, {2, 48, 5, 23}, {3, 16, 3, 9}};
  std::vector<OpCase> v;
  std::uint32_t seed = op == Op::paged_write ? 5000 : 7000;
  for (Fp8Format f : kFormats)
    for (DType t : kDTypes)
      for (const Kind& k : kinds)
        for (std::size_t si = 0; si < 4; ++si)
          for (std::int64_t pad : {std::int64_t{0}, std::int64_t{1}}) {
            OpCase c;
            c.op = op;
            c.format = f;
            c.dtype = t;
            c.layout = k.layout;
            c.kind = k.kind;
            c.shape = k.layout == CacheLayout::split ? split_shapes[si] : kPagedShapes[si];
            c.pad = pad;
            c.seed = seed++;
            c.scale_k = c.seed % 5;
            c.scale_v = (c.seed + 2) % 5;
            const std::uint32_t combo =
                k.kind == CacheKind::dense && k.layout != CacheLayout::split ? 1 + c.seed % 3 : c.seed % 4;
            c.k_scale_stride = static_cast<int>(combo & 1);
            c.v_scale_stride = static_cast<int>(combo >> 1);
            v.push_back(c);
          }
  // Split with prefill slots (the GPU kernels map a block's V stores by how its tokens lie:
  // 16-slot aligned runs, runs from an unaligned slot, runs with padding): per tensor and per head.
  struct Prefill {
    PagedShape shape;
    std::int64_t first;
    bool padding;
  };
  const Prefill prefills[] = {{{8, 128, 16, 37}, 0, false},
                              {{2, 48, 32, 70}, 16, false},
                              {{2, 32, 16, 40}, 5, false},
                              {{1, 128, 16, 48}, 0, true},
                              {{3, 16, 48, 50}, 0, false}};
  for (Fp8Format f : kFormats)
    for (DType t : kDTypes)
      for (const Prefill& pf : prefills) {
        OpCase c;
        c.op = op;
        c.format = f;
        c.dtype = t;
        c.layout = CacheLayout::split;
        c.kind = CacheKind::dense;
        c.shape = pf.shape;
        c.seed = seed++;
        c.prefill_slots = true;
        c.prefill_first = pf.first;
        c.prefill_padding = pf.padding;
        c.scale_k = c.seed % 5;
        c.scale_v = (c.seed + 2) % 5;
        c.k_scale_stride = static_cast<int>(c.seed & 1);
        c.v_scale_stride = static_cast<int>((c.seed >> 1) & 1);
        v.push_back(c);
      }
  return v;
}

/// Every fp16 and bf16 code quantized with every scale, both formats: the exhaustive check of
/// the conversion paths (the hardware one on gfx94x / gfx950 included).
inline std::vector<OpCase> every_code_cases() {
  std::vector<OpCase> v;
  for (Fp8Format f : kFormats)
    for (DType t : {DType::f16, DType::bf16})
      for (std::uint32_t s = 0; s < 5; ++s) {
        OpCase c;
        c.format = f;
        c.dtype = t;
        c.n = 65536;
        c.every_code = true;
        c.seed = 100 + s;
        c.scale_k = c.scale_v = s;
        v.push_back(c);
      }
  return v;
}

}  // namespace test
}  // namespace kvscale
