// Argument fuzzing of the CPU backend's launchers (cpu::quantize, dequantize, paged_write,
// paged_read). Each case builds a random *valid* call whose buffers are allocated at exactly the
// size the shape implies (so that any access outside them is caught by ASan under --preset asan),
// checks it succeeds, then breaks one argument (null pointer, bad enum, shape, stride, overflowing
// size, misalignment, out-of-range slot) and checks that the launcher refuses it and wrote nothing.
// Seeded: a failure prints the seed and the case, and reruns identically. Runs once per ISA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kvscale/cpu.hpp"
#include "kvscale/kv_cache.hpp"

namespace {

using kvscale::CacheLayout;
using kvscale::DType;
using kvscale::Fp8Format;
using kvscale::Status;
namespace cpu = kvscale::cpu;

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::uint64_t kSeed = 0x6b7673630001ull;
constexpr int kCasesPerOp = 1500;

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  std::int64_t in(std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(g_); }
  bool coin(double p = 0.5) { return std::bernoulli_distribution(p)(g_); }
  template <class T>
  T pick(std::initializer_list<T> v) {
    return *(v.begin() + in(0, static_cast<std::int64_t>(v.size()) - 1));
  }
  std::mt19937_64& engine() { return g_; }

 private:
  std::mt19937_64 g_;
};

// Exactly-sized heap blocks (new[] gets ASan redzones on both sides), filled with random bytes.
class Arena {
 public:
  unsigned char* bytes(std::size_t n, Rng& rng) {
    blocks_.emplace_back(new unsigned char[n]);
    unsigned char* p = blocks_.back().get();
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(rng.in(0, 255));
    return p;
  }
  float* scale(Rng& rng) {
    floats_.emplace_back(new float[1]);
    floats_.back()[0] = static_cast<float>(rng.pick({0.5, 1.0, 0.015625, 3.0, 1e-3}));
    return floats_.back().get();
  }
  std::int64_t* slots(std::size_t n) {
    slots_.emplace_back(new std::int64_t[n]);
    return slots_.back().get();
  }

 private:
  std::vector<std::unique_ptr<unsigned char[]>> blocks_;
  std::vector<std::unique_ptr<float[]>> floats_;
  std::vector<std::unique_ptr<std::int64_t[]>> slots_;
};

template <class T>
T* misalign(T* p, std::uintptr_t by) {
  return reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(p) + by);
}

Fp8Format any_format(Rng& r) { return r.coin() ? Fp8Format::e4m3fn : Fp8Format::e4m3fnuz; }
DType any_dtype(Rng& r) { return r.pick({DType::f32, DType::f16, DType::bf16}); }
Fp8Format bad_format(Rng& r) { return static_cast<Fp8Format>(r.in(2, 255)); }
DType bad_dtype(Rng& r) { return static_cast<DType>(r.in(3, 255)); }

std::string describe(Status s) {
  return std::string(kvscale::status_name(s)) + " (" + kvscale::last_error_message() + ")";
}

// ------------------------------------------------------------------------------------------------
// Contiguous quantize / dequantize.

std::size_t any_n(Rng& r) {
  // Mostly small with odd tails (SIMD remainder paths); sometimes large enough to use the threads.
  if (r.coin(0.01)) return static_cast<std::size_t>(r.in(1 << 17, (1 << 18) + 77));
  return static_cast<std::size_t>(
      r.pick<std::int64_t>({0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 255, 257, 1000, 4099}));
}

// An n that cannot be valid: the element count overflows 64-bit byte sizes.
std::size_t overflowing_n(Rng& r, DType t) {
  const std::size_t limit = static_cast<std::size_t>(kI64Max) / kvscale::dtype_size(t);
  return r.pick<std::size_t>({limit + 1, std::numeric_limits<std::size_t>::max(), std::size_t{1} << 63});
}

