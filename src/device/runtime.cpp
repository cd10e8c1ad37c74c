// The device layer (HIP, or CUDA through kernels/gpu_runtime.hpp): devices, copies, buffers,
// timers. Every failed runtime call becomes a Status whose message names the call and the device.
#include <cstring>
#include <string>
#include <utility>

#include "device_common.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace device {

Status status_of(rt::error_t e) noexcept {
  if (e == rt::error_no_device || e == rt::error_invalid_device || e == rt::error_insufficient_driver)
    return Status::no_device;
  if (e == rt::error_out_of_memory) return Status::out_of_memory;
  return Status::device_error;
}

Status fail_call(const std::string& call, int device, rt::error_t e) noexcept {
  try {
    const std::string where = device >= 0 ? "device " + std::to_string(device) : std::string("the current device");
    return detail::fail(status_of(e), call + " failed on " + where + ": " + rt::describe(e));
  } catch (...) {
    return status_of(e);
  }
}

int current_device() noexcept {
  int d = -1;
  if (rt::get_device(&d) != rt::success) return -1;
  return d;
}

Status check_device(const char* what, int device) noexcept {
  int n = 0;
  const rt::error_t e = rt::get_device_count(&n);
  if (e != rt::success) {
    if (status_of(e) == Status::no_device)
      return detail::fail(Status::no_device, std::string(what) + ": no GPU device (" + rt::call_name("GetDeviceCount") +
                                                 ": " + rt::describe(e) + ")");
    return fail_call(std::string(what) + ": " + rt::call_name("GetDeviceCount"), -1, e);
  }
  if (device < 0 || device >= n)
    return detail::fail(Status::no_device, std::string(what) + ": device " + std::to_string(device) +
                                               " does not exist (" + std::to_string(n) + " device" +
                                               (n == 1 ? "" : "s") + ")");
  return Status::success;
}

}  // namespace device

namespace gpu {

using device::fail_call;

const char* backend_name() noexcept { return KVSCALE_RT_CUDA ? "cuda" : "hip"; }

Status device_count(int* count) noexcept {
  if (count == nullptr) return detail::fail(Status::invalid_argument, "device_count: count is null");
  *count = 0;
  int n = 0;
  const rt::error_t e = rt::get_device_count(&n);
  if (e != rt::success) {
    if (device::status_of(e) == Status::no_device)
      return detail::fail(Status::no_device, "device_count: no GPU device (" + rt::call_name("GetDeviceCount") + ": " +
                                                 rt::describe(e) + ")");
    return fail_call(rt::call_name("GetDeviceCount"), -1, e);
  }
  if (n <= 0) return detail::fail(Status::no_device, "device_count: no GPU device");
  *count = n;
  return Status::success;
}

Status device_description(int device, std::string* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "device_description: out is null");
  if (Status s = device::check_device("device_description", device); s != Status::success) return s;
  rt::device_prop_t prop;
  std::memset(&prop, 0, sizeof prop);
  if (rt::error_t e = rt::get_device_properties(&prop, device); e != rt::success)
    return fail_call(rt::call_name("GetDeviceProperties"), device, e);
  int clock = 0, mem_clock = 0;
  (void)rt::attr_clock_khz(&clock, device);
  (void)rt::attr_memory_clock_khz(&mem_clock, device);
  try {
    *out = std::string(prop.name) + " (" + rt::arch_name(prop) + "), " + std::to_string(prop.multiProcessorCount) +
           (KVSCALE_RT_CUDA ? " SMs" : " CUs") + ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB, " +
           std::to_string(clock / 1000) + " MHz, memory " + std::to_string(mem_clock / 1000) + " MHz";
  } catch (...) {
    return detail::fail(Status::out_of_memory, "device_description: out of host memory");
  }
  return Status::success;
}

Status native_format(int device, Fp8Format* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "native_format: out is null");
  if (Status s = device::check_device("native_format", device); s != Status::success) return s;
