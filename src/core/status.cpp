#include "kvscale/status.hpp"

#include "core/error.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace {
thread_local std::string t_last_error;
}

const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::success: return "success";
    case Status::invalid_argument: return "invalid_argument";
    case Status::unsupported: return "unsupported";
    case Status::no_device: return "no_device";
    case Status::device_error: return "device_error";
    case Status::out_of_memory: return "out_of_memory";
    case Status::invalid_scales: return "invalid_scales";
    case Status::internal_error: return "internal_error";
  }
  return "unknown_status";
}

std::string last_error_message() { return t_last_error; }

const char* dtype_name(DType t) noexcept {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  return "unknown_dtype";
}

const char* format_name(Fp8Format f) noexcept {
  switch (f) {
    case Fp8Format::e4m3fn: return "e4m3fn";
    case Fp8Format::e4m3fnuz: return "e4m3fnuz";
  }
  return "unknown_format";
}

namespace detail {
Status fail(Status s, std::string message) noexcept {
  try {
    t_last_error = std::move(message);
  } catch (...) {
    // Keep the status even if the detail cannot be stored.
  }
  return s;
}
}  // namespace detail
}  // namespace kvscale