void fuzz_quantize(std::uint64_t seed, int cases) {
  Rng rng(seed);
  for (int c = 0; c < cases; ++c) {
    Arena arena;
    kvscale::QuantizeArgs a;
    a.format = any_format(rng);
    a.dtype = any_dtype(rng);
    a.n = any_n(rng);
    a.in = arena.bytes(a.n * kvscale::dtype_size(a.dtype), rng);
    a.out = arena.bytes(a.n, rng);
    a.scale = arena.scale(rng);
    const std::string where = "quantize case " + std::to_string(c) + " seed " + std::to_string(seed) +
                              " n=" + std::to_string(a.n) + " dtype=" + kvscale::dtype_name(a.dtype);
    ASSERT_EQ(cpu::quantize(a), Status::success) << where << ": " << describe(Status::invalid_argument);

    if (a.n == 0) {
      kvscale::QuantizeArgs z = a;
      z.in = nullptr;
      z.out = nullptr;
      z.scale = nullptr;
      EXPECT_EQ(cpu::quantize(z), Status::success) << where << ": n == 0 with null pointers is a no-op";
      continue;
    }
    kvscale::QuantizeArgs b = a;
    std::string what;
    switch (rng.in(0, 6)) {
      case 0: b.in = nullptr, what = "in null"; break;
      case 1: b.out = nullptr, what = "out null"; break;
      case 2: b.scale = nullptr, what = "scale null"; break;
      case 3: b.format = bad_format(rng), what = "bad format"; break;
      case 4: b.dtype = bad_dtype(rng), what = "bad dtype"; break;
      case 5: b.in = misalign(static_cast<const unsigned char*>(a.in), 1), what = "in misaligned"; break;
      default: b.n = overflowing_n(rng, a.dtype), what = "n overflows"; break;
    }
    if (rng.coin(0.1)) b.scale = misalign(a.scale, 1), what += " + scale misaligned";
    const std::vector<unsigned char> before(a.out, a.out + a.n);
    const Status s = cpu::quantize(b);
    EXPECT_EQ(s, Status::invalid_argument) << where << " [" << what << "]: " << describe(s);
    EXPECT_TRUE(std::equal(before.begin(), before.end(), a.out)) << where << " [" << what << "]: wrote output";
  }
}

void fuzz_dequantize(std::uint64_t seed, int cases) {
  Rng rng(seed);
  for (int c = 0; c < cases; ++c) {
    Arena arena;
    kvscale::DequantizeArgs a;
    a.format = any_format(rng);
    a.dtype = any_dtype(rng);
    a.n = any_n(rng);
    const std::size_t out_bytes = a.n * kvscale::dtype_size(a.dtype);
    a.in = arena.bytes(a.n, rng);
    unsigned char* out = arena.bytes(out_bytes, rng);
    a.out = out;
    a.scale = arena.scale(rng);
    const std::string where = "dequantize case " + std::to_string(c) + " seed " + std::to_string(seed) +
                              " n=" + std::to_string(a.n) + " dtype=" + kvscale::dtype_name(a.dtype);
    ASSERT_EQ(cpu::dequantize(a), Status::success) << where << ": " << describe(Status::invalid_argument);

    if (a.n == 0) {
      kvscale::DequantizeArgs z = a;
      z.in = nullptr;
      z.out = nullptr;
      z.scale = nullptr;
      EXPECT_EQ(cpu::dequantize(z), Status::success) << where << ": n == 0 with null pointers is a no-op";
      continue;
    }
    kvscale::DequantizeArgs b = a;
    std::string what;
    switch (rng.in(0, 6)) {
      case 0: b.in = nullptr, what = "in null"; break;
      case 1: b.out = nullptr, what = "out null"; break;
      case 2: b.scale = nullptr, what = "scale null"; break;
      case 3: b.format = bad_format(rng), what = "bad format"; break;
      case 4: b.dtype = bad_dtype(rng), what = "bad dtype"; break;
      case 5: b.out = misalign(out, 1), what = "out misaligned"; break;
      default: b.n = overflowing_n(rng, a.dtype), what = "n overflows"; break;
    }
    if (rng.coin(0.1)) b.scale = misalign(a.scale, 1), what += " + scale misaligned";
    const std::vector<unsigned char> before(out, out + out_bytes);
    const Status s = cpu::dequantize(b);
    EXPECT_EQ(s, Status::invalid_argument) << where << " [" << what << "]: " << describe(s);
    EXPECT_TRUE(std::equal(before.begin(), before.end(), out)) << where << " [" << what << "]: wrote output";
  }
}

// ------------------------------------------------------------------------------------------------
// Paged write / read.

