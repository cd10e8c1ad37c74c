// kvscale/status.hpp: the status every kvscale operation returns. No exceptions cross the core.
#pragma once

#include <string>

#include "kvscale/export.h"

namespace kvscale {

/// Result of an operation. Values are stable (they are part of the ABI and of the CLI's output).
enum class Status : int {
  success = 0,           ///< The operation completed (or, for launchers, was enqueued).
  invalid_argument = 1,  ///< A pointer, shape, stride, alignment or slot is invalid; nothing ran.
  unsupported = 2,       ///< The build has no such backend, or the format/dtype is not supported.
  no_device = 3,         ///< No GPU is present, or the device id does not exist.
  device_error = 4,      ///< A GPU runtime call failed; last_error_message() names the call.
  out_of_memory = 5,     ///< A host or device allocation failed.
  invalid_scales = 6,    ///< The scale table was rejected (see the loader's diagnostics).
  internal_error = 7,    ///< A bug in kvscale; please report it.
};

/// Stable lower-case name of a status, e.g. "invalid_argument".
KVSCALE_EXPORT const char* status_name(Status s) noexcept;

/// Detail of the last non-success status returned on this thread, e.g.
/// "hipMemcpyAsync failed on device 0: hipErrorInvalidValue (invalid argument)" or
/// "paged_write: slot_mapping[17] = 4096 is outside the cache (4096 slots)". Empty after success
/// is *not* guaranteed: read it only right after a failed call.
KVSCALE_EXPORT std::string last_error_message();

}  // namespace kvscale
