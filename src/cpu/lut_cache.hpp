// Private to the CPU backend: the calling thread's dequantize tables of recent scale sets.
//
// A server calls a paged read layer after layer, each layer with its own K and V scales (one, or
// one per KV head). A cache that kept one set a side rebuilt every table on every call: a one-token
// read of 8 heads with per-head scales took 1.9 us instead of 0.25 us once the layers took turns
// (docs/performance.md, session 25).
#pragma once

#include <cstddef>

#include "cpu/kernels.hpp"

namespace kvscale {
namespace cpu {
namespace detail {

/// The tables of scales[0, n), n >= 1, for (f, t) as `build` makes them, in one array: from the calling
/// thread's cache, built there on a miss. The array stays valid until this thread's next look-up
/// but one: two look-ups in a row (a read's K then V) never evict each other. nullptr where memory
/// runs out.
const DequantLut* cached_dequant_luts(Fp8Format f, DType t, const float* scales, std::size_t n,
                                      BuildLutFn build) noexcept;

/// At most this many tables a thread (about 2.2 KiB each); a set of more than a quarter of it is
/// built for its call only.
constexpr std::size_t kLutCacheTables = 2048;

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
