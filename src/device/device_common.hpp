// Private helpers of the device layer: runtime errors -> Status with a message that names the
// call and the device, and device-id checks.
#pragma once

#include <string>

#include "core/error.hpp"
#include "gpu_runtime.hpp"
#include "kvscale/status.hpp"

namespace kvscale {
namespace device {

/// The Status a runtime error maps to: no_device, out_of_memory or device_error.
Status status_of(rt::error_t e) noexcept;

/// Records "<call> failed on device <d>: <errorName> (<errorString>)" and returns status_of(e).
/// `call` is the full call, e.g. "hipMalloc(1024 bytes)". device < 0 prints "the current device".
Status fail_call(const std::string& call, int device, rt::error_t e) noexcept;

/// Status::success when `device` exists; otherwise no_device (or device_error) with a message
/// naming `what`.
Status check_device(const char* what, int device) noexcept;

/// The calling thread's current device, or -1 when it cannot be read.
int current_device() noexcept;

}  // namespace device
}  // namespace kvscale
