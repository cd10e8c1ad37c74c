#include "args.hpp"

#include <cerrno>
#include <cstdlib>

namespace kvscale {
namespace cli {

bool parse_args(int argc, char** argv, int first, const std::set<std::string>& value_options,
                const std::set<std::string>& flag_options, Args* out, std::string* error) {
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-' || a == "-") {
      out->positional.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (out->has(name)) {
      *error = "option " + name + " given twice";
      return false;
    }
    if (flag_options.count(name)) {
      if (inline_value) {
        *error = "option " + name + " takes no value";
        return false;
      }
      out->flags.insert(name);
    } else if (value_options.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) {
          *error = "option " + name + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      out->values[name] = value;
    } else {
      *error = "unknown option " + name;
      return false;
    }
  }
  return true;
}

bool parse_int(const std::string& name, const std::string& text, std::int64_t lo, std::int64_t hi, std::int64_t* out,
               std::string* error) {
  const auto fail = [&] {
    *error =
        name + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + text + "'";
    return false;
  };
  if (text.empty() || text.size() > 20) return fail();
  std::size_t i = (text[0] == '-') ? 1 : 0;
  if (i == text.size()) return fail();
  for (std::size_t k = i; k < text.size(); ++k)
    if (text[k] < '0' || text[k] > '9') return fail();
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return fail();
  *out = v;
  return true;
}

}  // namespace cli
}  // namespace kvscale
