// Loader-private: the JSON reading shared by every JSON input, each with its own limits:
// kv_cache_scales.json (its own streaming schema validator on top of the same layers),
// config.json, model.safetensors.index.json and the safetensors header.
//
// Layers, as in nlohmann's detail/input: bytes -> prescan (BOM, UTF-8, NaN/Infinity tokens,
// numbers beyond double) -> SAX with pointer tracking, duplicate keys (H2) and depth (H6) ->
// a handler (the scales-file validator, or the DOM builder below) -> trailing-data check (H7).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "sink.hpp"

namespace kvscale {
namespace loader {

struct JsonLimits {
  std::uint64_t max_bytes = 16u << 20;  ///< H6 / S1: larger input is refused before parsing.
  int max_depth = 64;                   ///< H6
};

/// Parses a whole document whose top level must be an object, under H2/H4/H6/H7, into *out.
/// Every problem goes to `sink` with its RFC 6901 pointer (and the sink's file label).
/// Returns false when the document is rejected (then *out is unspecified).
bool parse_json_document(std::string_view text, const JsonLimits& limits, Sink& sink, nlohmann::json* out);

/// Reads `path` (symbolic links followed; must be a regular file of at most limits.max_bytes,
/// checked before reading) and parses it as above. I/O problems are file_not_found,
/// not_a_regular_file, permission_denied, read_error or file_too_large.
bool read_json_file(const std::string& path, const JsonLimits& limits, Sink& sink, nlohmann::json* out);

}  // namespace loader
}  // namespace kvscale
