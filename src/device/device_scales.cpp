// DeviceScales: one rank's effective K/V scales on one device (layout: effective_scales(), scales.hpp).
// The host mirror is the source of the upload (pageable: the runtime stages it before the copy
// call returns); std::vector keeps its heap block on move and gpu::DeviceBuffer its device
// pointer, so the implicit moves hand both over unchanged (captured graphs stay valid).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "device_common.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {

Status DeviceScales::create(int device, const ScaleTable& table, int rank, LayerRange range,
                            const ScaleConversion& conv, Stream stream, DeviceScales* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "DeviceScales::create: out is null");
  try {
    DeviceScales s;
    if (Status st = effective_scales(table, rank, range, conv, &s.layout_); st != Status::success)
      return detail::fail(st, "DeviceScales::create: " + last_error_message());
    if (Status st = device::check_device("DeviceScales::create", device); st != Status::success) return st;
    const std::size_t bytes = s.layout_.values.size() * sizeof(float);
    if (Status st = gpu::DeviceBuffer::create(device, bytes, &s.buffer_); st != Status::success) return st;
    s.rank_ = rank;
    s.conv_ = conv;
    if (Status st = s.buffer_.upload(s.layout_.values.data(), bytes, stream); st != Status::success)
      return st;  // s frees
    *out = std::move(s);
    return Status::success;
  } catch (...) {
    return detail::fail(Status::out_of_memory, "DeviceScales::create: out of host memory");
  }
}

Status DeviceScales::update(const ScaleTable& table, Stream stream) noexcept {
  if (!valid()) return detail::fail(Status::invalid_argument, "DeviceScales::update: the object is empty");
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
    return buffer_.upload(layout_.values.data(), layout_.values.size() * sizeof(float), stream);
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
  const int i = slot_of(layout_, data(), layer);
  return i < 0 ? nullptr : data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(layout_.head_slots);
}

const float* DeviceScales::v_scale(int layer) const noexcept {
  const int i = slot_of(layout_, data(), layer);
  if (i < 0) return nullptr;
  const std::size_t slots = static_cast<std::size_t>(layout_.head_slots);
  return data() + slots * static_cast<std::size_t>(layout_.num_layers) + static_cast<std::size_t>(i) * slots;
}

int DeviceScales::k_scale_stride(int layer) const noexcept {
  const int i = slot_of(layout_, data(), layer);
  return i < 0 ? 0 : layout_.k_stride[static_cast<std::size_t>(i)];
}

int DeviceScales::v_scale_stride(int layer) const noexcept {
  const int i = slot_of(layout_, data(), layer);
  return i < 0 ? 0 : layout_.v_stride[static_cast<std::size_t>(i)];
}

}  // namespace kvscale
