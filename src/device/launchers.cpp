// gpu::quantize & co.: validate, skip empty calls, launch (kernels/launch.hpp), check the launch.
// Nothing here allocates or synchronises, so every call can be captured into a graph.
#include <string>

#include "device_common.hpp"
#include "kvscale/gpu.hpp"
#include "launch.hpp"

namespace kvscale {
namespace gpu {
namespace {

// The launch is checked with the runtime's last error, which also holds errors of earlier calls
// that were already reported or deliberately ignored (device queries, frees). Drop those first so
// that a launch is blamed only for its own failure; sticky device faults come back regardless.
void drop_stale_errors() noexcept { (void)rt::get_last_error(); }

Status launch_failed(const char* kernel, rt::error_t e) noexcept {
  return device::fail_call(std::string(kernel) + " launch", device::current_device(), e);
}

// The paged kernels index within a token's row with 32-bit offsets (kernels/geometry.hpp); any
// number of tokens launches (the grid is capped and strides over them).
Status check_rows_limits(const char* op, const TokenRows& r) noexcept {
  if (!kernels::paged_rows_supported(r))
    return detail::fail(Status::unsupported, std::string(op) + ": rows of " +
                                                 std::to_string(r.num_kv_heads * r.head_size) +
                                                 " elements are too long for the GPU kernels");
  return Status::success;
}

Status check_paged_limits(const char* op, const TokenRows& r, const PagedCacheShape& c) noexcept {
  if (Status s = check_rows_limits(op, r); s != Status::success) return s;
  if (!kernels::paged_cache_supported(c))
    return detail::fail(Status::unsupported, std::string(op) +
                                                 ": the heads of one slot span more than 2^31 bytes "
                                                 "(head stride " +
                                                 std::to_string(c.key_strides().head) +
                                                 "); too far for the GPU kernels");
  return Status::success;
}

}  // namespace

Status quantize(const QuantizeArgs& a, Stream stream) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.n == 0) return Status::success;
  const char* kernel = "quantize_kernel";
  drop_stale_errors();
  if (rt::error_t e = kernels::launch_quantize(a, rt::to_stream(stream), &kernel); e != rt::success)
    return launch_failed(kernel, e);
  return Status::success;
}

Status dequantize(const DequantizeArgs& a, Stream stream) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.n == 0) return Status::success;
  const char* kernel = "dequantize_kernel";
  drop_stale_errors();
  if (rt::error_t e = kernels::launch_dequantize(a, rt::to_stream(stream), &kernel); e != rt::success)
    return launch_failed(kernel, e);
  return Status::success;
}

Status paged_write(const PagedWriteArgs& a, Stream stream) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_paged_limits("paged_write", a.rows, a.cache); s != Status::success) return s;
  const char* kernel = "paged_write_kernel";
  drop_stale_errors();
  if (rt::error_t e = kernels::launch_paged_write(a, rt::to_stream(stream), &kernel); e != rt::success)
    return launch_failed(kernel, e);
  return Status::success;
}

Status paged_read(const PagedReadArgs& a, Stream stream) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_paged_limits("paged_read", a.rows, a.cache); s != Status::success) return s;
  const char* kernel = "paged_read_kernel";
  drop_stale_errors();
  if (rt::error_t e = kernels::launch_paged_read(a, rt::to_stream(stream), &kernel); e != rt::success)
    return launch_failed(kernel, e);
  return Status::success;
}

Status observe_amax(const ObserveAmaxArgs& a, Stream stream) noexcept {
  if (Status s = validate(a); s != Status::success) return s;
  if (a.rows.num_tokens == 0) return Status::success;
  if (Status s = check_rows_limits("observe_amax", a.rows); s != Status::success) return s;
  const char* kernel = "observe_amax_kernel";
  drop_stale_errors();
  if (rt::error_t e = kernels::launch_observe_amax(a, rt::to_stream(stream), &kernel); e != rt::success)
    return launch_failed(kernel, e);
  return Status::success;
}

}  // namespace gpu
}  // namespace kvscale
