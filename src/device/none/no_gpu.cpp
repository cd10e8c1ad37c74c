// The device layer of a build without a GPU backend: every call says so.
#include <utility>

#include "core/error.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace {
Status unsupported(const char* what) {
  return detail::fail(Status::unsupported, std::string(what) + ": kvscale was built without a GPU backend");
}
}  // namespace

namespace gpu {
const char* backend_name() noexcept { return "none"; }
Status device_count(int* count) noexcept {
  if (count) *count = 0;
  return detail::fail(Status::no_device, "device_count: kvscale was built without a GPU backend");
}
Status device_description(int, std::string*) noexcept { return unsupported("device_description"); }
Status native_format(int, Fp8Format*) noexcept { return unsupported("native_format"); }
Status quantize(const QuantizeArgs&, Stream) noexcept { return unsupported("gpu::quantize"); }
Status dequantize(const DequantizeArgs&, Stream) noexcept { return unsupported("gpu::dequantize"); }
Status paged_write(const PagedWriteArgs&, Stream) noexcept { return unsupported("gpu::paged_write"); }
Status paged_read(const PagedReadArgs&, Stream) noexcept { return unsupported("gpu::paged_read"); }
Status observe_amax(const ObserveAmaxArgs&, Stream) noexcept { return unsupported("gpu::observe_amax"); }
Status set_device(int) noexcept {
  return detail::fail(Status::no_device, "set_device: kvscale was built without a GPU backend");
}
Status synchronize(Stream) noexcept { return unsupported("gpu::synchronize"); }
Status copy_device(void*, const void*, std::size_t, Stream) noexcept { return unsupported("gpu::copy_device"); }

DeviceBuffer::~DeviceBuffer() = default;
DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(std::exchange(other.device_, -1)) {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  device_ = std::exchange(other.device_, -1);
  return *this;
}
Status DeviceBuffer::create(int, std::size_t, DeviceBuffer*) noexcept { return unsupported("DeviceBuffer::create"); }
Status DeviceBuffer::upload(const void*, std::size_t, Stream, std::size_t) noexcept {
  return unsupported("DeviceBuffer::upload");
}
Status DeviceBuffer::download(void*, std::size_t, Stream, std::size_t) const noexcept {
  return unsupported("DeviceBuffer::download");
}
Status DeviceBuffer::fill(int, Stream) noexcept { return unsupported("DeviceBuffer::fill"); }

// The events are never created here; the destructor names them so that clang's
// -Wunused-private-field (which sees every member function in this file) stays quiet.
EventTimer::~EventTimer() { start_ = stop_ = nullptr; }
Status EventTimer::start(Stream) noexcept { return unsupported("EventTimer::start"); }
Status EventTimer::stop(Stream) noexcept { return unsupported("EventTimer::stop"); }
Status EventTimer::elapsed_ms(float*) noexcept { return unsupported("EventTimer::elapsed_ms"); }
}  // namespace gpu

Status DeviceScales::create(int, const ScaleTable&, int, LayerRange, const ScaleConversion&, Stream,
                            DeviceScales*) noexcept {
  return unsupported("DeviceScales::create");
}
Status DeviceScales::update(const ScaleTable&, Stream) noexcept { return unsupported("DeviceScales::update"); }
const float* DeviceScales::k_scale(int) const noexcept { return nullptr; }
const float* DeviceScales::v_scale(int) const noexcept { return nullptr; }
int DeviceScales::k_scale_stride(int) const noexcept { return 0; }
int DeviceScales::v_scale_stride(int) const noexcept { return 0; }
}  // namespace kvscale
