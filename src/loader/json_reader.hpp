// Loader-private: the JSON reading shared by every JSON input, each with its own limits:
// kv_cache_scales.json (its own streaming schema validator on top of the same layers),
// config.json, model.safetensors.index.json and the safetensors header.
//
// Layers, as in nlohmann's detail/input: bytes -> prescan (BOM, UTF-8, NaN/Infinity tokens,
// numbers beyond double) -> SAX with pointer tracking, duplicate keys (H2) and depth (H6) ->
// a handler (the scales-file validator, or the DOM builder below) -> trailing-data check (H7).
// Trailing whitespace is accepted (safetensors writers pad headers with spaces).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "json_sax.hpp"  // JsonLimits
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// Parses a whole document whose top level must be an object into *out. Problems, each with its
/// RFC 6901 pointer (and the sink's file label): file_too_large (over limits.max_bytes),
/// nesting_too_deep, utf8_bom, invalid_utf8, syntax_error (also an empty text), not_an_object,
/// trailing_data, duplicate_key, nan_or_infinity (NaN, Infinity, -Infinity, and numbers beyond the
/// double range). Returns false when any was found; *out is then unspecified.
/// May throw std::bad_alloc (the public entry points' boundary converts it).
bool parse_json_document(std::string_view text, const JsonLimits& limits, Sink& sink, nlohmann::json* out);

/// Reads `path` (symbolic links followed; must be a regular file of at most limits.max_bytes,
/// checked before reading) and parses it as above. I/O problems are file_not_found,
/// not_a_regular_file, permission_denied, read_error or file_too_large, with the root pointer.
bool read_json_file(const std::string& path, const JsonLimits& limits, Sink& sink, nlohmann::json* out);

}  // namespace loader
}  // namespace kvscale
