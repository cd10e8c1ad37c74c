// Loader-private file input, with I/O diagnostics: bounded reading of a whole file (scales file,
// config.json, the index), and the checked open that it and the safetensors reader share.
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

/// Opens `path` read-only into *fd (the caller closes it where *fd >= 0), without a controlling
/// terminal and without blocking on a FIFO, and checks on the open descriptor that it is a regular
/// file; its size goes to *size. On failure adds one diagnostic (file_not_found,
/// permission_denied, not_a_regular_file, read_error) with the root pointer and returns false.
bool open_regular_file(const std::string& path, Sink& sink, int* fd, std::uint64_t* size);

}  // namespace loader
}  // namespace kvscale