#if KVSCALE_RT_CUDA
  *out = Fp8Format::e4m3fn;  // sm_89+ converts OCP e4m3; there is no FNUZ on NVIDIA
#else
  rt::device_prop_t prop;
  std::memset(&prop, 0, sizeof prop);
  if (rt::error_t e = rt::get_device_properties(&prop, device); e != rt::success)
    return fail_call(rt::call_name("GetDeviceProperties"), device, e);
  const char* arch = prop.gcnArchName;
  const bool fnuz = std::strncmp(arch, "gfx940", 6) == 0 || std::strncmp(arch, "gfx941", 6) == 0 ||
                    std::strncmp(arch, "gfx942", 6) == 0;
  *out = fnuz ? Fp8Format::e4m3fnuz : Fp8Format::e4m3fn;
#endif
  return Status::success;
}

Status set_device(int device) noexcept {
  if (Status s = device::check_device("set_device", device); s != Status::success) return s;
  if (rt::error_t e = rt::set_device(device); e != rt::success)
    return fail_call(rt::call_name("SetDevice") + "(" + std::to_string(device) + ")", device, e);
  return Status::success;
}

Status synchronize(Stream stream) noexcept {
  if (rt::error_t e = rt::stream_synchronize(rt::to_stream(stream)); e != rt::success)
    return fail_call(rt::call_name("StreamSynchronize"), device::current_device(), e);
  return Status::success;
}

Status copy_device(void* dst, const void* src, std::size_t bytes, Stream stream) noexcept {
  if (bytes == 0) return Status::success;
  if (dst == nullptr || src == nullptr) return detail::fail(Status::invalid_argument, "copy_device: null pointer");
  if (rt::error_t e = rt::memcpy_async(dst, src, bytes, rt::Copy::d2d, rt::to_stream(stream)); e != rt::success)
    return fail_call(rt::call_name("MemcpyAsync") + "(" + std::to_string(bytes) + " bytes, device to device)",
                     device::current_device(), e);
  return Status::success;
}

// ------------------------------------------------------------------------------------------------
// DeviceBuffer

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) {
    rt::DeviceGuard guard;
    (void)rt::set_device(device_);
    (void)rt::free(data_);
  }
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(std::exchange(other.device_, -1)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    DeviceBuffer old(std::move(*this));  // frees ours at the end of this scope
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

Status DeviceBuffer::create(int device, std::size_t bytes, DeviceBuffer* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "DeviceBuffer::create: out is null");
  if (Status s = device::check_device("DeviceBuffer::create", device); s != Status::success) return s;
  DeviceBuffer b;
  b.device_ = device;
  if (bytes > 0) {
    rt::DeviceGuard guard;
    if (rt::error_t e = rt::set_device(device); e != rt::success)
      return fail_call(rt::call_name("SetDevice") + "(" + std::to_string(device) + ")", device, e);
    void* p = nullptr;
    if (rt::error_t e = rt::malloc(&p, bytes); e != rt::success) {
      (void)rt::get_last_error();  // an allocation failure is not sticky; do not leak it to launches
      return fail_call(rt::call_name("Malloc") + "(" + std::to_string(bytes) + " bytes)", device, e);
    }
    b.data_ = p;
    b.size_ = bytes;
  }
  *out = std::move(b);
  return Status::success;
}

namespace {
Status check_range(const char* what, std::size_t offset, std::size_t bytes, std::size_t size, const void* host) {
  if (offset > size || bytes > size - offset)
    return detail::fail(Status::invalid_argument, std::string(what) + ": offset " + std::to_string(offset) + " + " +
                                                      std::to_string(bytes) + " bytes exceeds the buffer's " +
                                                      std::to_string(size) + " bytes");
  if (bytes > 0 && host == nullptr) return detail::fail(Status::invalid_argument, std::string(what) + ": host is null");
  return Status::success;
}
}  // namespace

