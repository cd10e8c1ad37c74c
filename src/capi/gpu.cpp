// C ABI: GPU queries and the CPU backend's settings (kvscale.h).
#include "capi/capi_common.hpp"
#include "kvscale/cpu.hpp"

using namespace kvscale;
using namespace kvscale::capi;

extern "C" {

const char* kvscale_gpu_backend(void) { return gpu::backend_name(); }

kvscale_status kvscale_gpu_device_count(int* count) {
  return guarded("kvscale_gpu_device_count", [&] {
    if (count == nullptr) return null_argument("kvscale_gpu_device_count", "count");
    *count = 0;
    return from_status(gpu::device_count(count));
  });
}

kvscale_status kvscale_gpu_native_format(int device, kvscale_format* out) {
  return guarded("kvscale_gpu_native_format", [&] {
    if (out == nullptr) return null_argument("kvscale_gpu_native_format", "out");
    Fp8Format f = Fp8Format::e4m3fn;
    const Status s = gpu::native_format(device, &f);
    if (s == Status::success) *out = static_cast<kvscale_format>(f);
    return from_status(s);
  });
}

kvscale_status kvscale_gpu_set_device(int device) {
  return guarded("kvscale_gpu_set_device", [&] { return from_status(gpu::set_device(device)); });
}

kvscale_status kvscale_gpu_synchronize(void* stream) {
  return guarded("kvscale_gpu_synchronize", [&] { return from_status(gpu::synchronize(stream)); });
}

void kvscale_cpu_set_num_threads(int n) { cpu::set_num_threads(n); }

}  // extern "C"
