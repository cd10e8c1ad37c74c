// TEMPORARY during development: replaced by the checkpoint source (src/loader/checkpoint*.cpp).
#include "kvscale/scales.hpp"
namespace kvscale {
LoadResult load_checkpoint(const std::string&, const LoadOptions&) noexcept {
  LoadResult r;
  r.source = SourceKind::checkpoint;
  r.diagnostics.push_back({DiagCode::internal_error, "", "checkpoint loading is not implemented yet"});
  return r;
}
}  // namespace kvscale
