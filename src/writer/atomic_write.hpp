// Private: writing a whole file atomically (kvscale convert's outputs).
#pragma once

#include <string>
#include <string_view>

#include "kvscale/status.hpp"

namespace kvscale {
namespace detail {

/// Writes `bytes` to `path` so that `path` is either untouched or holds all of `bytes`: a temporary
/// file in the same directory (O_EXCL, mode 0644 before the umask), fsync, then rename. Without
/// `force` an existing `path` is an error (invalid_argument), checked before writing and again,
/// race-free, when the file is put in place (renameat2(RENAME_NOREPLACE), else link()). On any
/// failure the temporary file is removed. Errors carry last_error_message().
Status write_file_atomic(const std::string& path, std::string_view bytes, bool force) noexcept;

}  // namespace detail
}  // namespace kvscale
