#include "context.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <limits>

namespace kvscale {
namespace cli {

bool is_checkpoint_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  const std::string ext = ".safetensors";
  return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

bool parse_context(const Args& a, bool checkpoint, std::optional<LoadContext>* context, std::string* error) {
  context->reset();
  const bool size = a.has("--tp-size"), rank = a.has("--tp-rank"), layers = a.has("--num-layers");
  const bool model = a.has("--model-type");
  if (checkpoint) {
    if (size != rank) return *error = "--tp-size and --tp-rank go together", false;
    if (!size && !layers && !model) return true;
  } else {
    const int given = int(size) + int(rank) + int(layers);
    if (given != 0 && given != 3)
      return *error = "--tp-size, --tp-rank and --num-layers go together: give all three or none", false;
    if (given == 0 && model)
      return *error = "--model-type needs the context (--tp-size, --tp-rank, --num-layers)", false;
    if (given == 0) return true;
  }
  const std::int64_t max = std::numeric_limits<int>::max();
  std::int64_t tp = 1, r = 0, n = 0;
  if ((size && !parse_int("--tp-size", *a.value("--tp-size"), 1, max, &tp, error)) ||
      (rank && !parse_int("--tp-rank", *a.value("--tp-rank"), 0, max, &r, error)) ||
      (layers && !parse_int("--num-layers", *a.value("--num-layers"), 1, max, &n, error)))
    return false;
  LoadContext c;
  c.tp_size = static_cast<int>(tp);
  c.tp_rank = static_cast<int>(r);
  c.num_hidden_layers = static_cast<int>(n);
  c.model_type = a.value("--model-type");
  *context = c;
  return true;
}

}  // namespace cli
}  // namespace kvscale
