// kvscale/kv_cache.hpp: data layouts and the arguments of the quantize/dequantize operations.
//
// The layouts live here, once, with their accessors; every backend (cpu.hpp, gpu.hpp) takes the
// same argument structs, validates them with validate_*(), then hands raw pointers to its kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvscale/config.hpp"
#include "kvscale/export.h"
#include "kvscale/fp8.hpp"
#include "kvscale/status.hpp"

namespace kvscale {

/// Element type of the unquantized K/V side.
enum class DType : std::uint8_t { f32 = 0, f16 = 1, bf16 = 2 };

/// Bytes per element of a DType.
KVSCALE_HOST_DEVICE constexpr std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }
/// "f32", "f16" or "bf16".
KVSCALE_EXPORT const char* dtype_name(DType t) noexcept;
/// "e4m3fn" or "e4m3fnuz".
KVSCALE_EXPORT const char* format_name(Fp8Format f) noexcept;

/// Order of the dimensions of one paged cache (K or V; both share one layout).
enum class CacheLayout : std::uint8_t {
  nhd = 0,  ///< [num_blocks, block_size, num_kv_heads, head_size] (vLLM flash layout)
  hnd = 1,  ///< [num_blocks, num_kv_heads, block_size, head_size]
};

/// Shape of a paged FP8 cache. Elements are 1 byte; the tensor is dense in the order the layout
/// names. A slot is `block * block_size + offset`; vLLM's slot_mapping holds slots.
struct PagedCacheShape {
  CacheLayout layout = CacheLayout::nhd;
  std::int64_t num_blocks = 0;
  std::int64_t block_size = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_size = 0;

  KVSCALE_HOST_DEVICE std::int64_t num_slots() const { return num_blocks * block_size; }
  KVSCALE_HOST_DEVICE std::int64_t bytes() const { return num_slots() * num_kv_heads * head_size; }
  /// Byte offset of element (slot, head, 0). Precondition: 0 <= slot < num_slots(), head valid.
  KVSCALE_HOST_DEVICE std::int64_t offset(std::int64_t slot, std::int64_t head) const {
    const std::int64_t block = slot / block_size;
    const std::int64_t off = slot - block * block_size;
    return layout == CacheLayout::nhd ? ((block * block_size + off) * num_kv_heads + head) * head_size
                                      : ((block * num_kv_heads + head) * block_size + off) * head_size;
  }
};

/// Shape of the unquantized side of a paged op: [num_tokens, num_kv_heads, head_size], heads
/// dense within a token row, rows `row_stride` elements apart (>= num_kv_heads * head_size).
struct TokenRows {
  std::int64_t num_tokens = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_size = 0;
  std::int64_t key_row_stride = 0;    ///< elements between consecutive tokens of key
  std::int64_t value_row_stride = 0;  ///< elements between consecutive tokens of value
};

/// Contiguous quantize: out[i] = quantize(format, in[i], *scale) for i < n.
struct QuantizeArgs {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;    ///< element type of `in`
  const void* in = nullptr;     ///< n elements of dtype, aligned to dtype_size
  std::uint8_t* out = nullptr;  ///< n bytes
  std::size_t n = 0;
  const float* scale = nullptr;  ///< one float: host memory for the CPU backend, device for GPUs
};

/// Contiguous dequantize: out[i] = round_to_dtype(decode(in[i]) * *scale) for i < n.
struct DequantizeArgs {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;  ///< element type of `out`
  const std::uint8_t* in = nullptr;
  void* out = nullptr;
  std::size_t n = 0;
  const float* scale = nullptr;
};

/// Paged write (vLLM reshape_and_cache_flash): for each token t with slot_mapping[t] >= 0,
/// quantize key[t] and value[t] into the caches at that slot. Negative slots are padding: skipped.
/// Preconditions, as in vLLM: non-negative slots are unique (two tokens writing one slot race on
/// the GPU and on the threaded CPU backend), and no input overlaps an output (likewise for every
/// operation in this file; key_cache and value_cache are distinct buffers).
struct PagedWriteArgs {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;
  TokenRows rows;
  const void* key = nullptr;
  const void* value = nullptr;
  const std::int64_t* slot_mapping = nullptr;  ///< [num_tokens]
  PagedCacheShape cache;
  std::uint8_t* key_cache = nullptr;
  std::uint8_t* value_cache = nullptr;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
};

/// Paged read: for each token t with slots[t] >= 0, dequantize that slot of both caches into
/// key[t] and value[t]. Rows of negative slots are left untouched.
struct PagedReadArgs {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;
  TokenRows rows;
  const std::uint8_t* key_cache = nullptr;
  const std::uint8_t* value_cache = nullptr;
  PagedCacheShape cache;
  const std::int64_t* slots = nullptr;  ///< [num_tokens]
  void* key = nullptr;
  void* value = nullptr;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
};

/// Floats per layer in an observe_amax buffer: [K, V, K_head[0..H-1], V_head[0..H-1]].
KVSCALE_HOST_DEVICE constexpr std::int64_t amax_floats(std::int64_t num_kv_heads) { return 2 + 2 * num_kv_heads; }

/// Calibration (observe_amax): folds max |x| of this call's K and V rows into `amax`, a
/// caller-owned buffer of amax_floats(num_kv_heads) floats that accumulates across calls:
///   amax[0] = K per tensor, amax[1] = V per tensor, amax[2 + h] = K of head h,
///   amax[2 + H + h] = V of head h (H = rows.num_kv_heads; the rank's heads, as in TokenRows).
/// One layer per call; for L layers use a [L][amax_floats(H)] buffer and pass amax + layer * stride.
/// Start from zeros (0.0f) and never reset between calls of a calibration run.
///   - Each value becomes max(old, |x|), compared as bits: the buffer must hold non-negative,
///     non-NaN floats (zeros, or an earlier result). The result is exact (a max), so every backend
///     gives the same bits.
///   - NaN inputs are ignored (they carry no magnitude); +-inf counts as inf, so amax = inf records
///     that the data overflowed and scales_from_amax refuses it; -0 counts as +0.
///   - Tokens with slot_mapping[t] < 0 (vLLM padding) are skipped; slot_mapping may be nullptr
///     (every token counts). Non-negative slots are not range-checked: no cache is touched.
///   - The inputs are the rows of a paged write: the same TokenRows and pointers can be passed.
struct ObserveAmaxArgs {
  DType dtype = DType::bf16;
  TokenRows rows;
  const void* key = nullptr;
  const void* value = nullptr;
  const std::int64_t* slot_mapping = nullptr;  ///< [num_tokens], or nullptr
  float* amax = nullptr;                       ///< amax_floats(rows.num_kv_heads) floats, 4-byte aligned
};

/// Argument checks shared by every backend. They look at shapes, pointers and alignment only; they
/// never dereference data pointers (which may be device memory). Slot ranges are checked by the
/// backends: the CPU reads the slots and refuses the call; GPU kernels skip out-of-range slots
/// silently (reporting them would need a synchronisation), so check untrusted slots on the host.
/// Return Status::success or Status::invalid_argument (detail in last_error_message()).
KVSCALE_EXPORT Status validate(const QuantizeArgs& a) noexcept;
KVSCALE_EXPORT Status validate(const DequantizeArgs& a) noexcept;
KVSCALE_EXPORT Status validate(const PagedWriteArgs& a) noexcept;
KVSCALE_EXPORT Status validate(const PagedReadArgs& a) noexcept;
KVSCALE_EXPORT Status validate(const ObserveAmaxArgs& a) noexcept;

}  // namespace kvscale
