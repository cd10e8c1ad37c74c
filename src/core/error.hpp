// Private: the thread-local error detail behind kvscale::last_error_message().
#pragma once

#include <string>

#include "kvscale/status.hpp"

namespace kvscale {
namespace detail {

/// Records `message` as this thread's last error detail and returns `s`, so that a failing path
/// reads `return fail(Status::invalid_argument, "...");`.
Status fail(Status s, std::string message) noexcept;

}  // namespace detail
}  // namespace kvscale
