// Argument validation shared by every backend (the validating layer above the raw kernels).
// Only shapes, pointers and alignment are looked at: data pointers may be device memory.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace {

constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();

bool is_valid(Fp8Format f) { return f == Fp8Format::e4m3fn || f == Fp8Format::e4m3fnuz; }
bool is_valid(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }
bool is_valid(CacheLayout l) { return l == CacheLayout::nhd || l == CacheLayout::hnd || l == CacheLayout::split; }

bool aligned(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

// a * b without overflow, for positive operands.
bool mul_ok(std::int64_t a, std::int64_t b, std::int64_t* out) {
  if (a != 0 && b > kMaxI64 / a) return false;
  *out = a * b;
  return true;
}

Status bad(const char* op, const std::string& what) {
  return detail::fail(Status::invalid_argument, std::string(op) + ": " + what);
}

Status check_common(const char* op, Fp8Format f, DType t) {
  if (!is_valid(f)) return bad(op, "unknown Fp8Format " + std::to_string(static_cast<int>(f)));
  if (!is_valid(t)) return bad(op, "unknown DType " + std::to_string(static_cast<int>(t)));
  return Status::success;
}

Status check_contiguous(const char* op, Fp8Format f, DType t, const void* in, const void* out, std::size_t n,
                        const float* scale, const void* wide) {
  if (Status s = check_common(op, f, t); s != Status::success) return s;
  if (n == 0) return Status::success;
  if (in == nullptr) return bad(op, "in is null");
  if (out == nullptr) return bad(op, "out is null");
  if (scale == nullptr) return bad(op, "scale is null");
  if (n > static_cast<std::size_t>(kMaxI64) / dtype_size(t))
    return bad(op, "n = " + std::to_string(n) + " is too large");
  if (!aligned(wide, dtype_size(t)))
    return bad(op, std::string("the ") + dtype_name(t) + " pointer is not aligned to " + std::to_string(dtype_size(t)) +
                       " bytes");
  if (!aligned(scale, alignof(float))) return bad(op, "scale is not aligned to 4 bytes");
  return Status::success;
}

// One dimension of a cache: `count` positions `stride` bytes apart.
struct Dim {
  std::int64_t stride, count;
};

// Sorted by stride, the dimensions that have more than one position; false if the strides do not
// nest (a stride smaller than the extent of the dimensions below it) or an extent overflows.
// ext[i] is the extent (largest offset + 1) of dims[0..i).
bool nested(const CacheStrides& s, const PagedCacheShape& c, Dim* dims, std::int64_t* ext, int* n) {
  Dim all[4] = {
      {s.block, c.num_blocks}, {s.slot, c.block_size}, {s.head, c.num_kv_heads}, {s.chunk, c.head_size / s.chunk_len}};
  *n = 0;
  for (const Dim& d : all)
    if (d.count > 1) dims[(*n)++] = d;
  for (int i = 1; i < *n; ++i)  // insertion sort (std::sort on 4 elements trips -Warray-bounds in GCC 12)
    for (int j = i; j > 0 && dims[j].stride < dims[j - 1].stride; --j) std::swap(dims[j], dims[j - 1]);
  ext[0] = s.chunk_len;  // the contiguous run of every chunk
  for (int i = 0; i < *n; ++i) {
    if (dims[i].stride < ext[i]) return false;
    std::int64_t span = 0;
    if (!mul_ok(dims[i].stride, dims[i].count - 1, &span) || span > kMaxI64 - ext[i]) return false;
    ext[i + 1] = span + ext[i];
  }
  return true;
}

// K at 0 and V at d > 0 (same strides): true when no byte is an element of both (the rule of
// kv_cache.hpp: at some dimension whose stride divides every stride above it, the residue of d
// lies between the extent below and stride - extent).
bool interleave_disjoint(const Dim* dims, const std::int64_t* ext, int n, std::int64_t d) {
  for (int i = 0; i < n; ++i) {
    const std::int64_t s = dims[i].stride;
    bool divides = true;
    for (int j = i + 1; j < n; ++j) divides = divides && dims[j].stride % s == 0;
    if (!divides) continue;
    const std::int64_t r = d % s;
    if (r >= ext[i] && r <= s - ext[i]) return true;
  }
  return false;
}

Status check_cache(const char* op, const PagedCacheShape& c, const void* kc, const void* vc) {
  if (c.layout == CacheLayout::split) {
    if (c.strided()) return bad(op, "the split layout is dense: block_stride, slot_stride and head_stride must be 0");
    if (c.head_size % 16 != 0)
      return bad(op, "the split layout needs head_size to be a multiple of 16, got " + std::to_string(c.head_size));
  } else if (c.strided() && (c.block_stride <= 0 || c.slot_stride <= 0 || c.head_stride <= 0)) {
    return bad(op, "block_stride, slot_stride and head_stride must all be > 0 (or all 0 for the dense preset), got " +
                       std::to_string(c.block_stride) + ", " + std::to_string(c.slot_stride) + ", " +
                       std::to_string(c.head_stride));
  }
  if (c.allocation_bytes < 0) return bad(op, "allocation_bytes is negative");
  Dim dims[4];
  std::int64_t ext[5];
  int n = 0;
  if (!nested(c.key_strides(), c, dims, ext, &n))
    return bad(op, "the cache strides (block " + std::to_string(c.block_stride) + ", slot " +
                       std::to_string(c.slot_stride) + ", head " + std::to_string(c.head_stride) +
                       ") overlap distinct elements or overflow 64-bit sizes");
  const std::int64_t span = ext[n];  // == c.bytes()
  const auto k = reinterpret_cast<std::uintptr_t>(kc), v = reinterpret_cast<std::uintptr_t>(vc);
  const std::uintptr_t lo = std::min(k, v), hi = std::max(k, v);
  const std::uintptr_t d = hi - lo;
  if (d < static_cast<std::uintptr_t>(span)) {  // the byte ranges of K and V intersect
    if (c.layout == CacheLayout::split || d == 0 || !interleave_disjoint(dims, ext, n, static_cast<std::int64_t>(d)))
      return bad(op, "key_cache and value_cache overlap: value_cache - key_cache = " +
                         std::to_string(static_cast<std::int64_t>(v - k)) + " bytes, each cache spans " +
                         std::to_string(span) + " bytes");
  }
  if (c.allocation_bytes > 0 &&
      (d > static_cast<std::uintptr_t>(kMaxI64 - span) || static_cast<std::int64_t>(d) + span > c.allocation_bytes))
    return bad(op, "the caches need " + std::to_string(static_cast<std::int64_t>(d) + span) +
                       " bytes from min(key_cache, value_cache), more than allocation_bytes = " +
                       std::to_string(c.allocation_bytes));
  return Status::success;
}

Status check_scale_stride(const char* op, const char* name, int stride) {
  if (stride == 0 || stride == 1) return Status::success;
  return bad(op, std::string(name) + " = " + std::to_string(stride) + " (must be 0: per tensor, or 1: per head)");
}

// Token rows: each row stride holds a whole row (num_kv_heads * head_size = `row` elements), and
// the rows' extent fits in 64 bits.
Status check_row_strides(const char* op, const TokenRows& r, std::int64_t row, DType t) {
  for (auto [name, stride] : {std::pair<const char*, std::int64_t>{"key_row_stride", r.key_row_stride},
                              std::pair<const char*, std::int64_t>{"value_row_stride", r.value_row_stride}}) {
    std::int64_t span = 0;
    if (stride < row)
      return bad(op, std::string(name) + " = " + std::to_string(stride) +
                         " is smaller than num_kv_heads * head_size = " + std::to_string(row));
    if (!mul_ok(stride, r.num_tokens, &span) || !mul_ok(span, static_cast<std::int64_t>(dtype_size(t)), &span))
      return bad(op, std::string(name) + " * num_tokens overflows 64-bit sizes");
  }
  return Status::success;
}

// Shared by paged write and read: shapes of the rows and the cache, and their agreement.
Status check_paged(const char* op, Fp8Format f, DType t, const TokenRows& r, const PagedCacheShape& c, const void* key,
                   const void* value, const std::int64_t* slots, const void* kc, const void* vc, const float* ks,
                   const float* vs, int kss, int vss) {
  if (Status s = check_common(op, f, t); s != Status::success) return s;
  if (r.num_tokens < 0) return bad(op, "num_tokens = " + std::to_string(r.num_tokens) + " is negative");
  if (r.num_tokens == 0) return Status::success;
  if (!is_valid(c.layout)) return bad(op, "unknown CacheLayout " + std::to_string(static_cast<int>(c.layout)));
  if (r.num_kv_heads <= 0 || r.head_size <= 0)
    return bad(op, "num_kv_heads and head_size must be > 0, got " + std::to_string(r.num_kv_heads) + " and " +
                       std::to_string(r.head_size));
  if (c.num_kv_heads != r.num_kv_heads || c.head_size != r.head_size)
    return bad(op, "the cache is [" + std::to_string(c.num_kv_heads) + " heads x " + std::to_string(c.head_size) +
                       "] but the rows are [" + std::to_string(r.num_kv_heads) + " heads x " +
                       std::to_string(r.head_size) + "]");
  if (c.num_blocks <= 0 || c.block_size <= 0)
    return bad(op, "num_blocks and block_size must be > 0, got " + std::to_string(c.num_blocks) + " and " +
                       std::to_string(c.block_size));
  std::int64_t row = 0, slots_total = 0, cache_bytes = 0;
  if (!mul_ok(r.num_kv_heads, r.head_size, &row) || !mul_ok(c.num_blocks, c.block_size, &slots_total) ||
      !mul_ok(slots_total, row, &cache_bytes))
    return bad(op, "the cache shape overflows 64-bit sizes");
  if (Status s = check_row_strides(op, r, row, t); s != Status::success) return s;
  if (key == nullptr) return bad(op, "key is null");
  if (value == nullptr) return bad(op, "value is null");
  if (slots == nullptr) return bad(op, "slot_mapping is null");
  if (kc == nullptr) return bad(op, "key_cache is null");
  if (vc == nullptr) return bad(op, "value_cache is null");
  if (ks == nullptr) return bad(op, "k_scale is null");
  if (vs == nullptr) return bad(op, "v_scale is null");
  if (!aligned(key, dtype_size(t)) || !aligned(value, dtype_size(t)))
    return bad(op, std::string("key and value must be aligned to ") + std::to_string(dtype_size(t)) + " bytes");
  if (!aligned(slots, alignof(std::int64_t))) return bad(op, "slot_mapping is not aligned to 8 bytes");
  if (!aligned(ks, alignof(float)) || !aligned(vs, alignof(float)))
    return bad(op, "k_scale and v_scale must be aligned to 4 bytes");
  if (Status s = check_scale_stride(op, "k_scale_stride", kss); s != Status::success) return s;
  if (Status s = check_scale_stride(op, "v_scale_stride", vss); s != Status::success) return s;
  return check_cache(op, c, kc, vc);
}

}  // namespace

