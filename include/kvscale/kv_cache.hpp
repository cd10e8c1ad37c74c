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

/// Order of the dimensions of a paged cache. `nhd` and `hnd` are presets of the strided layout
/// (PagedCacheShape's strides); `split` is vLLM's ROCm layout, where K and V differ.
enum class CacheLayout : std::uint8_t {
  nhd = 0,    ///< K and V [num_blocks, block_size, num_kv_heads, head_size] (vLLM flash layout)
  hnd = 1,    ///< K and V [num_blocks, num_kv_heads, block_size, head_size]
  split = 2,  ///< K [num_blocks, num_kv_heads, head_size/16, block_size, 16] (x = 16 FP8 bytes),
              ///< V [num_blocks, num_kv_heads, head_size, block_size] (vLLM ROCm paged attention)
};

/// Where the elements of one cache (K or V) live, resolved from a PagedCacheShape: element e of
/// head h at slot (block, off) is at byte
///   block * block + off * slot + h * head + (e / chunk_len) * chunk + e % chunk_len.
/// A head is made of head_size / chunk_len runs of chunk_len contiguous bytes, `chunk` bytes apart
/// (chunk_len == head_size: one contiguous run, the strided layouts).
struct CacheStrides {
  std::int64_t block = 0;
  std::int64_t slot = 0;
  std::int64_t head = 0;
  std::int64_t chunk = 0;
  std::int64_t chunk_len = 0;

  KVSCALE_HOST_DEVICE std::int64_t offset(std::int64_t blk, std::int64_t off, std::int64_t h, std::int64_t e) const {
    const std::int64_t c = e / chunk_len;
    return blk * block + off * slot + h * head + c * chunk + (e - c * chunk_len);
  }
};

/// Shape of a paged FP8 cache (elements are 1 byte). A slot is `block * block_size + offset`;
/// vLLM's slot_mapping holds slots.
///
/// Strided layouts (`nhd`, `hnd`): element e of head h at slot (block, off) of K is at byte
///   key_cache[block * block_stride + off * slot_stride + h * head_stride + e]
/// and likewise in value_cache (K and V share the strides; the elements of a head are contiguous).
/// These are vLLM reshape_and_cache_flash's block_stride / page_stride / head_stride and
/// flashinfer paged_kv_t's stride_page / stride_n / stride_h, in elements (= bytes).
///   - All three strides 0 (the default): the layout's dense preset,
///       nhd: head_stride = head_size, slot_stride = num_kv_heads * head_size,
///            block_stride = block_size * slot_stride;
///       hnd: slot_stride = head_size, head_stride = block_size * head_size,
///            block_stride = num_kv_heads * head_stride;
///     so a shape with only layout, num_blocks, block_size, num_kv_heads and head_size set is the
///     dense tensor it always was. Otherwise all three must be > 0 (`layout` then only names the
///     preset the strides came from).
///   - validate() requires the strides to nest (sorted by stride, each stride is at least the
///     extent of the dimensions below it: elements, heads, slots, blocks), which makes distinct
///     elements distinct bytes.
///   - K and V in one allocation (vLLM v1 [num_blocks, 2, block_size, heads, head_size]: block_stride
///     = 2 * block_size * heads * head_size, value_cache = key_cache + block_size * heads * head_size):
///     when the byte ranges of K and V intersect, validate() accepts them only if they interleave
///     without sharing a byte: at some dimension i whose stride s divides the strides of every
///     dimension above it, d = |value_cache - key_cache| satisfies E <= d mod s <= s - E, E being
///     the extent of the dimensions below i.
///   - allocation_bytes > 0: key_cache and value_cache point into one allocation of that many bytes
///     starting at min(key_cache, value_cache); validate() checks that every element of K and V is
///     inside it. 0: unchecked; each cache must then provide bytes() bytes.
/// Split layout (`split`, dense only, strides must be 0; head_size a multiple of 16):
///   K[block][h][e / 16][off][e % 16] at ((block * H + h) * (head_size / 16) + e / 16) * block_size * 16
///                                       + off * 16 + e % 16
///   V[block][h][e][off]              at ((block * H + h) * head_size + e) * block_size + off
struct PagedCacheShape {
  CacheLayout layout = CacheLayout::nhd;
  std::int64_t num_blocks = 0;
  std::int64_t block_size = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_size = 0;
  std::int64_t block_stride = 0;      ///< elements between blocks (0 = the preset's)
  std::int64_t slot_stride = 0;       ///< elements between the slots of a block (0 = the preset's)
  std::int64_t head_stride = 0;       ///< elements between the heads of a slot (0 = the preset's)
  std::int64_t allocation_bytes = 0;  ///< see above; 0 = unchecked

