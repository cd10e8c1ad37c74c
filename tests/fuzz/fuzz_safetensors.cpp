// libFuzzer target for the safetensors header reader (src/loader/safetensors.cpp; spec
// docs/checkpoint-scales.md, S rules). Run it with scripts/fuzz.
//
// Input: a 1-byte mode, then
//   mode bit 0 = 1  a whole .safetensors file: the 8-byte prefix is checked (S1) against the input's
//                   size, then the header it names is parsed with the rest as the data buffer
//   mode bit 0 = 0  2 bytes (u16 LE) of data-buffer size, then the header JSON itself: the fuzzer
//                   need not keep a length prefix consistent to reach the JSON and S3..S5 checks
//   mode bit 1      lowered limits from the next byte L: max_tensors = L & 7, max_depth = 1 + (L >> 3),
//                   max_diagnostics = 1 + (L & 3), max_header_bytes = 64 << (L >> 6)
// Besides the sanitizers, the target checks the invariants safetensors.hpp promises for any input
// and aborts (a crash libFuzzer reports) when one is broken. The fuzz preset links kvscale
// statically, so the loader-private functions are reachable here.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kvscale/scales.hpp"
#include "safetensors.hpp"
#include "sink.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_safetensors: invariant broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::uint8_t mode = data[0];
  in.remove_prefix(1);
  kvscale::LoadLimits lim;
  if (mode & 2u) {
    if (in.empty()) return 0;
    const unsigned l = static_cast<unsigned char>(in[0]);
    in.remove_prefix(1);
    lim.max_tensors = static_cast<std::int64_t>(l & 7u);
    lim.max_depth = 1 + static_cast<int>(l >> 3);
    lim.max_diagnostics = 1 + (l & 3u);
    lim.max_header_bytes = std::uint64_t{64} << (l >> 6);
  }

  kvscale::loader::Sink sink(lim.max_diagnostics);
  sink.set_file("fuzz.safetensors");
  kvscale::loader::StHeader h;
  bool ok = false;
  std::uint64_t data_bytes = 0;
  if (mode & 1u) {
    std::uint64_t n = 0;
    if (kvscale::loader::check_safetensors_prefix(in.substr(0, 8), in.size(), lim, sink, &n)) {
      check(in.size() >= 8 && n <= in.size() - 8, "prefix accepted a header past the end");
      check(n <= lim.max_header_bytes, "prefix accepted a header over the limit");
      data_bytes = in.size() - 8 - n;
      ok = kvscale::loader::parse_safetensors_header(
          in.substr(8, static_cast<std::size_t>(n)), data_bytes, lim, [](std::string_view) { return true; }, sink, &h);
    } else {
      check(!sink.diags().empty(), "prefix rejected without a diagnostic");
    }
  } else {
    if (in.size() < 2) return 0;
    data_bytes = static_cast<std::uint64_t>(static_cast<unsigned char>(in[0])) |
                 static_cast<std::uint64_t>(static_cast<unsigned char>(in[1])) << 8;
    in.remove_prefix(2);
    ok = kvscale::loader::parse_safetensors_header(
        in, data_bytes, lim, [](std::string_view) { return true; }, sink, &h);
  }

  const auto& ds = sink.diags();
  check(ds.size() <= lim.max_diagnostics + 1, "more diagnostics than max_diagnostics + 1");
  for (const kvscale::Diagnostic& d : ds) {
    check(!d.message.empty(), "empty message");
    check(d.message.find('\n') == std::string::npos, "multi-line message");
    check(d.pointer.empty() || d.pointer[0] == '/', "pointer is not an RFC 6901 pointer");
    // The cap marker is about the whole list, so it alone carries no file (scales.hpp, Diagnostic).
    if (d.code == kvscale::DiagCode::too_many_diagnostics) {
      check(d.file.empty() && &d == &ds.back(), "the cap marker has a file or is not last");
    } else {
      check(d.file == "fuzz.safetensors", "diagnostic without the file label");
    }
    const char* name = kvscale::diag_code_name(d.code);
    check(name != nullptr && name[0] != '\0', "diag_code_name is empty");
  }
  if (ok) {
    check(ds.empty(), "accepted with diagnostics");
    check(h.tensor_count >= 0 && h.tensor_count <= lim.max_tensors, "tensor_count outside limits");
    check(h.kept.size() == static_cast<std::size_t>(h.tensor_count), "keep-all did not keep every tensor");
    std::uint64_t total = 0;
    for (const kvscale::loader::StTensor& t : h.kept) {
      check(t.begin <= t.end && t.end <= data_bytes, "kept tensor outside the data buffer");
      std::uint64_t numel = 1;
      for (std::uint64_t dim : t.shape) {
        check(dim == 0 || numel <= (std::uint64_t{1} << 62) / dim, "accepted shape over 2^62");
        numel *= dim;
      }
      const unsigned bits = kvscale::loader::st_dtype_bits(t.dtype);
      check(bits > 0, "kept tensor with an unknown dtype");
      // numel <= 2^62 and bits <= 64: the exact byte count is (numel / 8) * bits + (numel % 8) * bits / 8.
      const std::uint64_t nbytes = t.end - t.begin;
      check((numel % 8) * bits % 8 == 0, "accepted a fractional byte count");
      check((numel / 8) * bits + (numel % 8) * bits / 8 == nbytes, "size != numel x dtype size");
      total += nbytes;
    }
    check(total == data_bytes, "accepted tensors do not cover the data buffer exactly");
  } else {
    check(!ds.empty(), "rejected without a diagnostic");
    check(h.kept.empty(), "rejected but kept tensors");
  }
  return 0;
}
