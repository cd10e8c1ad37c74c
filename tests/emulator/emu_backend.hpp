// tests/emulator/emu_backend.hpp: the emulated device code as an op_case Backend. Each run does
// what src/device/launchers.cpp does (validate, skip empty calls, refuse unsupported rows, launch,
// check the launch error), but the launch runs kernels/*.hip on the host emulator.
#pragma once

#include <string>

#include "common/op_case.hpp"
#include "gpu_runtime.hpp"
#include "launch.hpp"

namespace kvscale {
namespace test {

/// The architecture the emulator library was built for: "generic" (the software codec),
/// "gfx942" or "gfx950" (the hardware conversion path against the instruction model).
inline const char* emulated_arch() {
#if defined(KVSCALE_EMU_ARCH) && KVSCALE_EMU_ARCH == 942
  return "gfx942";
#elif defined(KVSCALE_EMU_ARCH) && KVSCALE_EMU_ARCH == 950
  return "gfx950";
#else
  return "generic";
#endif
}

class EmulatedBackend final : public Backend {
 public:
  std::string name() const override { return std::string("emulated-") + emulated_arch(); }
  void set_paged_max_blocks(std::uint32_t m) override { max_blocks_ = m ? m : kernels::kMaxPagedBlocks; }
  Status run(const QuantizeArgs& a) override {
    if (Status s = validate(a); s != Status::success || a.n == 0) return s;
    const char* k = "";
    return check(kernels::launch_quantize(a, nullptr, &k), k);
  }
  Status run(const DequantizeArgs& a) override {
    if (Status s = validate(a); s != Status::success || a.n == 0) return s;
    const char* k = "";
    return check(kernels::launch_dequantize(a, nullptr, &k), k);
  }
  Status run(const PagedWriteArgs& a) override {
    if (Status s = validate(a); s != Status::success || a.rows.num_tokens == 0) return s;
    if (!kernels::paged_rows_supported(a.rows) || !kernels::paged_cache_supported(a.cache)) return Status::unsupported;
    const char* k = "";
    return check(kernels::launch_paged_write(a, nullptr, &k, max_blocks_), k);
  }
  Status run(const PagedReadArgs& a) override {
    if (Status s = validate(a); s != Status::success || a.rows.num_tokens == 0) return s;
    if (!kernels::paged_rows_supported(a.rows) || !kernels::paged_cache_supported(a.cache)) return Status::unsupported;
    const char* k = "";
    return check(kernels::launch_paged_read(a, nullptr, &k, max_blocks_), k);
  }
  Status run(const ObserveAmaxArgs& a) override {
    if (Status s = validate(a); s != Status::success || a.rows.num_tokens == 0) return s;
    if (!kernels::paged_rows_supported(a.rows)) return Status::unsupported;
    const char* k = "";
    return check(kernels::launch_observe_amax(a, nullptr, &k, max_blocks_), k);
  }
  /// The launch error of the last run ("" when it succeeded).
  const std::string& launch_error() const { return error_; }
  std::string failure_detail() const override { return error_.empty() ? last_error_message() : error_; }

 private:
  Status check(rt::error_t e, const char* kernel) {
    error_.clear();
    if (e == rt::success) return Status::success;
    error_ = std::string(kernel) + " launch: " + rt::describe(e);
    return Status::device_error;
  }
  std::uint32_t max_blocks_ = kernels::kMaxPagedBlocks;
  std::string error_;
};

}  // namespace test
}  // namespace kvscale
