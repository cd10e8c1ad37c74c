// Loader-private: the safetensors container (spec docs/checkpoint-scales.md, S rules).
//
// File layout: u64 little-endian N | N bytes of UTF-8 JSON header | data buffer.
// Header: {"__metadata__": {str: str}?, "<tensor>": {"dtype": str, "shape": [u64...],
//          "data_offsets": [begin, end]}, ...}; offsets are relative to the data buffer.
//
// Memory is bounded by the header: every tensor keeps only its offsets (16 bytes) for the S5
// coverage check, and only tensors the caller selects (KV scales) keep their name, dtype and
// shape. Scale bytes are read with positioned reads; weights are never read or mapped.
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

/// Dtypes of the safetensors format (the reference implementation's list).
enum class StDtype : std::uint8_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };
/// Bytes per element. F8_* and BOOL are 1.
std::size_t st_dtype_size(StDtype d) noexcept;
/// The format's name ("F32").
const char* st_dtype_name(StDtype d) noexcept;

/// A tensor the caller asked to keep (see `keep` below).
struct StTensor {
  std::string name;
  StDtype dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  ///< data_offsets, relative to the data buffer.
  std::uint64_t end = 0;
};

struct StHeader {
  std::uint64_t header_bytes = 0;  ///< N.
  std::uint64_t data_start = 0;    ///< 8 + N: file offset of the data buffer.
  std::int64_t tensor_count = 0;   ///< every tensor, kept or not.
  std::vector<StTensor> kept;      ///< in header order
};

/// Parses and checks a header (S1..S6) given its JSON text and the data buffer's size
/// (file size - 8 - N). Only tensors for which keep(name) is true are stored in out->kept.
/// Diagnostics carry the RFC 6901 pointer into the header (e.g. "/model.layers.0.self_attn.k_scale/shape")
/// and `file` = file_label. Returns false when the header is rejected.
bool parse_safetensors_header(std::string_view json, std::uint64_t data_bytes, const LoadLimits& limits,
                              const std::function<bool(std::string_view)>& keep, const std::string& file_label,
                              Sink& sink, StHeader* out);

/// An open safetensors file: reads the 8-byte length and the header with positioned reads (the
/// header is refused by S1 before it is read when N is too large for the file or the limit).
class SafetensorsFile {
 public:
  SafetensorsFile() = default;
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  /// Opens `path` (symbolic links followed; must be a regular file) and parses its header.
  /// I/O problems become file_not_found / not_a_regular_file / permission_denied / read_error.
  bool open(const std::string& path, const std::string& file_label, const LoadLimits& limits,
            const std::function<bool(std::string_view)>& keep, Sink& sink);
  const StHeader& header() const noexcept { return header_; }
  /// Reads the raw little-endian bytes of a kept tensor (end - begin bytes, a positioned read).
  bool read_tensor(const StTensor& t, std::vector<std::uint8_t>* bytes, Sink& sink) const;

 private:
  int fd_ = -1;
  std::string label_;
  StHeader header_;
};

}  // namespace loader
}  // namespace kvscale
