// tests/gpu/gpu_backend.hpp: the real GPU as an op_case Backend (gpu:: launchers on device
// memory, default stream). Build it only after the device check of tests/common/gpu_test.hpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/op_case.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace test {

class DeviceMemory final : public Memory {
 public:
  DeviceMemory(int device, std::size_t bytes) { status_ = gpu::DeviceBuffer::create(device, bytes, &buf_); }
  void* data() override { return buf_.data(); }
  Status upload(const std::vector<std::uint8_t>& b) override {
    if (status_ != Status::success) return status_;
    if (Status s = buf_.upload(b.data(), b.size(), nullptr); s != Status::success) return s;
    return gpu::synchronize(nullptr);  // b may die after this call
  }
  Status download(std::vector<std::uint8_t>* b) override {
    if (status_ != Status::success) return status_;
    b->resize(buf_.size());
    if (Status s = buf_.download(b->data(), b->size(), nullptr); s != Status::success) return s;
    return gpu::synchronize(nullptr);
  }

 private:
  gpu::DeviceBuffer buf_;
  Status status_ = Status::success;
};

class GpuBackend final : public Backend {
 public:
  explicit GpuBackend(int device) : device_(device) {}
  std::string name() const override { return std::string("gpu:") + gpu::backend_name() + std::to_string(device_); }
  std::unique_ptr<Memory> allocate(std::size_t bytes) override {
    return std::make_unique<DeviceMemory>(device_, bytes);
  }
  Status run(const QuantizeArgs& a) override { return gpu::quantize(a, nullptr); }
  Status run(const DequantizeArgs& a) override { return gpu::dequantize(a, nullptr); }
  Status run(const PagedWriteArgs& a) override { return gpu::paged_write(a, nullptr); }
  Status run(const PagedReadArgs& a) override { return gpu::paged_read(a, nullptr); }
  Status run(const ObserveAmaxArgs& a) override { return gpu::observe_amax(a, nullptr); }
  Status synchronize() override { return gpu::synchronize(nullptr); }

 private:
  int device_;
};

}  // namespace test
}  // namespace kvscale
