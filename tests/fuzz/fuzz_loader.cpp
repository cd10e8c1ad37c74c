// libFuzzer target for the scales loader (spec: docs/scales-file.md). Run it with scripts/fuzz.
//
// Input: a 4-byte header, then the file's bytes.
//   byte 0  flags: bit 0 use a context, bit 1 context model_type "llama", bit 2 unit_fallback,
//           bit 3 lowered limits
//   byte 1  tp_size = (b & 15) - 1, tp_rank = (b >> 4) - 1  (both -1..14, so invalid ones too)
//   byte 2  num_hidden_layers = b - 1 (-1..254)
//   byte 3  lowered limits: max_depth = 1 + (b & 63), max_diagnostics = 1 + (b >> 6) * 3,
//           max_ranks = max_layers = 1 + (b & 15)
// Inputs shorter than the header are loaded as they are, without options.
//
// Besides the sanitizers, the target checks the invariants scales.hpp promises for any input, and
// aborts (a crash libFuzzer reports) when one is broken.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kvscale/scales.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_loader: invariant broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kvscale::LoadOptions opts;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (size >= 4) {
    const std::uint8_t flags = data[0];
    if (flags & 1u) {
      kvscale::LoadContext ctx;
      ctx.tp_size = (data[1] & 15) - 1;
      ctx.tp_rank = (data[1] >> 4) - 1;
      ctx.num_hidden_layers = data[2] - 1;
      if (flags & 2u) ctx.model_type = "llama";
      opts.context = ctx;
    }
    if (flags & 4u) opts.on_failure = kvscale::FailurePolicy::unit_fallback;
    if (flags & 8u) {
      opts.limits.max_depth = 1 + (data[3] & 63);
      opts.limits.max_diagnostics = 1u + static_cast<std::size_t>(data[3] >> 6) * 3u;
      opts.limits.max_ranks = 1 + (data[3] & 15);
      opts.limits.max_layers = 1 + (data[3] & 15);
    }
    bytes.remove_prefix(4);
  }

  const kvscale::LoadResult r = kvscale::load_scales_json(bytes, opts);

  // max_diagnostics problems, plus the too_many_diagnostics marker when the list was cut.
  check(r.diagnostics.size() <= opts.limits.max_diagnostics + 1, "more diagnostics than max_diagnostics + 1");
  for (const kvscale::Diagnostic& d : r.diagnostics) {
    const char* name = kvscale::diag_code_name(d.code);
    const char* rule = kvscale::diag_code_rule(d.code);
    check(name != nullptr && name[0] != '\0', "diag_code_name is empty");
    check(rule != nullptr, "diag_code_rule is null");
    check(!d.message.empty(), "empty message");
    check(d.message.find('\n') == std::string::npos, "multi-line message");
    check(d.pointer.empty() || d.pointer[0] == '/', "pointer is not an RFC 6901 pointer");
    const std::string line = kvscale::format_diagnostic(d);
    check(line.find(name) != std::string::npos, "format_diagnostic omits the code");
  }

  if (r.ok()) {
    check(!r.used_fallback, "fallback on an accepted file");
    check(!r.table.empty(), "accepted without a table");
    check(r.table.tp_size() >= 1 && r.table.tp_size() <= opts.limits.max_ranks, "tp_size outside limits");
    check(r.table.num_layers() >= 1 && r.table.num_layers() <= opts.limits.max_layers, "num_layers outside limits");
    if (opts.context) {
      check(r.table.tp_size() == opts.context->tp_size, "table tp_size != context");
      check(r.table.num_layers() == opts.context->num_hidden_layers, "table num_layers != context");
    }
    const kvscale::ScaleConversion fn{kvscale::Fp8Format::e4m3fn, true};
    const kvscale::ScaleConversion fnuz{kvscale::Fp8Format::e4m3fnuz, true};
    for (int rank = 0; rank < r.table.tp_size(); ++rank) {
      for (int layer = 0; layer < r.table.num_layers(); ++layer) {
        const float s = r.table.scale(rank, layer);
        check(std::isfinite(s) && s > 0.0f, "accepted scale is not finite and > 0");
        check(kvscale::effective_scale(s, fn) == s, "e4m3fn effective scale != file scale");
        (void)kvscale::effective_scale(s, fnuz);
      }
    }
    std::vector<float> out;
    const int last = r.table.tp_size() - 1;
    check(kvscale::effective_rank_scales(r.table, last, {0, -1}, fnuz, &out) == kvscale::Status::success,
          "effective_rank_scales failed");
    check(out.size() == static_cast<std::size_t>(r.table.num_layers()), "effective_rank_scales size");
    check(kvscale::effective_rank_scales(r.table, last + 1, {0, -1}, fnuz, &out) != kvscale::Status::success,
          "rank past the end");
    check(kvscale::effective_rank_scales(r.table, 0, {r.table.num_layers(), 1}, fnuz, &out) != kvscale::Status::success,
          "layer range past the end");
  } else if (r.used_fallback) {
    check(opts.on_failure == kvscale::FailurePolicy::unit_fallback, "fallback that was not asked for");
    for (int rank = 0; rank < r.table.tp_size(); ++rank) {
      for (int layer = 0; layer < r.table.num_layers(); ++layer) {
        check(r.table.scale(rank, layer) == 1.0f, "fallback scale != 1.0");
      }
    }
  } else {
    check(r.table.empty(), "a rejected file yielded a table");
  }
  return 0;
}