  KVSCALE_HOST_DEVICE std::int64_t num_slots() const { return num_blocks * block_size; }
  KVSCALE_HOST_DEVICE bool strided() const { return block_stride != 0 || slot_stride != 0 || head_stride != 0; }

  /// The resolved strides of K (presets and split included).
  KVSCALE_HOST_DEVICE CacheStrides key_strides() const {
    const std::int64_t H = num_kv_heads, D = head_size, bs = block_size;
    if (layout == CacheLayout::split) return CacheStrides{H * D * bs, 16, D * bs, 16 * bs, 16};
    if (strided()) return CacheStrides{block_stride, slot_stride, head_stride, D, D};
    if (layout == CacheLayout::hnd) return CacheStrides{H * bs * D, D, bs * D, D, D};
    return CacheStrides{bs * H * D, H * D, D, D, D};
  }
  /// The resolved strides of V (the same as K's except in the split layout).
  KVSCALE_HOST_DEVICE CacheStrides value_strides() const {
    if (layout == CacheLayout::split) {
      const std::int64_t H = num_kv_heads, D = head_size, bs = block_size;
      return CacheStrides{H * D * bs, 1, D * bs, bs, 1};
    }
    return key_strides();
  }
  /// Bytes each cache spans from its pointer: the largest element offset + 1 (the dense presets:
  /// num_slots() * num_kv_heads * head_size). Precondition: validate() accepted the shape.
  KVSCALE_HOST_DEVICE std::int64_t bytes() const {
    const CacheStrides s = key_strides();
    return (num_blocks - 1) * s.block + (block_size - 1) * s.slot + (num_kv_heads - 1) * s.head +
           (head_size / s.chunk_len - 1) * s.chunk + s.chunk_len;
  }
  /// Byte offset of element e of (slot, head) in key_cache / value_cache.
  /// Precondition: 0 <= slot < num_slots(), head and e valid.
  KVSCALE_HOST_DEVICE std::int64_t key_offset(std::int64_t slot, std::int64_t head, std::int64_t e = 0) const {
    const std::int64_t block = slot / block_size;
    return key_strides().offset(block, slot - block * block_size, head, e);
  }
  KVSCALE_HOST_DEVICE std::int64_t value_offset(std::int64_t slot, std::int64_t head, std::int64_t e = 0) const {
    const std::int64_t block = slot / block_size;
    return value_strides().offset(block, slot - block * block_size, head, e);
  }
  /// key_offset(slot, head, 0) (for the strided layouts, also the value offset).
  KVSCALE_HOST_DEVICE std::int64_t offset(std::int64_t slot, std::int64_t head) const { return key_offset(slot, head); }
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

/// Scales of the paged ops (vLLM's kv_scale_stride): head h of the call uses k_scale[h *
/// k_scale_stride] for K and v_scale[h * v_scale_stride] for V. Stride 0 (the default): one scale
/// for the tensor (k_scale points to one float); 1: one scale per KV head (num_kv_heads floats).
/// The contiguous ops (QuantizeArgs, DequantizeArgs) stay per tensor: one `scale`, since their input
/// has no head dimension (quantize each head's range separately for per-head scales).
///
/// Paged write (vLLM reshape_and_cache_flash): for each token t with slot_mapping[t] >= 0,
/// quantize key[t] and value[t] into the caches at that slot. Negative slots are padding: skipped.
/// Preconditions, as in vLLM: non-negative slots are unique (two tokens writing one slot race on
/// the GPU and on the threaded CPU backend), and no input overlaps an output (likewise for every
/// operation in this file; key_cache and value_cache may share an allocation only as
/// PagedCacheShape describes).
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
  int k_scale_stride = 0;  ///< 0: one K scale; 1: one per KV head
  int v_scale_stride = 0;  ///< 0: one V scale; 1: one per KV head
};

/// Paged read: for each token t with slot_mapping[t] >= 0, dequantize that slot of both caches
/// into key[t] and value[t]. Rows of negative slots are left untouched.
struct PagedReadArgs {
  Fp8Format format = Fp8Format::e4m3fn;
  DType dtype = DType::bf16;
  TokenRows rows;
  const std::uint8_t* key_cache = nullptr;
  const std::uint8_t* value_cache = nullptr;
  PagedCacheShape cache;
  const std::int64_t* slot_mapping = nullptr;  ///< [num_tokens]
  void* key = nullptr;
  void* value = nullptr;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  int k_scale_stride = 0;  ///< 0: one K scale; 1: one per KV head
  int v_scale_stride = 0;  ///< 0: one V scale; 1: one per KV head
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
