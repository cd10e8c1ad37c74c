// Loader-private: bounded reading of a whole file, with I/O diagnostics, for every file input
// (scales file, config.json, the index).
#pragma once

#include <cstdint>
#include <string>

#include "sink.hpp"

namespace kvscale {
namespace loader {

/// Reads `path` into *out. Symbolic links are followed; the target must be a regular file of at
/// most `max_bytes`, which is checked before reading (from stat) and again while reading (a file
/// that grows is still refused: at most max_bytes + 1 bytes are read). On failure adds one
/// diagnostic (file_not_found, not_a_regular_file, permission_denied, read_error, file_too_large)
/// with the root pointer and returns false. May throw std::bad_alloc.
bool read_file(const std::string& path, std::uint64_t max_bytes, Sink& sink, std::string* out);

}  // namespace loader
}  // namespace kvscale
