// Loader-private: the safetensors container (spec docs/checkpoint-scales.md, S rules).
//
// File layout: u64 little-endian N | N bytes of UTF-8 JSON header | data buffer.
// Header: {"__metadata__": {str: str}?, "<tensor>": {"dtype": str, "shape": [u64...],
//          "data_offsets": [begin, end]}, ...}; offsets are relative to the data buffer.
//
// Decisions where the reference implementation (the `safetensors` crate, serde) is looser; kvscale
// "rejects what the reference rejects, and more" (checkpoint-scales.md):
// - A tensor entry has exactly the keys dtype, shape and data_offsets. serde's TensorInfo ignores
//   unknown fields (no deny_unknown_fields); kvscale rejects them (safetensors_tensor_invalid at
//   the extra key): no known writer emits them, and an entry we do not fully understand cannot be
//   trusted to describe its bytes.
// - "__metadata__": null is rejected (serde reads it as None); S3 says: an object of string -> string.
// - The shape's product is computed left to right and must stay <= 2^62 at every step (the crate
//   stops at usize overflow, 2^64, also left to right, so [2^40, 2^40, 0] is rejected by both).
// - The top level must be an object: the shared reader's not_an_object becomes S1's
//   safetensors_header_invalid. Other JSON problems (S2) keep the shared reader's codes.
// - Dtypes: the crate's list as of safetensors 0.6-0.8, including the sub-byte F4 / F6 types
//   (numel x bits must be a whole number of bytes, as the crate's MisalignedSlice check requires).
//
// Memory is bounded by the header: every tensor keeps only its offsets and a pointer to its name
// in the parsed header (24 bytes) for the S5 coverage check, and only tensors the caller selects
// (KV scales) keep their name, dtype and shape. Scale bytes are read with positioned reads;
// weights are never read or mapped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// Dtypes of the safetensors format (the reference implementation's list). Append only.
enum class StDtype : std::uint8_t {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64,
  // safetensors >= 0.6
  F4,
  F6_E2M3,
  F6_E3M2,
  F8_E8M0,
  C64,
  // safetensors 0.8
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
};
/// Bits per element (4 for F4, 6 for F6_*, 8 for BOOL and F8_*, 64 for C64).
unsigned st_dtype_bits(StDtype d) noexcept;
/// Bytes per element for the whole-byte dtypes; 0 for the sub-byte ones (F4, F6_*).
std::size_t st_dtype_size(StDtype d) noexcept;
/// The format's name ("F32").
const char* st_dtype_name(StDtype d) noexcept;
/// The dtype of a name ("F32"), exact and case-sensitive as in the format; false when unknown.
bool st_dtype_from_name(std::string_view name, StDtype* out) noexcept;

/// A tensor the caller asked to keep (see `keep` below).
struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  ///< data_offsets, relative to the data buffer.
  std::uint64_t end = 0;
};

struct StHeader {
  std::uint64_t header_bytes = 0;  ///< N.
  std::uint64_t data_start = 0;    ///< 8 + N: file offset of the data buffer.
  std::uint64_t data_bytes = 0;    ///< file size - 8 - N.
  std::int64_t tensor_count = 0;   ///< every tensor, kept or not.
  std::vector<StTensor> kept;      ///< in name order (the parsed header's key order)
};

/// Largest tensor read_tensor() reads: a KV scale is one float per tensor or per KV head
/// (max_heads 65536 x 8 bytes = 512 KiB), so 1 MiB is a generous backstop.
constexpr std::uint64_t kMaxScaleTensorBytes = 1u << 20;

/// Parses and checks a header (S1 top level, S2..S6) given its JSON text and the data buffer's size
/// (file size - 8 - N). Only valid tensors for which keep(name) is true are stored in out->kept
/// (keep may be empty: keep none). Diagnostics carry the RFC 6901 pointer into the header (e.g.
/// "/model.layers.0.self_attn.k_scale/shape") and the sink's file label. Returns false when the
/// header is rejected. Never throws except std::bad_alloc.
bool parse_safetensors_header(std::string_view json, std::uint64_t data_bytes, const LoadLimits& limits,
                              const std::function<bool(std::string_view)>& keep, Sink& sink, StHeader* out);

/// Checks the 8-byte length prefix against the file size and the limit (S1), before anything else
/// is read. `prefix` holds the file's first min(8, size) bytes. On success *header_bytes = N.
bool check_safetensors_prefix(std::string_view prefix, std::uint64_t file_size, const LoadLimits& limits, Sink& sink,
                              std::uint64_t* header_bytes);

/// An open safetensors file: reads the 8-byte length and the header with positioned reads (the
/// header is refused by S1 before it is read when N is too large for the file or the limit).
class SafetensorsFile {
 public:
  SafetensorsFile() = default;
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  /// Opens `path` (symbolic links followed; the target must be a regular file, checked with fstat
  /// after open) and parses its header. Sets the sink's file label to `file_label` (it stays set).
  /// I/O problems become file_not_found / not_a_regular_file / permission_denied / read_error
  /// (also a short read: the file shrank), out of memory out_of_memory. Never throws.
  bool open(const std::string& path, const std::string& file_label, const LoadLimits& limits,
            const std::function<bool(std::string_view)>& keep, Sink& sink);
  const StHeader& header() const noexcept { return header_; }
  /// Reads the raw little-endian bytes of a kept tensor (end - begin bytes, one positioned read
  /// loop). A tensor over max_bytes (at most kMaxScaleTensorBytes) is refused unread with
  /// scale_shape_invalid at its shape. Diagnostics carry this file's label. Never throws.
  bool read_tensor(const StTensor& t, std::vector<std::uint8_t>* bytes, Sink& sink,
                   std::uint64_t max_bytes = kMaxScaleTensorBytes) const;

 private:
  int fd_ = -1;
  std::string label_;
  StHeader header_;
};

}  // namespace loader
}  // namespace kvscale
