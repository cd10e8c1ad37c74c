// kernels/launch.hpp: the kernel launchers behind gpu::quantize & co. (private to the library).
//
// Each launcher enqueues one kernel on `stream` for arguments that kvscale::validate() accepted
// and that are not empty, then returns the runtime's last error (success, or the launch failure).
// It never allocates or synchronises, so it can be captured into a graph. `kernel` receives the
// kernel's name for messages, e.g. "quantize_kernel<e4m3fn, bf16>". The grid and block are the
// ones geometry.hpp computes; `max_blocks` lowers the paged grid cap (tests of the grid stride).
#pragma once

#include <cstdint>

#include "geometry.hpp"
#include "gpu_runtime.hpp"
#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace kernels {

rt::error_t launch_quantize(const QuantizeArgs& a, rt::stream_t stream, const char** kernel) noexcept;
rt::error_t launch_dequantize(const DequantizeArgs& a, rt::stream_t stream, const char** kernel) noexcept;
rt::error_t launch_paged_write(const PagedWriteArgs& a, rt::stream_t stream, const char** kernel,
                               std::uint32_t max_blocks = kMaxPagedBlocks) noexcept;
rt::error_t launch_paged_read(const PagedReadArgs& a, rt::stream_t stream, const char** kernel,
                              std::uint32_t max_blocks = kMaxPagedBlocks) noexcept;
rt::error_t launch_observe_amax(const ObserveAmaxArgs& a, rt::stream_t stream, const char** kernel,
                                std::uint32_t max_blocks = kMaxPagedBlocks) noexcept;

}  // namespace kernels
}  // namespace kvscale