Status DeviceBuffer::upload(const void* host, std::size_t bytes, Stream stream, std::size_t offset) noexcept {
  if (Status s = check_range("DeviceBuffer::upload", offset, bytes, size_, host); s != Status::success) return s;
  if (bytes == 0) return Status::success;
  rt::DeviceGuard guard;
  (void)rt::set_device(device_);
  if (rt::error_t e =
          rt::memcpy_async(static_cast<char*>(data_) + offset, host, bytes, rt::Copy::h2d, rt::to_stream(stream));
      e != rt::success)
    return fail_call(rt::call_name("MemcpyAsync") + "(" + std::to_string(bytes) + " bytes, host to device)", device_,
                     e);
  return Status::success;
}

Status DeviceBuffer::download(void* host, std::size_t bytes, Stream stream, std::size_t offset) const noexcept {
  if (Status s = check_range("DeviceBuffer::download", offset, bytes, size_, host); s != Status::success) return s;
  if (bytes == 0) return Status::success;
  rt::DeviceGuard guard;
  (void)rt::set_device(device_);
  if (rt::error_t e =
          rt::memcpy_async(host, static_cast<const char*>(data_) + offset, bytes, rt::Copy::d2h, rt::to_stream(stream));
      e != rt::success)
    return fail_call(rt::call_name("MemcpyAsync") + "(" + std::to_string(bytes) + " bytes, device to host)", device_,
                     e);
  return Status::success;
}

Status DeviceBuffer::fill(int byte, Stream stream) noexcept {
  if (size_ == 0) return Status::success;
  rt::DeviceGuard guard;
  (void)rt::set_device(device_);
  if (rt::error_t e = rt::memset_async(data_, byte, size_, rt::to_stream(stream)); e != rt::success)
    return fail_call(rt::call_name("MemsetAsync") + "(" + std::to_string(size_) + " bytes)", device_, e);
  return Status::success;
}

// ------------------------------------------------------------------------------------------------
// EventTimer

EventTimer::~EventTimer() {
  if (start_ != nullptr) (void)rt::event_destroy(static_cast<rt::event_t>(start_));
  if (stop_ != nullptr) (void)rt::event_destroy(static_cast<rt::event_t>(stop_));
}

namespace {
Status ensure_event(void** slot) {
  if (*slot != nullptr) return Status::success;
  rt::event_t ev = nullptr;
  if (rt::error_t e = rt::event_create(&ev); e != rt::success)
    return fail_call(rt::call_name("EventCreate"), device::current_device(), e);
  *slot = static_cast<void*>(ev);
  return Status::success;
}
Status record(void** slot, Stream stream) {
  if (Status s = ensure_event(slot); s != Status::success) return s;
  if (rt::error_t e = rt::event_record(static_cast<rt::event_t>(*slot), rt::to_stream(stream)); e != rt::success)
    return fail_call(rt::call_name("EventRecord"), device::current_device(), e);
  return Status::success;
}
}  // namespace

Status EventTimer::start(Stream stream) noexcept { return record(&start_, stream); }
Status EventTimer::stop(Stream stream) noexcept { return record(&stop_, stream); }

Status EventTimer::elapsed_ms(float* ms) noexcept {
  if (ms == nullptr) return detail::fail(Status::invalid_argument, "EventTimer::elapsed_ms: ms is null");
  if (start_ == nullptr || stop_ == nullptr)
    return detail::fail(Status::invalid_argument, "EventTimer::elapsed_ms: start() and stop() were not both called");
  if (rt::error_t e = rt::event_synchronize(static_cast<rt::event_t>(stop_)); e != rt::success)
    return fail_call(rt::call_name("EventSynchronize"), device::current_device(), e);
  if (rt::error_t e = rt::event_elapsed_ms(ms, static_cast<rt::event_t>(start_), static_cast<rt::event_t>(stop_));
      e != rt::success)
    return fail_call(rt::call_name("EventElapsedTime"), device::current_device(), e);
  return Status::success;
}

}  // namespace gpu
}  // namespace kvscale
