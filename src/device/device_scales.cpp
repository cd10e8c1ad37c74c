// DeviceScales: one rank's effective K/V scales on one device ([K(L) | V(L)] floats).
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
      host_(std::move(other.host_)),
      device_(std::exchange(other.device_, -1)),
      rank_(std::exchange(other.rank_, 0)),
      first_layer_(std::exchange(other.first_layer_, 0)),
      num_layers_(std::exchange(other.num_layers_, 0)),
      conv_(other.conv_) {
  other.host_.clear();
}

DeviceScales& DeviceScales::operator=(DeviceScales&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    host_ = std::move(other.host_);
    other.host_.clear();
    device_ = std::exchange(other.device_, -1);
    rank_ = std::exchange(other.rank_, 0);
    first_layer_ = std::exchange(other.first_layer_, 0);
    num_layers_ = std::exchange(other.num_layers_, 0);
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
  host_.clear();
  num_layers_ = 0;
}

namespace {
// [K(L) | V(L)] from the rank's effective per-layer scales (K and V share the file's scale).
bool fill_mirror(const ScaleTable& table, int rank, LayerRange range, const ScaleConversion& conv,
                 std::vector<float>* mirror, std::string* error) {
  std::vector<float> layers;
  if (!effective_rank_scales(table, rank, range, conv, &layers, error)) return false;
  if (layers.empty()) {
    *error = "the layer range is empty";
    return false;
  }
  mirror->resize(2 * layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    (*mirror)[i] = layers[i];
    (*mirror)[layers.size() + i] = layers[i];
  }
  return true;
}

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
    std::string error;
    if (!fill_mirror(table, rank, range, conv, &s.host_, &error))
      return detail::fail(Status::invalid_argument, "DeviceScales::create: " + error);
    if (Status st = device::check_device("DeviceScales::create", device); st != Status::success) return st;
    rt::DeviceGuard guard;
    if (rt::error_t e = rt::set_device(device); e != rt::success)
      return device::fail_call(rt::call_name("SetDevice") + "(" + std::to_string(device) + ")", device, e);
    const std::size_t bytes = s.host_.size() * sizeof(float);
    void* p = nullptr;
    if (rt::error_t e = rt::malloc(&p, bytes); e != rt::success) {
      (void)rt::get_last_error();
      return device::fail_call(rt::call_name("Malloc") + "(" + std::to_string(bytes) + " bytes)", device, e);
    }
    s.data_ = static_cast<float*>(p);
    s.device_ = device;
    s.rank_ = rank;
    s.first_layer_ = range.first;
    s.num_layers_ = static_cast<int>(s.host_.size() / 2);
    s.conv_ = conv;
    if (Status st = upload(s.data_, s.host_, device, stream); st != Status::success) return st;  // s frees
    *out = std::move(s);
    return Status::success;
  } catch (...) {
    return detail::fail(Status::out_of_memory, "DeviceScales::create: out of host memory");
  }
}

Status DeviceScales::update(const ScaleTable& table, Stream stream) noexcept {
  if (data_ == nullptr) return detail::fail(Status::invalid_argument, "DeviceScales::update: the object is empty");
  try {
    std::vector<float> next;
    std::string error;
    if (!fill_mirror(table, rank_, LayerRange{first_layer_, num_layers_}, conv_, &next, &error))
      return detail::fail(Status::invalid_argument, "DeviceScales::update: " + error);
    if (next.size() != host_.size())
      return detail::fail(Status::invalid_argument, "DeviceScales::update: the table does not cover the range");
    // Rewrite the mirror in place: its address is what earlier stream-ordered copies read.
    std::copy(next.begin(), next.end(), host_.begin());
    rt::DeviceGuard guard;
    (void)rt::set_device(device_);
    return upload(data_, host_, device_, stream);
  } catch (...) {
    return detail::fail(Status::out_of_memory, "DeviceScales::update: out of host memory");
  }
}

const float* DeviceScales::k_scale(int layer) const noexcept {
  if (data_ == nullptr || layer < first_layer_ || layer >= first_layer_ + num_layers_) return nullptr;
  return data_ + (layer - first_layer_);
}

const float* DeviceScales::v_scale(int layer) const noexcept {
  if (data_ == nullptr || layer < first_layer_ || layer >= first_layer_ + num_layers_) return nullptr;
  return data_ + num_layers_ + (layer - first_layer_);
}

}  // namespace kvscale
