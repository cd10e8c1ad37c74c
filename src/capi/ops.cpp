// C ABI: quantize / dequantize / paged write / paged read / observe_amax on the CPU or GPU backend
// (kvscale.h). The C structs map field by field onto kv_cache.hpp's argument structs; the backends
// validate them (validate() in kv_cache.hpp), so nothing is checked twice here except what C adds:
// enum values that have no C++ counterpart and the backend selector.
#include <string>

#include "capi/capi_common.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace capi {
namespace {

/// Checks the enums a C caller may pass out of range (a C++ enum class cannot hold them safely).
kvscale_status check_enums(const char* function, kvscale_backend backend, int format, int dtype) {
  if (backend != KVSCALE_BACKEND_CPU && backend != KVSCALE_BACKEND_GPU)
    return fail(KVSCALE_INVALID_ARGUMENT,
                std::string(function) + ": unknown backend " + std::to_string(static_cast<int>(backend)));
  if (format != KVSCALE_E4M3FN && format != KVSCALE_E4M3FNUZ)
    return fail(KVSCALE_INVALID_ARGUMENT, std::string(function) + ": unknown format " + std::to_string(format));
  if (dtype != KVSCALE_F32 && dtype != KVSCALE_F16 && dtype != KVSCALE_BF16)
    return fail(KVSCALE_INVALID_ARGUMENT, std::string(function) + ": unknown dtype " + std::to_string(dtype));
  return KVSCALE_SUCCESS;
}

TokenRows to_rows(const kvscale_token_rows& r) {
  return TokenRows{r.num_tokens, r.num_kv_heads, r.head_size, r.key_row_stride, r.value_row_stride};
}

kvscale_status to_cache(const char* function, const kvscale_cache_shape& c, PagedCacheShape* out) {
  if (c.layout != KVSCALE_LAYOUT_NHD && c.layout != KVSCALE_LAYOUT_HND && c.layout != KVSCALE_LAYOUT_SPLIT)
    return fail(KVSCALE_INVALID_ARGUMENT,
                std::string(function) + ": unknown cache layout " + std::to_string(static_cast<int>(c.layout)));
  *out = PagedCacheShape{static_cast<CacheLayout>(c.layout),
                         c.num_blocks,
                         c.block_size,
                         c.num_kv_heads,
                         c.head_size,
                         c.block_stride,
                         c.slot_stride,
                         c.head_stride,
                         c.allocation_bytes};
  return KVSCALE_SUCCESS;
}

/// quantize / dequantize: the contiguous ops share everything but the argument struct and backend.
template <class Args, class In, class Out>
kvscale_status contiguous(const char* function, kvscale_backend backend, kvscale_format format, kvscale_dtype dtype,
                          In in, Out out, size_t n, const float* scale, void* stream,
                          Status (*on_cpu)(const Args&) noexcept, Status (*on_gpu)(const Args&, Stream) noexcept) {
  return guarded(function, [&] {
    const kvscale_status e = check_enums(function, backend, format, dtype);
    if (e != KVSCALE_SUCCESS) return e;
    Args a;
    a.format = static_cast<Fp8Format>(format);
    a.dtype = static_cast<DType>(dtype);
    a.in = in;
    a.out = out;
    a.n = n;
    a.scale = scale;
    return from_status(backend == KVSCALE_BACKEND_CPU ? on_cpu(a) : on_gpu(a, stream));
  });
}

/// paged_write / paged_read: the same C struct, field by field onto PagedWriteArgs / PagedReadArgs.
template <class Args>
kvscale_status paged(const char* function, kvscale_backend backend, const kvscale_paged_args* p, void* stream,
                     Status (*on_cpu)(const Args&) noexcept, Status (*on_gpu)(const Args&, Stream) noexcept) {
  return guarded(function, [&] {
    if (p == nullptr) return null_argument(function, "args");
    const kvscale_status e = check_enums(function, backend, p->format, p->dtype);
    if (e != KVSCALE_SUCCESS) return e;
    Args a;
    a.format = static_cast<Fp8Format>(p->format);
    a.dtype = static_cast<DType>(p->dtype);
    a.rows = to_rows(p->rows);
    a.key = p->key;
    a.value = p->value;
    a.slot_mapping = p->slot_mapping;
    a.key_cache = p->key_cache;
    a.value_cache = p->value_cache;
    a.k_scale = p->k_scale;
    a.v_scale = p->v_scale;
    a.k_scale_stride = p->k_scale_stride;
    a.v_scale_stride = p->v_scale_stride;
    const kvscale_status c = to_cache(function, p->cache, &a.cache);
    if (c != KVSCALE_SUCCESS) return c;
    return from_status(backend == KVSCALE_BACKEND_CPU ? on_cpu(a) : on_gpu(a, stream));
  });
}

}  // namespace
}  // namespace capi
}  // namespace kvscale

using namespace kvscale;
using namespace kvscale::capi;

extern "C" {

kvscale_status kvscale_quantize(kvscale_backend backend, kvscale_format format, kvscale_dtype dtype, const void* in,
                                uint8_t* out, size_t n, const float* scale, void* stream) {
  return contiguous<QuantizeArgs>("kvscale_quantize", backend, format, dtype, in, out, n, scale, stream, cpu::quantize,
                                  gpu::quantize);
}

kvscale_status kvscale_dequantize(kvscale_backend backend, kvscale_format format, kvscale_dtype dtype,
                                  const uint8_t* in, void* out, size_t n, const float* scale, void* stream) {
  return contiguous<DequantizeArgs>("kvscale_dequantize", backend, format, dtype, in, out, n, scale, stream,
                                    cpu::dequantize, gpu::dequantize);
}

kvscale_status kvscale_paged_write(kvscale_backend backend, const kvscale_paged_args* args, void* stream) {
  return paged<PagedWriteArgs>("kvscale_paged_write", backend, args, stream, cpu::paged_write, gpu::paged_write);
}

kvscale_status kvscale_paged_read(kvscale_backend backend, const kvscale_paged_args* args, void* stream) {
  return paged<PagedReadArgs>("kvscale_paged_read", backend, args, stream, cpu::paged_read, gpu::paged_read);
}

kvscale_status kvscale_observe_amax(kvscale_backend backend, kvscale_dtype dtype, const kvscale_token_rows* rows,
                                    const void* key, const void* value, const int64_t* slot_mapping, float* amax,
                                    void* stream) {
  return guarded("kvscale_observe_amax", [&] {
    if (rows == nullptr) return null_argument("kvscale_observe_amax", "rows");
    const kvscale_status e = check_enums("kvscale_observe_amax", backend, KVSCALE_E4M3FN, dtype);
    if (e != KVSCALE_SUCCESS) return e;
    ObserveAmaxArgs a;
    a.dtype = static_cast<DType>(dtype);
    a.rows = to_rows(*rows);
    a.key = key;
    a.value = value;
    a.slot_mapping = slot_mapping;
    a.amax = amax;
    return from_status(backend == KVSCALE_BACKEND_CPU ? cpu::observe_amax(a) : gpu::observe_amax(a, stream));
  });
}

}  // extern "C"