Status validate(const QuantizeArgs& a) noexcept {
  return check_contiguous("quantize", a.format, a.dtype, a.in, a.out, a.n, a.scale, a.in);
}
Status validate(const DequantizeArgs& a) noexcept {
  return check_contiguous("dequantize", a.format, a.dtype, a.in, a.out, a.n, a.scale, a.out);
}
Status validate(const PagedWriteArgs& a) noexcept {
  return check_paged("paged_write", a.format, a.dtype, a.rows, a.cache, a.key, a.value, a.slot_mapping, a.key_cache,
                     a.value_cache, a.k_scale, a.v_scale, a.k_scale_stride, a.v_scale_stride);
}
Status validate(const PagedReadArgs& a) noexcept {
  return check_paged("paged_read", a.format, a.dtype, a.rows, a.cache, a.key, a.value, a.slot_mapping, a.key_cache,
                     a.value_cache, a.k_scale, a.v_scale, a.k_scale_stride, a.v_scale_stride);
}

Status validate(const ObserveAmaxArgs& a) noexcept {
  const char* op = "observe_amax";
  if (Status s = check_common(op, Fp8Format::e4m3fn, a.dtype); s != Status::success) return s;
  const TokenRows& r = a.rows;
  if (r.num_tokens < 0) return bad(op, "num_tokens = " + std::to_string(r.num_tokens) + " is negative");
  if (r.num_tokens == 0) return Status::success;
  if (r.num_kv_heads <= 0 || r.head_size <= 0)
    return bad(op, "num_kv_heads and head_size must be > 0, got " + std::to_string(r.num_kv_heads) + " and " +
                       std::to_string(r.head_size));
  std::int64_t row = 0;
  if (!mul_ok(r.num_kv_heads, r.head_size, &row) || r.num_kv_heads > (kMaxI64 - 2) / 2)
    return bad(op, "num_kv_heads * head_size overflows 64-bit sizes");
  if (Status s = check_row_strides(op, r, row, a.dtype); s != Status::success) return s;
  if (a.key == nullptr) return bad(op, "key is null");
  if (a.value == nullptr) return bad(op, "value is null");
  if (a.amax == nullptr) return bad(op, "amax is null");
  if (!aligned(a.key, dtype_size(a.dtype)) || !aligned(a.value, dtype_size(a.dtype)))
    return bad(op, std::string("key and value must be aligned to ") + std::to_string(dtype_size(a.dtype)) + " bytes");
  if (a.slot_mapping != nullptr && !aligned(a.slot_mapping, alignof(std::int64_t)))
    return bad(op, "slot_mapping is not aligned to 8 bytes");
  if (!aligned(a.amax, alignof(float))) return bad(op, "amax is not aligned to 4 bytes");
  return Status::success;
}

}  // namespace kvscale
