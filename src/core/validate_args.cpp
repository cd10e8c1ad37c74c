// Argument validation shared by every backend (the validating layer above the raw kernels).
// Only shapes, pointers and alignment are looked at: data pointers may be device memory.
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
bool is_valid(CacheLayout l) { return l == CacheLayout::nhd || l == CacheLayout::hnd; }

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

// Shared by paged write and read: shapes of the rows and the cache, and their agreement.
Status check_paged(const char* op, Fp8Format f, DType t, const TokenRows& r, const PagedCacheShape& c, const void* key,
                   const void* value, const std::int64_t* slots, const void* kc, const void* vc, const float* ks,
                   const float* vs, const char* slots_name) {
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
  for (auto [name, stride] : {std::pair<const char*, std::int64_t>{"key_row_stride", r.key_row_stride},
                              std::pair<const char*, std::int64_t>{"value_row_stride", r.value_row_stride}}) {
    std::int64_t span = 0;
    if (stride < row)
      return bad(op, std::string(name) + " = " + std::to_string(stride) +
                         " is smaller than num_kv_heads * head_size = " + std::to_string(row));
    if (!mul_ok(stride, r.num_tokens, &span) || !mul_ok(span, static_cast<std::int64_t>(dtype_size(t)), &span))
      return bad(op, std::string(name) + " * num_tokens overflows 64-bit sizes");
  }
  if (key == nullptr) return bad(op, "key is null");
  if (value == nullptr) return bad(op, "value is null");
  if (slots == nullptr) return bad(op, std::string(slots_name) + " is null");
  if (kc == nullptr) return bad(op, "key_cache is null");
  if (vc == nullptr) return bad(op, "value_cache is null");
  if (ks == nullptr) return bad(op, "k_scale is null");
  if (vs == nullptr) return bad(op, "v_scale is null");
  if (!aligned(key, dtype_size(t)) || !aligned(value, dtype_size(t)))
    return bad(op, std::string("key and value must be aligned to ") + std::to_string(dtype_size(t)) + " bytes");
  if (!aligned(slots, alignof(std::int64_t))) return bad(op, std::string(slots_name) + " is not aligned to 8 bytes");
  if (!aligned(ks, alignof(float)) || !aligned(vs, alignof(float)))
    return bad(op, "k_scale and v_scale must be aligned to 4 bytes");
  return Status::success;
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
                     a.value_cache, a.k_scale, a.v_scale, "slot_mapping");
}
Status validate(const PagedReadArgs& a) noexcept {
  return check_paged("paged_read", a.format, a.dtype, a.rows, a.cache, a.key, a.value, a.slots, a.key_cache,
                     a.value_cache, a.k_scale, a.v_scale, "slots");
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
  for (auto [name, stride] : {std::pair<const char*, std::int64_t>{"key_row_stride", r.key_row_stride},
                              std::pair<const char*, std::int64_t>{"value_row_stride", r.value_row_stride}}) {
    std::int64_t span = 0;
    if (stride < row)
      return bad(op, std::string(name) + " = " + std::to_string(stride) +
                         " is smaller than num_kv_heads * head_size = " + std::to_string(row));
    if (!mul_ok(stride, r.num_tokens, &span) || !mul_ok(span, static_cast<std::int64_t>(dtype_size(a.dtype)), &span))
      return bad(op, std::string(name) + " * num_tokens overflows 64-bit sizes");
  }
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
