// Every kernel of kernels/ emulated on the host (all blocks, all threads) against the CPU
// backend, bit for bit, on the cases the GPU tests run (tests/common/op_case.hpp): edge sizes,
// alignment offsets (scalar fallback included), NHD/HND, both formats, f32/f16/bf16, negative and
// out-of-range slots, padded and misaligned rows, every fp16/bf16 code, and a lowered paged grid
// cap that makes every block stride over several tokens. One test instance per group of cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "common/op_case.hpp"
#include "emu_backend.hpp"

namespace kvscale {
namespace test {
namespace {

struct Group {
  std::string name;
  std::vector<OpCase> cases;
};

/// gtest prints a parameter into the ctest name; the group's name says it all (without this, 56
/// raw bytes of the object).
void PrintTo(const Group& g, std::ostream* os) { *os << g.name; }

// The hardware flavours only differ from the generic build for their native format.
bool in_scope(Fp8Format f) {
#if defined(KVSCALE_EMU_ARCH) && KVSCALE_EMU_ARCH == 942
  return f == Fp8Format::e4m3fnuz;
#elif defined(KVSCALE_EMU_ARCH) && KVSCALE_EMU_ARCH == 950
  return f == Fp8Format::e4m3fn;
#else
  (void)f;
  return true;
#endif
}

std::string key_of(const OpCase& c) {
  if (c.op == Op::observe_amax)
    return std::string(op_name(c.op)) + "_" + dtype_name(c.dtype) + "_" + std::to_string(c.shape.heads) + "x" +
           std::to_string(c.shape.head_size);
  std::string k = std::string(op_name(c.op)) + "_" + format_name(c.format) + "_" + dtype_name(c.dtype);
  if (c.paged()) {
    std::string l = c.layout_label();
    std::replace(l.begin(), l.end(), '-', '_');
    k += "_" + l + "_" + std::to_string(c.shape.heads) + "x" + std::to_string(c.shape.head_size) + "_bs" +
         std::to_string(c.shape.block_size);
  } else {
    k += c.every_code ? "_every_code" : "_n" + std::to_string(c.n);
  }
  return k;
}

std::vector<Group> groups() {
  std::vector<OpCase> all;
  for (Op op : {Op::quantize, Op::dequantize})
    for (const OpCase& c : contiguous_cases(op)) all.push_back(c);
  for (const OpCase& c : every_code_cases()) all.push_back(c);
  for (Op op : {Op::paged_write, Op::paged_read}) {
    for (const OpCase& c : layout_cases(op)) {
      all.push_back(c);
      if (c.pad == 0 && c.layout == CacheLayout::split) {  // capped grids for the staged kernels too
        OpCase s = c;
        s.max_blocks = 1;
        all.push_back(s);
      }
    }
    for (const OpCase& c : paged_cases(op)) {
      all.push_back(c);
      if (c.pad == 0 && c.base == 0) {  // capped grids: launches of 2 blocks for all the tokens
        OpCase s = c;
        s.max_blocks = 2;
        all.push_back(s);
      }
    }
  }
  for (const OpCase& c : amax_cases()) all.push_back(c);  // format-independent: e4m3fn groups only
  std::vector<Group> out;
  std::map<std::string, std::size_t> index;
  for (const OpCase& c : all) {
    if (!in_scope(c.format)) continue;
    const std::string k = key_of(c);
    auto [it, fresh] = index.emplace(k, out.size());
    if (fresh) out.push_back(Group{k, {}});
    out[it->second].cases.push_back(c);
  }
  return out;
}

class Emulated : public ::testing::TestWithParam<Group> {};

TEST_P(Emulated, MatchesCpuBitForBit) {
  EmulatedBackend be;
  for (const OpCase& c : GetParam().cases) {
    const std::string d = eval(c, be);
    ASSERT_TRUE(d.empty()) << c.name() << ": " << d
                           << (be.launch_error().empty() ? "" : " (" + be.launch_error() + ")");
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Emulated, ::testing::ValuesIn(groups()),
                         [](const ::testing::TestParamInfo<Group>& i) { return i.param.name; });

}  // namespace
}  // namespace test
}  // namespace kvscale
