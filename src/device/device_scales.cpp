// DeviceScales: one rank's effective K/V scales on one device (layout: effective_scales(), scales.hpp).
// The host mirror is the source of the upload (pageable: the runtime stages it before the copy
// call returns); std::vector keeps its heap block on move, so a moved-to object still owns it.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "device_common.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {

DeviceScales::~DeviceScales() { release(); }

DeviceScales::DeviceScales(DeviceScales&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      layout_(std::exchange(other.layout_, EffectiveScales{})),
      device_(std::exchange(other.device_, -1)),
      rank_(std::exchange(other.rank_, 0)),
      conv_(other.conv_) {}

DeviceScales& DeviceScales::operator=(DeviceScales&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    layout_ = std::exchange(other.layout_, EffectiveScales{});
    device_ = std::exchange(other.device_, -1);
    rank_ = std::exchange(other.rank_, 0);
    conv_ = other.conv_;
  }
  return *this;
}

void DeviceScales::release() noexcept {
  if (data_ != nullptr) {
    rt::DeviceGuard guard;
    (void)rt::set_device(device_);
    (void)rt::free(data_);
    data_ = nullptr;
  }
  layout_ = EffectiveScales{};
}

namespace {
Status upload(float* dst, const std::vector<float>& host, int device, Stream stream) {
  const std::size_t bytes = host.size() * sizeof(float);
  if (rt::error_t e = rt::memcpy_async(dst, host.data(), bytes, rt::Copy::h2d, rt::to_stream(stream)); e != rt::success)
    return device::fail_call(rt::call_name("MemcpyAsync") + "(" + std::to_string(bytes) + " bytes, host to device)",
                             device, e);
  return Status::success;
}
}  // namespace

Status DeviceScales::create(int device, const ScaleTable& table, int rank, LayerRange range,
                            const ScaleConversion& conv, Stream stream, DeviceScales* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "DeviceScales::create: out is null");
  try {
    DeviceScales s;
    if (Status st = effective_scales(table, rank, range, conv, &s.layout_); st != Status::success)
      return detail::fail(st, "DeviceScales::create: " + last_error_message());
    if (Status st = device::check_device("DeviceScales::create", device); st != Status::success) return st;
    rt::DeviceGuard guard;
    if (rt::error_t e = rt::set_device(device); e != rt::success)
      return device::fail_call(rt::call_name("SetDevice") + "(" + std::to_string(device) + ")", device, e);
    const std::size_t bytes = s.layout_.values.size() * sizeof(float);
    void* p = nullptr;
    if (rt::error_t e = rt::malloc(&p, bytes); e != rt::success) {
      (void)rt::get_last_error();
      return device::fail_call(rt::call_name("Malloc") + "(" + std::to_string(bytes) + " bytes)", device, e);
    }
    s.data_ = static_cast<float*>(p);
    s.device_ = device;
    s.rank_ = rank;
    s.conv_ = conv;
    if (Status st = upload(s.data_, s.layout_.values, device, stream); st != Status::success) return st;  // s frees
    *out = std::move(s);
    return Status::success;
  } catch (...) {
    return detail::fail(Status::out_of_memory, "DeviceScales::create: out of host memory");
  }
}

Status DeviceScales::update(const ScaleTable& table, Stream stream) noexcept {
  if (data_ == nullptr) return detail::fail(Status::invalid_argument, "DeviceScales::update: the object is empty");
  try {
    EffectiveScales next;
    if (Status st = effective_scales(table, rank_, LayerRange{layout_.first_layer, layout_.num_layers}, conv_, &next);
        st != Status::success)
      return detail::fail(st, "DeviceScales::update: " + last_error_message());
    if (next.values.size() != layout_.values.size() || next.k_stride != layout_.k_stride ||
        next.v_stride != layout_.v_stride)
      return detail::fail(
          Status::invalid_argument,
          "DeviceScales::update: the table's layout (layers, heads or granularity) differs from create()'s");
    // Rewrite the mirror in place: its address is what earlier stream-ordered copies read.
    std::copy(next.values.begin(), next.values.end(), layout_.values.begin());
    rt::DeviceGuard guard;
    (void)rt::set_device(device_);
    return upload(data_, layout_.values, device_, stream);
  } catch (...) {
    return detail::fail(Status::out_of_memory, "DeviceScales::update: out of host memory");
  }
}

namespace {
/// Index of `layer` within the range, or -1.
int slot_of(const EffectiveScales& l, const float* data, int layer) {
  return data == nullptr || layer < l.first_layer || layer >= l.first_layer + l.num_layers ? -1 : layer - l.first_layer;
}
}  // namespace

const float* DeviceScales::k_scale(int layer) const noexcept {
  const int i = slot_of(layout_, data_, layer);
  return i < 0 ? nullptr : data_ + static_cast<std::size_t>(i) * static_cast<std::size_t>(layout_.head_slots);
}

const float* DeviceScales::v_scale(int layer) const noexcept {
  const int i = slot_of(layout_, data_, layer);
  if (i < 0) return nullptr;
  const std::size_t slots = static_cast<std::size_t>(layout_.head_slots);
  return data_ + slots * static_cast<std::size_t>(layout_.num_layers) + static_cast<std::size_t>(i) * slots;
}

int DeviceScales::k_scale_stride(int layer) const noexcept {
  const int i = slot_of(layout_, data_, layer);
  return i < 0 ? 0 : layout_.k_stride[static_cast<std::size_t>(i)];
}

int DeviceScales::v_scale_stride(int layer) const noexcept {
  const int i = slot_of(layout_, data_, layer);
  return i < 0 ? 0 : layout_.v_stride[static_cast<std::size_t>(i)];
}

}  // namespace kvscale