struct Paged {
  Fp8Format format;
  DType dtype;
  kvscale::TokenRows rows;
  kvscale::PagedCacheShape cache;
  unsigned char* key;    // rows side (input of write, output of read)
  unsigned char* value;  //
  std::size_t key_bytes, value_bytes, cache_bytes;
  std::int64_t* slots;
  unsigned char* kc;
  unsigned char* vc;
  float* ks;
  float* vs;
  std::string describe() const {
    std::ostringstream o;
    o << "tokens=" << rows.num_tokens << " heads=" << rows.num_kv_heads << " head_size=" << rows.head_size
      << " strides=" << rows.key_row_stride << "/" << rows.value_row_stride << " blocks=" << cache.num_blocks
      << " block_size=" << cache.block_size << " layout=" << (cache.layout == CacheLayout::nhd ? "nhd" : "hnd")
      << " dtype=" << kvscale::dtype_name(dtype) << " slots=[";
    for (std::int64_t t = 0; t < std::min<std::int64_t>(rows.num_tokens, 12); ++t) o << (t ? "," : "") << slots[t];
    o << (rows.num_tokens > 12 ? ",...]" : "]");
    return o.str();
  }
};

std::size_t rows_bytes(std::int64_t tokens, std::int64_t stride, std::int64_t row, DType t) {
  if (tokens == 0) return 0;
  return static_cast<std::size_t>((tokens - 1) * stride + row) * kvscale::dtype_size(t);
}

Paged make_paged(Rng& rng, Arena& arena, bool need_tokens) {
  Paged p{};
  p.format = any_format(rng);
  p.dtype = any_dtype(rng);
  p.cache.layout = rng.coin() ? CacheLayout::nhd : CacheLayout::hnd;
  const std::int64_t heads = rng.in(1, 4);
  const std::int64_t head_size = rng.pick<std::int64_t>({1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 128});
  p.cache.num_kv_heads = p.rows.num_kv_heads = heads;
  p.cache.head_size = p.rows.head_size = head_size;
  p.cache.block_size = rng.pick<std::int64_t>({1, 2, 3, 5, 8, 16});
  p.cache.num_blocks = rng.in(1, 6);
  const std::int64_t num_slots = p.cache.num_slots();
  const std::int64_t row = heads * head_size;
  p.rows.num_tokens = need_tokens ? rng.in(1, num_slots + 4) : rng.in(0, num_slots + 4);
  p.rows.key_row_stride = row + (rng.coin() ? 0 : rng.in(1, 9));
  p.rows.value_row_stride = row + (rng.coin() ? 0 : rng.in(1, 9));
  p.key_bytes = rows_bytes(p.rows.num_tokens, p.rows.key_row_stride, row, p.dtype);
  p.value_bytes = rows_bytes(p.rows.num_tokens, p.rows.value_row_stride, row, p.dtype);
  p.key = arena.bytes(p.key_bytes, rng);
  p.value = arena.bytes(p.value_bytes, rng);
  p.cache_bytes = static_cast<std::size_t>(p.cache.bytes());
  p.kc = arena.bytes(p.cache_bytes, rng);
  p.vc = arena.bytes(p.cache_bytes, rng);
  p.ks = arena.scale(rng);
  p.vs = arena.scale(rng);
  // Distinct slots (vLLM never maps two tokens to one slot), with padding (negative) mixed in.
  std::vector<std::int64_t> perm(static_cast<std::size_t>(num_slots));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng.engine());
  p.slots = arena.slots(static_cast<std::size_t>(p.rows.num_tokens));
  std::size_t next = 0;
  for (std::int64_t t = 0; t < p.rows.num_tokens; ++t) {
    if (next < perm.size() && !rng.coin(0.15)) {
      p.slots[t] = perm[next++];
    } else {
      p.slots[t] = rng.pick<std::int64_t>({-1, -2, kI64Min, -num_slots});
    }
  }
  return p;
}

template <class Args>
void fill_common(Args& a, const Paged& p) {
  a.format = p.format;
  a.dtype = p.dtype;
  a.rows = p.rows;
  a.cache = p.cache;
  a.k_scale = p.ks;
  a.v_scale = p.vs;
}

kvscale::PagedWriteArgs write_args(const Paged& p) {
  kvscale::PagedWriteArgs a;
  fill_common(a, p);
  a.key = p.key;
  a.value = p.value;
  a.slot_mapping = p.slots;
  a.key_cache = p.kc;
  a.value_cache = p.vc;
  return a;
}

