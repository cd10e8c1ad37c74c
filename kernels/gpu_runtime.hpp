// kernels/gpu_runtime.hpp: one thin layer over the HIP and CUDA runtimes (private; not installed).
//
// The same kernel and host sources build as HIP (hip-clang, or g++ with hip::host) or as CUDA
// (nvcc, or g++ with CUDA::cudart). The CUDA variant maps straight to the CUDA runtime: Debian's
// HIP-on-NVIDIA headers do not compile with CUDA 13.
//
// Backend choice: KVSCALE_GPU_CUDA=1 (set by kernels/CMakeLists.txt for the CUDA variant) or
// __CUDACC__ selects CUDA; otherwise HIP. Translation units compiled as HIP/CUDA get the full
// runtime (kernel launch syntax, device builtins); host-only units get just the runtime API.
// KVSCALE_HOST_EMU=1 (tests/emulator only) compiles the kernel sources as host C++ against the
// emulator's shim (tests/emulator/host_emu.hpp): only the launch and error calls exist there.
//
// Kernels are launched with rt::launch(kernel, grid, block, stream, args...), never with <<<>>>,
// so that the same sources run on the emulator.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#if defined(KVSCALE_HOST_EMU) && KVSCALE_HOST_EMU
#define KVSCALE_RT_CUDA 0
#define KVSCALE_RT_EMU 1
#include "host_emu.hpp"
#elif defined(__CUDACC__) || (defined(KVSCALE_GPU_CUDA) && KVSCALE_GPU_CUDA)
#define KVSCALE_RT_EMU 0
#define KVSCALE_RT_CUDA 1
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#else
#include <cuda_runtime_api.h>
#endif
#else
#define KVSCALE_RT_EMU 0
#define KVSCALE_RT_CUDA 0
#if defined(__HIPCC__)
#include <hip/hip_runtime.h>
#else
#include <hip/hip_runtime_api.h>
#endif
#endif

#include "geometry.hpp"  // after the runtime: kvscale headers need __host__ / __device__

