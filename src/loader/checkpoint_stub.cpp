// TEMPORARY during development: replaced by the checkpoint source (src/loader/checkpoint*.cpp).
#include "kvscale/scales.hpp"
namespace kvscale {
Status write_scales_json(const ScaleTable&, const std::string&, const WriteOptions&) noexcept {
  return Status::unsupported;
}
Status write_scales_safetensors(const ScaleTable&, const std::string&, const WriteOptions&) noexcept {
  return Status::unsupported;
}
}  // namespace kvscale