kvscale::PagedReadArgs read_args(const Paged& p) {
  kvscale::PagedReadArgs a;
  fill_common(a, p);
  a.key_cache = p.kc;
  a.value_cache = p.vc;
  a.slot_mapping = p.slots;
  a.key = p.key;
  a.value = p.value;
  return a;
}

// One broken argument of a paged call.
struct Mutation {
  std::string label;        // empty: not applicable to this case
  std::int64_t token = -1;  // >= 0: set slots[token] = slot
  std::int64_t slot = 0;
};

// Pointer fields, spelled once per struct.
struct Ptrs {
  const void** key;
  const void** value;
  const std::int64_t** slots;
  const float** k_scale;
  const float** v_scale;
  std::function<void()> null_key_cache, null_value_cache;
};

// Breaks one thing every backend must check.
template <class Args>
Mutation break_paged(Rng& rng, Args& b, const Paged& p, const Ptrs& ptr) {
  const std::int64_t row = p.rows.num_kv_heads * p.rows.head_size;
  switch (rng.in(0, 18)) {
    case 0: *ptr.key = nullptr; return {"key null"};
    case 1: *ptr.value = nullptr; return {"value null"};
    case 2: *ptr.slots = nullptr; return {"slots null"};
    case 3: ptr.null_key_cache(); return {"key_cache null"};
    case 4: ptr.null_value_cache(); return {"value_cache null"};
    case 5: *(rng.coin() ? ptr.k_scale : ptr.v_scale) = nullptr; return {"a scale null"};
    case 6:
      switch (rng.in(0, 3)) {
        case 0: *ptr.key = misalign(static_cast<const unsigned char*>(*ptr.key), 1); return {"key misaligned"};
        case 1: *ptr.value = misalign(static_cast<const unsigned char*>(*ptr.value), 1); return {"value misaligned"};
        case 2: *ptr.slots = misalign(*ptr.slots, 4); return {"slots misaligned"};
        default: *ptr.v_scale = misalign(*ptr.v_scale, 2); return {"v_scale misaligned"};
      }
    case 7: b.format = bad_format(rng); return {"bad format"};
    case 8: b.dtype = bad_dtype(rng); return {"bad dtype"};
    case 9: b.cache.layout = static_cast<CacheLayout>(rng.in(3, 255)); return {"bad layout"};
    case 10: b.rows.num_tokens = rng.pick<std::int64_t>({-1, kI64Min}); return {"negative num_tokens"};
    case 11:
      b.rows.num_kv_heads = b.cache.num_kv_heads = rng.pick<std::int64_t>({0, -1, kI64Min});
      return {"num_kv_heads <= 0"};
    case 12: b.rows.head_size = b.cache.head_size = rng.pick<std::int64_t>({0, -3, kI64Min}); return {"head_size <= 0"};
    case 13:
      if (rng.coin()) {
        b.cache.num_kv_heads += rng.coin() ? 1 : -1;
        return {"cache heads != row heads"};
      }
      b.cache.head_size += 1;
      return {"cache head_size != row head_size"};
    case 14:
      if (rng.coin()) {
        b.cache.num_blocks = rng.pick<std::int64_t>({0, -1, kI64Min});
        return {"num_blocks <= 0"};
      }
      b.cache.block_size = rng.pick<std::int64_t>({0, -16, kI64Min});
      return {"block_size <= 0"};
    case 15:
      (rng.coin() ? b.rows.key_row_stride : b.rows.value_row_stride) =
          rng.pick<std::int64_t>({row - 1, 0, -1, kI64Min});
      return {"row stride < num_kv_heads * head_size"};
    case 16:
      switch (rng.in(0, 2)) {
        case 0:
          b.cache.num_blocks = kI64Max;
          b.cache.block_size = std::max<std::int64_t>(2, b.cache.block_size);
          return {"num_blocks * block_size overflows"};
        case 1:
          b.rows.num_kv_heads = b.cache.num_kv_heads = std::int64_t{1} << 40;
          b.rows.head_size = b.cache.head_size = std::int64_t{1} << 30;
          return {"num_kv_heads * head_size overflows"};
        default:
          if (p.rows.num_tokens < 2) return {};
          (rng.coin() ? b.rows.key_row_stride : b.rows.value_row_stride) = kI64Max / 2;
          return {"row stride * num_tokens overflows"};
      }
    default: {
      // A slot at or past the end of the cache (negative is padding and valid).
      Mutation m;
      m.token = rng.in(0, p.rows.num_tokens - 1);
      m.slot = rng.pick<std::int64_t>(
          {p.cache.num_slots(), p.cache.num_slots() + 1, p.cache.num_slots() * 2 + 3, kI64Max, std::int64_t{1} << 40});
      m.label = "slot[" + std::to_string(m.token) + "] = " + std::to_string(m.slot);
      return m;
    }
  }
}

