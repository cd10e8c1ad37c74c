// Private to src/capi: the one exception boundary of the C ABI, the thread-local error text behind
// kvscale_last_error(), and the handle types behind the opaque C structs.
#pragma once

#include <string>
#include <vector>

#include "kvscale/gpu.hpp"
#include "kvscale/kvscale.h"
#include "kvscale/scales.hpp"
#include "kvscale/status.hpp"

/// kvscale_scales: a LoadResult plus the strings the C accessors hand out (their storage must live
/// as long as the handle).
struct kvscale_scales {
  kvscale::LoadResult result;
  bool calibrated = false;  ///< made by kvscale_scales_from_amax (source KVSCALE_SOURCE_CALIBRATION)
  std::vector<std::string> diagnostic_locations;
  std::vector<std::string> warning_locations;
};

struct kvscale_device_scales {
  kvscale::DeviceScales scales;
};

namespace kvscale {
namespace capi {

/// Records `message` as the calling thread's kvscale_last_error() and returns `s`.
kvscale_status fail(kvscale_status s, const std::string& message) noexcept;
/// Maps a C++ Status; on failure copies last_error_message() into kvscale_last_error().
kvscale_status from_status(Status s) noexcept;
/// Clears kvscale_last_error() at the start of an entry point.
void clear_error() noexcept;
/// Maps the exception in flight (inside a catch block) to out_of_memory / internal_error.
kvscale_status from_exception(const char* function) noexcept;

/// Runs `body` (returning kvscale_status) with the entry point's error handling: the last error is
/// cleared first, and no exception escapes.
template <class F>
kvscale_status guarded(const char* function, F&& body) noexcept {
  clear_error();
  try {
    return body();
  } catch (...) {
    return from_exception(function);
  }
}

/// INVALID_ARGUMENT with "<function>: <what> is NULL".
kvscale_status null_argument(const char* function, const char* what) noexcept;

}  // namespace capi
}  // namespace kvscale
