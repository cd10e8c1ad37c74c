// kvscale/cpu.hpp: the CPU backend. It is the reference every GPU backend is compared with, bit
// for bit, and the fallback when there is no GPU. Multi-threaded, with AVX2/AVX-512 paths chosen at
// run time; every path produces the bytes fp8.hpp defines.
#pragma once

#include "kvscale/export.h"
#include "kvscale/kv_cache.hpp"
#include "kvscale/status.hpp"

namespace kvscale {
namespace cpu {

/// All pointers are host pointers (scales too). Synchronous. n == 0 / num_tokens == 0 is a no-op.
/// Errors: invalid_argument (bad pointers/shapes/alignment, slot outside the cache).
KVSCALE_EXPORT Status quantize(const QuantizeArgs& a) noexcept;
KVSCALE_EXPORT Status dequantize(const DequantizeArgs& a) noexcept;
KVSCALE_EXPORT Status paged_write(const PagedWriteArgs& a) noexcept;
KVSCALE_EXPORT Status paged_read(const PagedReadArgs& a) noexcept;
/// Calibration: folds max |K| and |V| of the rows into a.amax (layout, NaN/inf policy and padding:
/// ObserveAmaxArgs in kv_cache.hpp). Host pointers; synchronous; num_tokens == 0 is a no-op.
/// Errors: invalid_argument (validate()), out_of_memory.
KVSCALE_EXPORT Status observe_amax(const ObserveAmaxArgs& a) noexcept;

/// Threads the CPU backend uses (default: hardware concurrency). 1 disables threading.
KVSCALE_EXPORT void set_num_threads(int n) noexcept;
KVSCALE_EXPORT int num_threads() noexcept;

/// Instruction sets the CPU backend may use. `best` picks the widest the CPU supports.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, best = 3 };
/// Restricts the CPU backend to at most `isa` (for tests and benchmarks). Returns the ISA now used.
KVSCALE_EXPORT Isa set_max_isa(Isa isa) noexcept;
KVSCALE_EXPORT const char* isa_name(Isa isa) noexcept;

}  // namespace cpu
}  // namespace kvscale