void fuzz_paged_write(std::uint64_t seed, int cases) {
  Rng rng(seed);
  for (int c = 0; c < cases; ++c) {
    Arena arena;
    const bool mutate = c % 4 != 0;  // a quarter of the cases: valid calls only, zero tokens allowed
    Paged p = make_paged(rng, arena, mutate);
    const std::string where =
        "paged_write case " + std::to_string(c) + " seed " + std::to_string(seed) + " " + p.describe();
    // Valid: succeeds, and writes only the mapped slots.
    {
      const std::size_t head_bytes = static_cast<std::size_t>(p.rows.head_size);
      std::vector<unsigned char> kc0(p.kc, p.kc + p.cache_bytes), vc0(p.vc, p.vc + p.cache_bytes);
      std::vector<bool> touched(p.cache_bytes, false);
      for (std::int64_t t = 0; t < p.rows.num_tokens; ++t) {
        if (p.slots[t] < 0) continue;
        for (std::int64_t h = 0; h < p.rows.num_kv_heads; ++h) {
          const auto off = static_cast<std::size_t>(p.cache.offset(p.slots[t], h));
          std::fill(touched.begin() + static_cast<std::ptrdiff_t>(off),
                    touched.begin() + static_cast<std::ptrdiff_t>(off + head_bytes), true);
        }
      }
      const Status s = cpu::paged_write(write_args(p));
      ASSERT_EQ(s, Status::success) << where << ": " << describe(s);
      for (std::size_t i = 0; i < p.cache_bytes; ++i) {
        if (!touched[i]) {
          ASSERT_EQ(p.kc[i], kc0[i]) << where << ": key_cache byte " << i << " outside the mapped slots changed";
          ASSERT_EQ(p.vc[i], vc0[i]) << where << ": value_cache byte " << i << " outside the mapped slots changed";
        }
      }
    }
    if (!mutate) {
      kvscale::PagedWriteArgs z;
      z.rows.num_tokens = 0;
      EXPECT_EQ(cpu::paged_write(z), Status::success) << "num_tokens == 0 with null pointers is a no-op";
      continue;
    }
    kvscale::PagedWriteArgs b = write_args(p);
    const Ptrs ptrs{&b.key,
                    &b.value,
                    &b.slot_mapping,
                    &b.k_scale,
                    &b.v_scale,
                    [&] { b.key_cache = nullptr; },
                    [&] { b.value_cache = nullptr; }};
    const Mutation m = break_paged(rng, b, p, ptrs);
    if (m.label.empty()) continue;
    std::vector<std::int64_t> slots(p.slots, p.slots + p.rows.num_tokens);
    if (m.token >= 0) {
      slots[static_cast<std::size_t>(m.token)] = m.slot;
      b.slot_mapping = slots.data();
    }
    const std::string& label = m.label;
    const std::vector<unsigned char> kc0(p.kc, p.kc + p.cache_bytes), vc0(p.vc, p.vc + p.cache_bytes);
    const Status s = cpu::paged_write(b);
    EXPECT_EQ(s, Status::invalid_argument) << where << " [" << label << "]: " << describe(s);
    EXPECT_TRUE(std::equal(kc0.begin(), kc0.end(), p.kc) && std::equal(vc0.begin(), vc0.end(), p.vc))
        << where << " [" << label << "]: refused, but the cache was written";
  }
}

