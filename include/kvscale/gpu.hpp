// kvscale/gpu.hpp: device scales and the GPU backend (HIP, or CUDA in the CUDA variant).
//
// No HIP or CUDA header is included: streams are passed as an opaque `Stream` (a hipStream_t or
// cudaStream_t cast to void*; nullptr is the default stream). In a build without a GPU backend
// every function returns Status::unsupported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvscale/export.h"
#include "kvscale/kv_cache.hpp"
#include "kvscale/scales.hpp"
#include "kvscale/status.hpp"

namespace kvscale {

/// A hipStream_t / cudaStream_t, type-erased. nullptr = the legacy default stream.
using Stream = void*;

namespace gpu {

/// "hip", "cuda" or "none": the backend compiled into this build.
KVSCALE_EXPORT const char* backend_name() noexcept;
/// Number of usable devices; 0 (and Status::no_device) when there is none or no backend.
KVSCALE_EXPORT Status device_count(int* count) noexcept;
/// Short description of a device ("AMD Instinct MI300X (gfx942:sramecc+:xnack-), 304 CUs").
KVSCALE_EXPORT Status device_description(int device, std::string* out) noexcept;
/// The FP8 format the device converts natively: e4m3fnuz on gfx940/941/942, e4m3fn otherwise
/// (gfx950, gfx12, NVIDIA sm_89+). Status::no_device when the device does not exist.
KVSCALE_EXPORT Status native_format(int device, Fp8Format* out) noexcept;

/// Launchers. Pointers are device pointers (scales too: one float each). Each call validates its
/// arguments, then enqueues on `stream` and returns; it never allocates or synchronises, so it may
/// be captured into a graph. Size 0 is a no-op. Errors: invalid_argument, unsupported,
/// device_error (launch failure; last_error_message() names the kernel and device).
/// Slots outside the cache are skipped by the kernels (they cannot be checked without reading
/// device memory); validate them on the host if they are untrusted.
KVSCALE_EXPORT Status quantize(const QuantizeArgs& a, Stream stream) noexcept;
KVSCALE_EXPORT Status dequantize(const DequantizeArgs& a, Stream stream) noexcept;
KVSCALE_EXPORT Status paged_write(const PagedWriteArgs& a, Stream stream) noexcept;
KVSCALE_EXPORT Status paged_read(const PagedReadArgs& a, Stream stream) noexcept;
/// Calibration: folds max |K| and |V| of the rows into the device buffer a.amax, bit for bit what
/// cpu::observe_amax gives (layout and NaN/inf policy: ObserveAmaxArgs in kv_cache.hpp). Device
/// pointers (slot_mapping may be nullptr). Stream-ordered like the launchers above: no allocation,
/// no synchronisation, capturable; one atomic max per block and output (on the float bits, which
/// order like the values for non-negative floats), so launches on several streams may share a
/// buffer. Errors: invalid_argument, unsupported (rows too long), device_error.
KVSCALE_EXPORT Status observe_amax(const ObserveAmaxArgs& a, Stream stream) noexcept;

/// Makes `device` current for the calling thread. Errors: no_device, device_error.
KVSCALE_EXPORT Status set_device(int device) noexcept;
/// Waits for all work on `stream`. (The launchers never do this themselves.)
KVSCALE_EXPORT Status synchronize(Stream stream) noexcept;
/// Device-to-device copy of `bytes` on `stream`: the bandwidth baseline for benchmarks.
KVSCALE_EXPORT Status copy_device(void* dst, const void* src, std::size_t bytes, Stream stream) noexcept;

/// Device memory for tools, tests and benchmarks: move-only RAII over one allocation.
class KVSCALE_EXPORT DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  /// Allocates `bytes` (may be 0) on `device`. Errors: no_device, out_of_memory, unsupported.
  static Status create(int device, std::size_t bytes, DeviceBuffer* out) noexcept;
  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  int device() const noexcept { return device_; }
  /// Stream-ordered copies; the host memory must stay valid until the stream reaches them.
  /// Errors: invalid_argument (offset + bytes > size()), device_error.
  Status upload(const void* host, std::size_t bytes, Stream stream, std::size_t offset = 0) noexcept;
  Status download(void* host, std::size_t bytes, Stream stream, std::size_t offset = 0) const noexcept;
  /// Stream-ordered byte fill.
  Status fill(int byte, Stream stream) noexcept;

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
  int device_ = -1;
};

/// Elapsed device time between two points of a stream (GPU events), for benchmarks.
class KVSCALE_EXPORT EventTimer {
 public:
  EventTimer() = default;
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  /// Errors: device_error, unsupported.
  Status start(Stream stream) noexcept;
  Status stop(Stream stream) noexcept;
  /// Waits for the stop event, then returns the milliseconds between start and stop.
  Status elapsed_ms(float* ms) noexcept;

