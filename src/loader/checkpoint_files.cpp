// Checkpoint files: the single-file and sharded layouts, the index rules (docs/checkpoint-scales.md
// "The index"), and the scale tensors they hold.
#include "checkpoint_files.hpp"

#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <unordered_map>

#include "json_reader.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {
namespace {

using json = nlohmann::json;

constexpr const char* kSingle = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";

bool keep_scale(std::string_view name) { return classify_scale_name(name).role != ScaleRole::none; }

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string pointer_to(std::string_view key) {
  std::string p;
  append_pointer_segment(p, key);
  return p;
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

/// weight_map: {tensor name: shard file name}. Checks types and names; fills name -> shard.
bool read_weight_map(const json& index, Sink& sink, std::map<std::string, std::string>* shard_of,
                     std::vector<std::string>* shards, const LoadLimits& limits) {
  auto wm = index.find("weight_map");
  if (wm == index.end())
    return sink.add(DiagCode::index_invalid, "", "expected key \"weight_map\", found no such key"), false;
  if (!wm->is_object())
    return sink.add(DiagCode::index_invalid, "/weight_map",
                    "expected weight_map to be an object, found " + std::string(wm->type_name())),
           false;
  bool ok = true;
  std::set<std::string> seen;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const std::string ptr = "/weight_map" + pointer_to(it.key());
    if (!it->is_string()) {
      ok = sink.add(DiagCode::index_invalid, ptr,
                    "expected a shard file name (string), found " + std::string(it->type_name())) &&
           false;
      continue;
    }
    const std::string& shard = it->get_ref<const std::string&>();
    if (!plain_file_name(shard)) {
      sink.add(DiagCode::shard_path_invalid, ptr,
               "expected a plain file name in the checkpoint directory, found " + quote(shard) +
                   " (never opened: names from a hub may not leave the directory)");
      ok = false;
      continue;
    }
    (*shard_of)[it.key()] = shard;
    if (seen.insert(shard).second) shards->push_back(shard);
  }
  if (static_cast<std::int64_t>(shards->size()) > limits.max_files) {
    sink.add(
        DiagCode::too_many_files, "/weight_map",
        "expected at most " + std::to_string(limits.max_files) + " shards, found " + std::to_string(shards->size()));
    return false;
  }
  return ok;
}

bool open_shards(const std::string& dir, const std::vector<std::string>& shards,
                 const std::map<std::string, std::string>& shard_of, const LoadLimits& limits, Sink& sink,
                 std::map<std::string, const SafetensorsFile*>* by_name, CheckpointFiles* out) {
  bool ok = true;
  for (const std::string& shard : shards) {
    const std::string path = dir + "/" + shard;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      std::string first;
      for (const auto& kv : shard_of)
        if (kv.second == shard) {
          first = kv.first;
          break;
        }
      sink.set_file(kIndex);
      sink.add(DiagCode::shard_missing, "/weight_map" + pointer_to(first),
               "expected shard " + quote(shard) + " to be a regular file in the checkpoint directory, found " +
                   (::stat(path.c_str(), &st) != 0 ? "nothing" : "something else"));
      ok = false;
      continue;
    }
    if (!open_one(path, shard, limits, sink, out)) {
      ok = false;
      continue;
    }
    (*by_name)[shard] = out->files.back().get();
  }
  return ok;
}

/// The index is authoritative: a scale the index assigns to a shard must be in that shard's header;
/// a scale a shard holds but the index does not assign there is ignored, with a warning.
void match_index(const std::map<std::string, std::string>& shard_of,
                 const std::map<std::string, const SafetensorsFile*>& by_name, Sink& sink,
                 std::vector<Diagnostic>* warnings, CheckpointFiles* out) {
  std::unordered_map<std::string, const StTensor*> in_header;
  for (const auto& [shard, file] : by_name) {
    for (const StTensor& t : file->header().kept) {
      auto it = shard_of.find(t.name);
      if (it != shard_of.end() && it->second == shard) {
        in_header[t.name] = &t;
        out->scales.push_back({classify_scale_name(t.name), &t, file, shard});
      } else {
        warnings->push_back(
            {DiagCode::scale_not_in_index, pointer_to(t.name),
             "scale tensor " + quote(t.name) + " is in this shard but the index does not assign it here; ignored",
             shard});
      }
    }
  }
  sink.set_file(kIndex);
  for (const auto& [name, shard] : shard_of) {
    if (!keep_scale(name) || in_header.count(name) || !by_name.count(shard)) continue;
    sink.add(DiagCode::tensor_not_in_shard, "/weight_map" + pointer_to(name),
             "expected scale tensor " + quote(name) + " in the header of " + quote(shard) + ", found no such tensor");
  }
}

bool open_index(const std::string& dir, const LoadLimits& limits, Sink& sink, std::vector<Diagnostic>* warnings,
                CheckpointFiles* out) {
  out->weights_label = kIndex;
  sink.set_file(kIndex);
  json index;
  if (!read_json_file(dir + "/" + kIndex, JsonLimits{limits.max_index_bytes, limits.max_depth}, sink, &index))
    return false;
  std::map<std::string, std::string> shard_of;
  std::vector<std::string> shards;
  bool ok = read_weight_map(index, sink, &shard_of, &shards, limits);
  index = json();  // the DOM is no longer needed: keep peak memory near one header
  std::map<std::string, const SafetensorsFile*> by_name;
  ok = open_shards(dir, shards, shard_of, limits, sink, &by_name, out) && ok;
  match_index(shard_of, by_name, sink, warnings, out);
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