void fuzz_paged_read(std::uint64_t seed, int cases) {
  Rng rng(seed);
  for (int c = 0; c < cases; ++c) {
    Arena arena;
    const bool mutate = c % 4 != 0;
    Paged p = make_paged(rng, arena, mutate);
    const std::string where =
        "paged_read case " + std::to_string(c) + " seed " + std::to_string(seed) + " " + p.describe();
    {
      // Valid: succeeds; rows of padding tokens and the gaps between rows stay untouched.
      const std::vector<unsigned char> k0(p.key, p.key + p.key_bytes), v0(p.value, p.value + p.value_bytes);
      const Status s = cpu::paged_read(read_args(p));
      ASSERT_EQ(s, Status::success) << where << ": " << describe(s);
      const std::size_t es = kvscale::dtype_size(p.dtype);
      const auto row = static_cast<std::size_t>(p.rows.num_kv_heads * p.rows.head_size) * es;
      for (const auto& [buf, before, stride] : {std::make_tuple(p.key, &k0, p.rows.key_row_stride),
                                                std::make_tuple(p.value, &v0, p.rows.value_row_stride)}) {
        for (std::size_t i = 0; i < before->size(); ++i) {
          const std::size_t t = i / (static_cast<std::size_t>(stride) * es);
          const bool in_row = i - t * static_cast<std::size_t>(stride) * es < row;
          if (!in_row || p.slots[t] < 0) {
            ASSERT_EQ(buf[i], (*before)[i])
                << where << ": byte " << i << " (token " << t << ", padding or gap) changed";
          }
        }
      }
    }
    if (!mutate) {
      kvscale::PagedReadArgs z;
      z.rows.num_tokens = 0;
      EXPECT_EQ(cpu::paged_read(z), Status::success) << "num_tokens == 0 with null pointers is a no-op";
      continue;
    }
    kvscale::PagedReadArgs b = read_args(p);
    const void* key = b.key;
    const void* value = b.value;
    const Ptrs ptrs{&key,
                    &value,
                    &b.slot_mapping,
                    &b.k_scale,
                    &b.v_scale,
                    [&] { b.key_cache = nullptr; },
                    [&] { b.value_cache = nullptr; }};
    const Mutation m = break_paged(rng, b, p, ptrs);
    if (m.label.empty()) continue;
    b.key = const_cast<void*>(key);  // the rows are outputs of a read
    b.value = const_cast<void*>(value);
    std::vector<std::int64_t> slots(p.slots, p.slots + p.rows.num_tokens);
    if (m.token >= 0) {
      slots[static_cast<std::size_t>(m.token)] = m.slot;
      b.slot_mapping = slots.data();
    }
    const std::string& label = m.label;
    const std::vector<unsigned char> k0(p.key, p.key + p.key_bytes), v0(p.value, p.value + p.value_bytes);
    const Status s = cpu::paged_read(b);
    EXPECT_EQ(s, Status::invalid_argument) << where << " [" << label << "]: " << describe(s);
    EXPECT_TRUE(std::equal(k0.begin(), k0.end(), p.key) && std::equal(v0.begin(), v0.end(), p.value))
        << where << " [" << label << "]: refused, but key/value were written";
  }
}

// ------------------------------------------------------------------------------------------------

class LauncherFuzz : public ::testing::TestWithParam<cpu::Isa> {
 protected:
  void SetUp() override {
    // On a CPU without the requested ISA the backend clamps to the best one it has; the fuzz then
    // runs there (with this parameter's seeds) instead of being skipped, and says so.
    const cpu::Isa got = cpu::set_max_isa(GetParam());
    ASSERT_LE(static_cast<int>(got), static_cast<int>(GetParam()));
    if (got != GetParam()) {
      RecordProperty("ran_on_isa", cpu::isa_name(got));
      std::printf("note: this CPU has no %s; fuzzing the %s path instead\n", cpu::isa_name(GetParam()),
                  cpu::isa_name(got));
    }
  }
  void TearDown() override { cpu::set_max_isa(cpu::Isa::best); }
  std::uint64_t seed(std::uint64_t op) const { return kSeed + op * 1000 + static_cast<std::uint64_t>(GetParam()); }
};

TEST_P(LauncherFuzz, Quantize) { fuzz_quantize(seed(1), kCasesPerOp); }
TEST_P(LauncherFuzz, Dequantize) { fuzz_dequantize(seed(2), kCasesPerOp); }
TEST_P(LauncherFuzz, PagedWrite) { fuzz_paged_write(seed(3), kCasesPerOp); }
TEST_P(LauncherFuzz, PagedRead) { fuzz_paged_read(seed(4), kCasesPerOp); }

INSTANTIATE_TEST_SUITE_P(Isa, LauncherFuzz, ::testing::Values(cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512),
                         [](const ::testing::TestParamInfo<cpu::Isa>& i) { return cpu::isa_name(i.param); });

}  // namespace
