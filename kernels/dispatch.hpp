// kernels/dispatch.hpp: runtime (format, dtype) -> compile-time template arguments.
#pragma once

#include <type_traits>

#include "kvscale/kv_cache.hpp"

namespace kvscale {
namespace kernels {

template <Fp8Format F>
using FormatC = std::integral_constant<Fp8Format, F>;
template <DType T>
using DTypeC = std::integral_constant<DType, T>;

/// Calls fn(FormatC<F>{}, DTypeC<T>{}) for the runtime pair (validated by the caller).
template <typename Fn>
auto dispatch(Fp8Format f, DType t, Fn&& fn) {
  auto by_type = [&](auto fc) {
    switch (t) {
      case DType::f32: return fn(fc, DTypeC<DType::f32>{});
      case DType::f16: return fn(fc, DTypeC<DType::f16>{});
      default: return fn(fc, DTypeC<DType::bf16>{});
    }
  };
  return f == Fp8Format::e4m3fn ? by_type(FormatC<Fp8Format::e4m3fn>{}) : by_type(FormatC<Fp8Format::e4m3fnuz>{});
}

/// "e4m3fn, bf16" style names for kernel messages (static storage).
inline const char* kernel_name(const char* const (&names)[2][3], Fp8Format f, DType t) {
  return names[f == Fp8Format::e4m3fn ? 0 : 1][static_cast<int>(t) < 3 ? static_cast<int>(t) : 2];
}

}  // namespace kernels
}  // namespace kvscale
