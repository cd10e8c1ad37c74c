// C ABI: versions, status names and the thread-local last error (kvscale.h).
#include <exception>
#include <new>
#include <string>

#include "capi/capi_common.hpp"
#include "kvscale/version.hpp"

namespace kvscale {
namespace capi {
namespace {
thread_local std::string t_error;
}

kvscale_status fail(kvscale_status s, const std::string& message) noexcept {
  try {
    t_error = message;
  } catch (...) {
    t_error.clear();  // out of memory for the message itself: the status still says what happened
  }
  return s;
}

kvscale_status from_status(Status s) noexcept {
  if (s == Status::success) return KVSCALE_SUCCESS;
  try {
    return fail(static_cast<kvscale_status>(s), last_error_message());
  } catch (...) {
    return static_cast<kvscale_status>(s);
  }
}

void clear_error() noexcept { t_error.clear(); }

kvscale_status from_exception(const char* function) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return fail(KVSCALE_OUT_OF_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(KVSCALE_INTERNAL_ERROR, std::string(function) + ": internal error: " + e.what());
  } catch (...) {
    return fail(KVSCALE_INTERNAL_ERROR, std::string(function) + ": internal error: unknown exception");
  }
}

kvscale_status null_argument(const char* function, const char* what) noexcept {
  try {
    return fail(KVSCALE_INVALID_ARGUMENT, std::string(function) + ": " + what + " is NULL");
  } catch (...) {
    return KVSCALE_INVALID_ARGUMENT;
  }
}

}  // namespace capi
}  // namespace kvscale

extern "C" {

uint32_t kvscale_abi_version(void) { return KVSCALE_ABI_VERSION; }

const char* kvscale_version(void) { return KVSCALE_VERSION_STRING; }

const char* kvscale_status_name(kvscale_status s) { return kvscale::status_name(static_cast<kvscale::Status>(s)); }

const char* kvscale_last_error(void) {
  // Reading the thread's own string cannot throw; c_str() of an empty string is "".
  return kvscale::capi::t_error.c_str();
}

}  // extern "C"
