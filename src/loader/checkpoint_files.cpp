// Checkpoint files: the single-file and sharded layouts, the index rules (docs/checkpoint-scales.md
// "The index"), and the scale tensors they hold.
#include "checkpoint_files.hpp"

#include <sys/stat.h>

#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "json_sax.hpp"
#include "read_file.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {
namespace {

constexpr const char* kSingle = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";

bool keep_scale(std::string_view name) { return classify_scale_name(name).role != ScaleRole::none; }

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// A shard name must be a plain file name in the checkpoint directory: it comes from a hub.
bool plain_file_name(const std::string& n) {
  return !n.empty() && n.find('/') == std::string::npos && n.find('\\') == std::string::npos &&
         n.find("..") == std::string::npos && n.find('\0') == std::string::npos && n != ".";
}

bool open_one(const std::string& path, const std::string& label, const LoadLimits& limits, Sink& sink,
              CheckpointFiles* out) {
  auto f = std::make_unique<SafetensorsFile>();
  sink.set_file(label);
  if (!f->open(path, label, limits, keep_scale, sink)) return false;
  out->files.push_back(std::move(f));
  return true;
}

void collect_scales(const SafetensorsFile& f, const std::string& label, std::vector<ScaleTensor>* out) {
  for (const StTensor& t : f.header().kept) out->push_back({classify_scale_name(t.name), &t, &f, label});
}

/// What the index says, kept compactly: a 100,000-entry weight_map keeps only its shard names and
/// its scale tensors, never a DOM of every weight's name.
struct IndexMap {
  std::vector<std::string> shards;                   ///< distinct valid shard names, in first-seen order
  std::vector<std::string> first_user;               ///< per shard: the first tensor naming it (for locations)
  std::map<std::string, std::uint32_t> scale_shard;  ///< scale tensor -> shard index
  bool has_weight_map = false;
};

/// Streams model.safetensors.index.json: {"metadata": ..., "weight_map": {name: shard}}.
/// depth_ is 1 inside the top-level object, 2 inside weight_map (when in_map_).
class IndexHandler final : public JsonHandler {
 public:
  IndexHandler(Sink& sink, const LoadLimits& limits, IndexMap* out) : sink_(sink), limits_(limits), out_(out) {}

  bool on_null() override { return scalar(JsonKind::null_value); }
  bool on_bool(bool) override { return scalar(JsonKind::boolean); }
  bool on_integer(std::int64_t) override { return scalar(JsonKind::number); }
  bool on_unsigned(std::uint64_t) override { return scalar(JsonKind::number); }
  bool on_float(double, std::string_view, FloatToken) override { return scalar(JsonKind::number); }
  bool on_string(std::string& v) override { return entry() ? shard(v) : scalar(JsonKind::string); }
  bool on_start_object() override {
    if (weight_map_value()) {
      in_map_ = out_->has_weight_map = true;
    } else {
      scalar(JsonKind::object);
    }
    return ++depth_, true;
  }
  bool on_end_object() override {
    if (--depth_ == 1) in_map_ = false;
    return true;
  }
  bool on_start_array() override {
    scalar(JsonKind::array);
    return ++depth_, true;
  }
  bool on_end_array() override { return --depth_, true; }
  bool on_key(std::string& key) override {
    if (depth_ <= 2) key_.swap(key);
    return true;
  }
  bool weight_map_type_error() const { return weight_map_type_error_; }

 private:
  bool weight_map_value() const { return depth_ == 1 && key_ == "weight_map"; }
  bool entry() const { return depth_ == 2 && in_map_; }
  /// A value that is not a shard name where one is expected, or not an object for weight_map.
  bool scalar(JsonKind k) {
    if (weight_map_value()) {
      weight_map_type_error_ = true;
      sink_.add(DiagCode::index_invalid, pointer(),
                std::string("expected weight_map to be an object, found ") + json_kind_name(k));
    } else if (entry()) {
      sink_.add(DiagCode::index_invalid, pointer(),
                std::string("expected a shard file name (string), found ") + json_kind_name(k));
    }
    return true;
  }
  bool shard(const std::string& name) {
    if (!plain_file_name(name)) {
      sink_.add(DiagCode::shard_path_invalid, pointer(),
                "expected a plain file name in the checkpoint directory, found " + quote(name) +
                    " (never opened: names from a hub may not leave the directory)");
      return true;
    }
    if (last_ >= out_->shards.size() || out_->shards[last_] != name) {  // shards come in runs
      auto it = ids_.find(name);
      if (it == ids_.end()) {
        if (static_cast<std::int64_t>(out_->shards.size()) >= limits_.max_files) {
          sink_.add(DiagCode::too_many_files, "/weight_map",
                    "expected at most " + std::to_string(limits_.max_files) + " shards, found more");
          return false;
        }
        it = ids_.emplace(name, static_cast<std::uint32_t>(out_->shards.size())).first;
        out_->shards.push_back(name);
        out_->first_user.push_back(key_);
      }
      last_ = it->second;
    }
    if (keep_scale(key_)) out_->scale_shard[key_] = static_cast<std::uint32_t>(last_);
    return true;
  }