namespace kvscale {
namespace rt {

#if KVSCALE_RT_EMU
using error_t = emu::Error;
using stream_t = emu::Stream;
constexpr const char* prefix = "emu";
constexpr error_t success = emu::Error::success;
inline error_t get_last_error() { return emu::get_last_error(); }
inline error_t peek_last_error() { return emu::peek_last_error(); }
inline const char* error_name(error_t e) { return emu::emu_error_name(e); }
inline const char* error_string(error_t e) { return emu::emu_error_string(e); }
inline error_t set_device(int) { return success; }
inline error_t get_device(int* d) {
  *d = 0;
  return success;
}
#else
// One list for both runtimes: KVSCALE_RT(Name) is hipName or cudaName, and the two APIs name these
// calls, types and constants alike. The block right below holds what does not map one to one.
#if KVSCALE_RT_CUDA
#define KVSCALE_RT(name) cuda##name
using device_prop_t = cudaDeviceProp;
/// Prefix of every runtime call name in messages: "hip" or "cuda" ("hipMalloc", "cudaMalloc").
constexpr const char* prefix = "cuda";
constexpr cudaError_t error_out_of_memory = cudaErrorMemoryAllocation;
constexpr cudaDeviceAttr attr_clock_rate = cudaDevAttrClockRate;
constexpr cudaDeviceAttr attr_memory_clock_rate = cudaDevAttrMemoryClockRate;
/// "sm_90" on NVIDIA, "gfx942:sramecc+:xnack-" on AMD.
inline std::string arch_name(const device_prop_t& p) {
  return "sm_" + std::to_string(p.major) + std::to_string(p.minor);
}
#else
#define KVSCALE_RT(name) hip##name
using device_prop_t = hipDeviceProp_t;
constexpr const char* prefix = "hip";
constexpr hipError_t error_out_of_memory = hipErrorOutOfMemory;
constexpr hipDeviceAttribute_t attr_clock_rate = hipDeviceAttributeClockRate;
constexpr hipDeviceAttribute_t attr_memory_clock_rate = hipDeviceAttributeMemoryClockRate;
inline std::string arch_name(const device_prop_t& p) { return std::string(p.gcnArchName); }
#endif

using error_t = KVSCALE_RT(Error_t);
using stream_t = KVSCALE_RT(Stream_t);
using event_t = KVSCALE_RT(Event_t);
using graph_t = KVSCALE_RT(Graph_t);
using graph_exec_t = KVSCALE_RT(GraphExec_t);
constexpr error_t success = KVSCALE_RT(Success);
constexpr error_t error_no_device = KVSCALE_RT(ErrorNoDevice);
constexpr error_t error_invalid_device = KVSCALE_RT(ErrorInvalidDevice);
constexpr error_t error_insufficient_driver = KVSCALE_RT(ErrorInsufficientDriver);
enum class Copy {
  h2d = KVSCALE_RT(MemcpyHostToDevice),
  d2h = KVSCALE_RT(MemcpyDeviceToHost),
  d2d = KVSCALE_RT(MemcpyDeviceToDevice)
};

inline error_t malloc(void** p, std::size_t bytes) { return KVSCALE_RT(Malloc)(p, bytes); }
inline error_t free(void* p) { return KVSCALE_RT(Free)(p); }
inline error_t memcpy_async(void* dst, const void* src, std::size_t bytes, Copy kind, stream_t s) {
  return KVSCALE_RT(MemcpyAsync)(dst, src, bytes, static_cast<KVSCALE_RT(MemcpyKind)>(kind), s);
}
inline error_t memset_async(void* dst, int value, std::size_t bytes, stream_t s) {
  return KVSCALE_RT(MemsetAsync)(dst, value, bytes, s);
}
inline error_t mem_get_info(std::size_t* free_bytes, std::size_t* total) {
  return KVSCALE_RT(MemGetInfo)(free_bytes, total);
}
inline error_t get_last_error() { return KVSCALE_RT(GetLastError)(); }
inline error_t peek_last_error() { return KVSCALE_RT(PeekAtLastError)(); }
inline const char* error_name(error_t e) { return KVSCALE_RT(GetErrorName)(e); }
inline const char* error_string(error_t e) { return KVSCALE_RT(GetErrorString)(e); }
inline error_t set_device(int d) { return KVSCALE_RT(SetDevice)(d); }
inline error_t get_device(int* d) { return KVSCALE_RT(GetDevice)(d); }
inline error_t get_device_count(int* n) { return KVSCALE_RT(GetDeviceCount)(n); }
inline error_t get_device_properties(device_prop_t* p, int d) { return KVSCALE_RT(GetDeviceProperties)(p, d); }
inline error_t device_synchronize() { return KVSCALE_RT(DeviceSynchronize)(); }
inline error_t attr_clock_khz(int* v, int d) { return KVSCALE_RT(DeviceGetAttribute)(v, attr_clock_rate, d); }
inline error_t attr_memory_clock_khz(int* v, int d) {
  return KVSCALE_RT(DeviceGetAttribute)(v, attr_memory_clock_rate, d);
}
inline error_t event_create(event_t* e) { return KVSCALE_RT(EventCreate)(e); }
inline error_t event_destroy(event_t e) { return KVSCALE_RT(EventDestroy)(e); }
inline error_t event_record(event_t e, stream_t s) { return KVSCALE_RT(EventRecord)(e, s); }
inline error_t event_synchronize(event_t e) { return KVSCALE_RT(EventSynchronize)(e); }
inline error_t event_elapsed_ms(float* ms, event_t a, event_t b) { return KVSCALE_RT(EventElapsedTime)(ms, a, b); }
inline error_t stream_create(stream_t* s) {
  return KVSCALE_RT(StreamCreateWithFlags)(s, KVSCALE_RT(StreamNonBlocking));
}
inline error_t stream_destroy(stream_t s) { return KVSCALE_RT(StreamDestroy)(s); }
inline error_t stream_synchronize(stream_t s) { return KVSCALE_RT(StreamSynchronize)(s); }
inline error_t stream_begin_capture(stream_t s) {
  return KVSCALE_RT(StreamBeginCapture)(s, KVSCALE_RT(StreamCaptureModeThreadLocal));
}
inline error_t stream_end_capture(stream_t s, graph_t* g) { return KVSCALE_RT(StreamEndCapture)(s, g); }
inline error_t graph_instantiate(graph_exec_t* e, graph_t g) { return KVSCALE_RT(GraphInstantiateWithFlags)(e, g, 0); }
inline error_t graph_launch(graph_exec_t e, stream_t s) { return KVSCALE_RT(GraphLaunch)(e, s); }
inline error_t graph_exec_destroy(graph_exec_t e) { return KVSCALE_RT(GraphExecDestroy)(e); }
inline error_t graph_destroy(graph_t g) { return KVSCALE_RT(GraphDestroy)(g); }
#undef KVSCALE_RT
#endif

#if defined(__HIPCC__) || defined(__CUDACC__) || KVSCALE_RT_EMU
/// geometry.hpp's shapes as the runtime's dim3.
inline dim3 dim(const kernels::Dim3& d) { return dim3(d.x, d.y, d.z); }

/// Enqueues kernel<<<grid, block, 0, stream>>>(args...): on the emulator, runs it on the host.
template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, stream_t stream, A&&... args) {
#if KVSCALE_RT_EMU
  emu::launch(kernel, grid, block, 0, stream, std::forward<A>(args)...);
#else
  kernel<<<grid, block, 0, stream>>>(std::forward<A>(args)...);
#endif
}
#endif

/// The public API's type-erased stream back to the runtime's type.
inline stream_t to_stream(void* s) { return static_cast<stream_t>(s); }

/// "hipMalloc" / "cudaMalloc" from "Malloc".
inline std::string call_name(const char* suffix) { return std::string(prefix) + suffix; }

/// "hipErrorOutOfMemory (out of memory)".
inline std::string describe(error_t e) {
  const char* n = error_name(e);
  const char* s = error_string(e);
  return std::string(n ? n : "unknown error") + " (" + (s ? s : "?") + ")";
}

/// Restores the calling thread's current device on scope exit (no-op if it could not be read).
class DeviceGuard {
 public:
  DeviceGuard() { ok_ = get_device(&previous_) == success; }
  ~DeviceGuard() {
    if (ok_) (void)set_device(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool ok_ = false;
};

}  // namespace rt
}  // namespace kvscale
