// Loader-private: the keys of one JSON object, for duplicate-key detection (H2).
//
// One object may hold millions of keys in a hostile file, so keys live in one arena
// ([u32 length][bytes]) and an open-addressing table holds arena offsets + 1 (0 = empty slot):
// about 4 bytes of overhead per key plus 8 per slot, and no allocation per key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvscale {
namespace loader {

class KeySet {
 public:
  /// Returns false if `k` was already present.
  bool insert(std::string_view k) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = hash(k);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const std::uint32_t s = slots_[i];
      if (s == 0) {
        slots_[i] = append(k);
        ++count_;
        return true;
      }
      if (key_at(s) == k) return false;
    }
  }

 private:
  /// FNV-1a with a final fold, so that the low bits used by the mask depend on every byte.
  static std::uint64_t hash(std::string_view k) {
    std::uint64_t h = 1469598103934665603ull;
    for (char c : k) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
  }
  std::string_view key_at(std::uint32_t slot) const {
    const std::size_t off = slot - 1u;
    std::uint32_t len;
    std::memcpy(&len, arena_.data() + off, sizeof len);
    return std::string_view(arena_.data() + off + sizeof len, len);
  }
  std::uint32_t append(std::string_view k) {
    const std::size_t off = arena_.size();
    const auto len = static_cast<std::uint32_t>(k.size());
    arena_.append(reinterpret_cast<const char*>(&len), sizeof len);
    arena_.append(k.data(), k.size());
    return static_cast<std::uint32_t>(off + 1);
  }
  void grow() {
    std::vector<std::uint32_t> old = std::move(slots_);
    slots_.assign(old.empty() ? 8 : old.size() * 2, 0u);
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t s : old) {
      if (s == 0) continue;
      for (std::size_t i = static_cast<std::size_t>(hash(key_at(s))) & mask;; i = (i + 1) & mask) {
        if (slots_[i] == 0) {
          slots_[i] = s;
          break;
        }
      }
    }
  }
  std::string arena_;
  std::vector<std::uint32_t> slots_;
  std::size_t count_ = 0;
};

}  // namespace loader
}  // namespace kvscale