  Sink& sink_;
  const LoadLimits& limits_;
  IndexMap* out_;
  int depth_ = 0;
  bool in_map_ = false;
  bool weight_map_type_error_ = false;
  std::string key_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::size_t last_ = SIZE_MAX;
};

bool open_shards(const std::string& dir, const IndexMap& index, const LoadLimits& limits, Sink& sink,
                 std::vector<const SafetensorsFile*>* by_id, CheckpointFiles* out) {
  bool ok = true;
  for (std::size_t i = 0; i < index.shards.size(); ++i) {
    const std::string& shard = index.shards[i];
    const std::string path = dir + "/" + shard;
    struct stat st {};
    const bool present = ::stat(path.c_str(), &st) == 0;
    if (!present || !S_ISREG(st.st_mode)) {
      sink.set_file(kIndex);
      sink.add(DiagCode::shard_missing, "/weight_map" + pointer_to(index.first_user[i]),
               "expected shard " + quote(shard) + " to be a regular file in the checkpoint directory, found " +
                   (present ? "something else" : "nothing"));
      ok = false;
      continue;
    }
    if (!open_one(path, shard, limits, sink, out)) {
      ok = false;
      continue;
    }
    (*by_id)[i] = out->files.back().get();
  }
  return ok;
}

/// The index is authoritative: a scale the index assigns to a shard must be in that shard's header;
/// a scale a shard holds but the index does not assign there is ignored, with a warning.
void match_index(const IndexMap& index, const std::vector<const SafetensorsFile*>& by_id, Sink& sink,
                 std::vector<Diagnostic>* warnings, CheckpointFiles* out) {
  std::set<std::string> found;
  for (std::size_t i = 0; i < by_id.size(); ++i) {
    if (!by_id[i]) continue;
    for (const StTensor& t : by_id[i]->header().kept) {
      auto it = index.scale_shard.find(t.name);
      if (it != index.scale_shard.end() && it->second == i) {
        found.insert(t.name);
        out->scales.push_back({classify_scale_name(t.name), &t, by_id[i], index.shards[i]});
      } else {
        warnings->push_back(
            {DiagCode::scale_not_in_index, pointer_to(t.name),
             "scale tensor " + quote(t.name) + " is in this shard but the index does not assign it here; ignored",
             index.shards[i]});
      }
    }
  }
  sink.set_file(kIndex);
  for (const auto& [name, id] : index.scale_shard) {
    if (found.count(name) || !by_id[id]) continue;
    sink.add(DiagCode::tensor_not_in_shard, "/weight_map" + pointer_to(name),
             "expected scale tensor " + quote(name) + " in the header of " + quote(index.shards[id]) +
                 ", found no such tensor");
  }
}

bool open_index(const std::string& dir, const LoadLimits& limits, Sink& sink, std::vector<Diagnostic>* warnings,
                CheckpointFiles* out) {
  out->weights_label = kIndex;
  sink.set_file(kIndex);
  IndexMap index;
  {
    std::string text;
    if (!read_file(dir + "/" + kIndex, limits.max_index_bytes, sink, &text)) return false;
    IndexHandler h(sink, limits, &index);
    const std::size_t before = sink.diags().size();
    if (!parse_json_text(text, &text, JsonLimits{limits.max_index_bytes, limits.max_depth}, sink, h)) return false;
    if (!index.has_weight_map && !h.weight_map_type_error())
      sink.add(DiagCode::index_invalid, "", "expected key \"weight_map\", found no such key");
    if (sink.diags().size() != before) return false;
  }
  std::vector<const SafetensorsFile*> by_id(index.shards.size(), nullptr);
  const bool ok = open_shards(dir, index, limits, sink, &by_id, out);
  match_index(index, by_id, sink, warnings, out);
  return ok;
}

}  // namespace

bool open_checkpoint_dir(const std::string& dir, const LoadLimits& limits, Sink& sink,
                         std::vector<Diagnostic>* warnings, CheckpointFiles* out) {
  if (exists(dir + "/" + kIndex)) return open_index(dir, limits, sink, warnings, out);
  out->weights_label = kSingle;
  if (!open_one(dir + "/" + kSingle, kSingle, limits, sink, out)) return false;
  collect_scales(*out->files.back(), kSingle, &out->scales);
  return true;
}

bool open_safetensors_file(const std::string& path, const LoadLimits& limits, Sink& sink, CheckpointFiles* out) {
  const std::size_t slash = path.find_last_of('/');
  const std::string label = slash == std::string::npos ? path : path.substr(slash + 1);
  out->weights_label = label;
  if (!open_one(path, label, limits, sink, out)) return false;
  collect_scales(*out->files.back(), label, &out->scales);
  return true;
}

}  // namespace loader
}  // namespace kvscale
