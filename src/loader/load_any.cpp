// load_scales(): the one entry point for any source. A directory or a *.safetensors file is a
// checkpoint (docs/checkpoint-scales.md); anything else is vLLM's kv_cache_scales.json.
#include <sys/stat.h>

#include <string>

#include "kvscale/scales.hpp"

namespace kvscale {

namespace {
bool ends_with(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
}  // namespace

LoadResult load_scales(const std::string& path, const LoadOptions& options) noexcept {
  struct stat st {};
  const bool is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (is_dir || ends_with(path, ".safetensors")) return load_checkpoint(path, options);
  return load_scales_file(path, options);
}

}  // namespace kvscale