 private:
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

}  // namespace gpu

/// One rank's scales on one device: a move-only owner of the floats of effective_scales()
/// (scales.hpp), layout [K | V][layer][slot], head_slots() floats per layer and half:
///   per tensor: every slot holds the scale; kernels read it with scale stride 0;
///   per head:   slot h holds head h of the rank; kernels read it with stride 1 (vLLM's
///               kv_scale_stride).
/// With only per-tensor scales (every kv_cache_scales.json) head_slots() is 1 and the layout is
/// [K(layer 0..L-1) | V(layer 0..L-1)]. The pointers stay valid and fixed for the object's life,
/// and update() rewrites the values in place, so captured graphs stay valid. Move-only (its
/// members are); a move hands over the same device allocation, so the pointers do not change, and
/// leaves the source without one (valid() false, k_scale()/v_scale() nullptr).
class KVSCALE_EXPORT DeviceScales {
 public:
  /// Allocates on `device`, converts the rank's scales for `conv` (x2 for fnuz), and uploads them
  /// with a copy enqueued on `stream` from the host mirror. The mirror is pageable memory, so the
  /// runtime stages it before the call returns (it may wait for the stream): create() and update()
  /// are setup calls, not capturable, and not thread-safe against readers of host_mirror(). The
  /// device pointers never change, so graphs captured with them stay valid across update(). Errors: invalid_argument
  /// (rank or range outside the table), no_device, out_of_memory, device_error, unsupported (no GPU backend).
  static Status create(int device, const ScaleTable& table, int rank, LayerRange range, const ScaleConversion& conv,
                       Stream stream, DeviceScales* out) noexcept;

  /// Rewrites the values in place from `table` (same rank, range, conversion and layout as create()).
  /// Errors: invalid_argument (the table does not cover the range, or its granularity changed), device_error.
  Status update(const ScaleTable& table, Stream stream) noexcept;

  /// Device pointer to the K / V scale(s) of `layer` (absolute layer index within the range).
  /// Returns nullptr when the layer is outside the range.
  const float* k_scale(int layer) const noexcept;
  const float* v_scale(int layer) const noexcept;
  /// 0 when the layer's K (V) scale is per tensor, 1 when per head; 0 outside the range.
  int k_scale_stride(int layer) const noexcept;
  int v_scale_stride(int layer) const noexcept;
  /// Floats per layer in each half: max(1, heads of the rank).
  int head_slots() const noexcept { return layout_.head_slots; }
  /// The 2 * num_layers() * head_slots() device floats.
  const float* data() const noexcept { return static_cast<const float*>(buffer_.data()); }
  /// Host copy of the same values, same layout, for backends that want host scalars.
  const std::vector<float>& host_mirror() const noexcept { return layout_.values; }

  int device() const noexcept { return buffer_.device(); }
  int rank() const noexcept { return rank_; }
  int first_layer() const noexcept { return layout_.first_layer; }
  int num_layers() const noexcept { return layout_.num_layers; }
  const ScaleConversion& conversion() const noexcept { return conv_; }
  bool valid() const noexcept { return buffer_.data() != nullptr; }

 private:
  gpu::DeviceBuffer buffer_;  ///< the floats of layout_.values, on device()
  EffectiveScales layout_;
  int rank_ = 0;
  ScaleConversion conv_;
};

}  // namespace kvscale
