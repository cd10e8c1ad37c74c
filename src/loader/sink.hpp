// Loader-private: the diagnostics list with its cap (spec: "cap the list at about 100").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kvscale/scales.hpp"

namespace kvscale {
namespace loader {

/// Collects diagnostics up to `cap`, then one too_many_diagnostics marker. Diagnostics added
/// while a file label is set (set_file) carry it in Diagnostic::file (checkpoints); the marker
/// carries none, since the problems it stands for may be in any file.
class Sink {
 public:
  explicit Sink(std::size_t cap) : cap_(cap) {}
  /// Returns false once the list is full (the caller may stop).
  bool add(DiagCode code, std::string pointer, std::string message) {
    if (full_) return false;
    if (diags_.size() >= cap_) {
      full_ = true;
      diags_.push_back(
          {DiagCode::too_many_diagnostics, "",
           "expected at most " + std::to_string(cap_) + " diagnostics, found more; the rest are not listed"});
      return false;
    }
    diags_.push_back({code, std::move(pointer), std::move(message), file_});
    return true;
  }
  /// The file later diagnostics point into ("" for a scales file).
  void set_file(std::string file) { file_ = std::move(file); }
  const std::string& file() const { return file_; }
  bool full() const { return full_; }
  std::vector<Diagnostic>& diags() { return diags_; }

 private:
  std::size_t cap_;
  bool full_ = false;
  std::string file_;
  std::vector<Diagnostic> diags_;
};

}  // namespace loader
}  // namespace kvscale
