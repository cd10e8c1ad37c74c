// Loads a scales file for TP rank 0, prints the effective fnuz scale of layer 0, and quantizes a
// few values on the CPU backend. Usage: kvscale_consumer FILE NUM_LAYERS
#include <cstdio>
#include <cstdlib>
#include <kvscale/kvscale.hpp>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s FILE NUM_LAYERS\n", argv[0]);
    return 2;
  }
  kvscale::LoadOptions options;
  options.context = kvscale::LoadContext{1, 0, std::atoi(argv[2]), std::nullopt};
  const kvscale::LoadResult result = kvscale::load_scales_file(argv[1], options);
  for (const auto& d : result.diagnostics) std::fprintf(stderr, "%s\n", kvscale::format_diagnostic(d).c_str());
  if (!result.ok()) return 1;

  const float scale = result.table.scale(0, 0);
  const float fnuz = kvscale::effective_scale(scale, {kvscale::Fp8Format::e4m3fnuz, true});
  std::vector<float> in = {0.0f, 1.0f, -2.5f, 1e9f};
  std::vector<std::uint8_t> out(in.size());
  kvscale::QuantizeArgs q;
  q.format = kvscale::Fp8Format::e4m3fn;
  q.dtype = kvscale::DType::f32;
  q.in = in.data();
  q.out = out.data();
  q.n = in.size();
  q.scale = &scale;
  if (kvscale::cpu::quantize(q) != kvscale::Status::success) return 1;
  std::printf("kvscale %s: layer 0 scale %.9g (fnuz %.9g), codes %02x %02x %02x %02x\n", KVSCALE_VERSION_STRING,
              static_cast<double>(scale), static_cast<double>(fnuz), out[0], out[1], out[2], out[3]);
  return out[3] == 0x7E ? 0 : 1;  // 1e9 saturates to +448
}
