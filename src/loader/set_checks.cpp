// Whole-document checks of a scales file: required keys (V6), rank and layer sets (V2/V3), and
// the table they guard.
#include "set_checks.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvscale {
namespace loader {

namespace {

constexpr std::size_t npos = static_cast<std::size_t>(-1);
const std::string kSfPointer = "/kv_cache/scaling_factor";

/// slot[r]: the index in doc.ranks of rank r, npos when absent. The last occurrence of a rank
/// wins (a repeated rank is already a duplicate_key).
std::vector<std::size_t> rank_slots(const ParsedDocument& doc, std::int64_t n_ranks) {
  std::vector<std::size_t> slot(static_cast<std::size_t>(n_ranks), npos);
  for (std::size_t i = 0; i < doc.ranks.size(); ++i)
    if (doc.ranks[i].rank < n_ranks) slot[static_cast<std::size_t>(doc.ranks[i].rank)] = i;
  return slot;
}

std::int64_t count_ranks(const ParsedDocument& doc, const LoadContext* ctx) {
  if (ctx) return ctx->tp_size;
  std::int64_t n = 0;
  for (const RankData& r : doc.ranks) n = std::max<std::int64_t>(n, std::int64_t{r.rank} + 1);
  return n;
}

std::int64_t count_layers(const ParsedDocument& doc, const std::vector<std::size_t>& slot, const LoadContext* ctx) {
  if (ctx) return ctx->num_hidden_layers;
  std::int64_t n = 0;
  for (std::size_t s : slot)
    if (s != npos)
      for (const LayerEntry& e : doc.ranks[s].layers) n = std::max<std::int64_t>(n, std::int64_t{e.layer} + 1);
  return n;
}

/// V2. Skipped when a rank key was not canonical: "01" may well be the "missing" rank 1.
void check_ranks(const ParsedDocument& doc, const std::vector<std::size_t>& slot, Sink& sink) {
  if (doc.noncanonical_ranks) return;
  const auto n_ranks = static_cast<std::int64_t>(slot.size());
  for (std::int64_t r = 0; r < n_ranks && !sink.full(); ++r)
    if (slot[static_cast<std::size_t>(r)] == npos)
      sink.add(DiagCode::rank_missing, kSfPointer,
               "expected rank \"" + std::to_string(r) + "\" (ranks 0.." + std::to_string(n_ranks - 1) +
                   "), found no such key");
}

/// V3 for every present rank, not only the caller's (as vLLM checks).
void check_layers(const ParsedDocument& doc, const std::vector<std::size_t>& slot, std::int64_t n_layers, Sink& sink) {
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(n_layers));
  for (std::size_t r = 0; r < slot.size() && !sink.full(); ++r) {
    const std::size_t s = slot[r];
    if (s == npos || !doc.ranks[s].is_object || doc.ranks[s].noncanonical_layers) continue;
    std::fill(seen.begin(), seen.end(), std::uint8_t{0});
    for (const LayerEntry& e : doc.ranks[s].layers) seen[static_cast<std::size_t>(e.layer)] = 1;
    const std::string ptr = kSfPointer + "/" + std::to_string(r);
    for (std::int64_t l = 0; l < n_layers && !sink.full(); ++l)
      if (!seen[static_cast<std::size_t>(l)])
        sink.add(DiagCode::layer_missing, ptr,
                 "expected layer \"" + std::to_string(l) + "\" (layers 0.." + std::to_string(n_layers - 1) +
                     "), found no such key");
  }
}

/// Without a context the file must be loadable as tp_size = n, num_hidden_layers = L, which needs
/// n >= 1 and L >= 1: an empty table would pass ok() and then be indexed out of range.
void check_not_empty(std::int64_t n_ranks, std::int64_t n_layers, Sink& sink) {
  if (n_ranks == 0) {
    sink.add(DiagCode::rank_missing, kSfPointer, "expected at least rank \"0\", found no ranks");
  } else if (n_layers == 0) {
    for (std::int64_t r = 0; r < n_ranks && !sink.full(); ++r)
      sink.add(DiagCode::layer_missing, kSfPointer + "/" + std::to_string(r),
               "expected at least layer \"0\", found no layers");
  }
}

}  // namespace

void check_required_keys(const ParsedDocument& doc, Sink& sink) {
  if (!doc.has_model_type) sink.add(DiagCode::missing_key, "", "expected key \"model_type\", found no such key");
  if (!doc.has_kv_cache) sink.add(DiagCode::missing_key, "", "expected key \"kv_cache\", found no such key");
  if (!doc.kv_cache_object) return;
  if (!doc.has_dtype) sink.add(DiagCode::missing_key, "/kv_cache", "expected key \"dtype\", found no such key");
  if (!doc.has_scaling_factor)
    sink.add(DiagCode::missing_key, "/kv_cache", "expected key \"scaling_factor\", found no such key");
}

std::optional<ScaleTable> check_sets_and_build(ParsedDocument& doc, const LoadContext* ctx, Sink& sink) {
  const std::int64_t n_ranks = count_ranks(doc, ctx);
  const std::vector<std::size_t> slot = rank_slots(doc, n_ranks);
  check_ranks(doc, slot, sink);
  const std::int64_t n_layers = count_layers(doc, slot, ctx);
  check_layers(doc, slot, n_layers, sink);
  if (!ctx && sink.diags().empty()) check_not_empty(n_ranks, n_layers, sink);
  if (!sink.diags().empty()) return std::nullopt;
  // Every rank has every layer, so the table is no larger than the file's entries.
  std::vector<float> table(static_cast<std::size_t>(n_ranks * n_layers));
  for (std::int64_t r = 0; r < n_ranks; ++r)
    for (const LayerEntry& e : doc.ranks[slot[static_cast<std::size_t>(r)]].layers)
      table[static_cast<std::size_t>(r * n_layers + e.layer)] = e.value;
  doc.ranks.clear();
  doc.ranks.shrink_to_fit();
  return ScaleTable(static_cast<int>(n_ranks), static_cast<int>(n_layers), std::move(table), std::move(doc.model_type));
}

}  // namespace loader
}  // namespace kvscale
