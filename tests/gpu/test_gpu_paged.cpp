// Paged write / read on the GPU against the CPU backend, bit for bit: both layouts, both formats,
// all dtypes, aligned and unaligned rows, padded strides, negative (padding) slots and slots
// outside the cache (skipped by the GPU; the CPU reference gets -1 there).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "common/gpu_test.hpp"
#include "gpu_util.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/gpu.hpp"

namespace kvscale {
namespace test {
namespace {

struct Shape {
  std::int64_t heads, head_size, block_size, tokens;
};
// Llama-3 8x128 (vector path), TP8 1x128, and odd shapes that force the scalar segments.
const Shape kShapes[] = {{8, 128, 16, 37}, {1, 128, 16, 5}, {3, 40, 5, 23}, {2, 7, 3, 9}};
// Row stride = row + pad (elements): dense, padded but aligned, padded and misaligned.
const std::int64_t kPads[] = {0, 16, 1};
// Base offset of key/value rows, in elements.
const std::int64_t kBaseOffsets[] = {0, 1};

struct Case {
  Fp8Format f;
  DType t;
  CacheLayout layout;
  Shape s;
  std::int64_t pad, base;
  std::uint32_t seed;
  std::int64_t stride() const { return s.heads * s.head_size + pad; }
  std::int64_t num_blocks() const { return (2 * s.tokens + s.block_size - 1) / s.block_size + 1; }
  PagedCacheShape cache() const { return PagedCacheShape{layout, num_blocks(), s.block_size, s.heads, s.head_size}; }
  TokenRows rows() const { return TokenRows{s.tokens, s.heads, s.head_size, stride(), stride()}; }
  std::size_t row_bytes() const { return static_cast<std::size_t>((s.tokens * stride() + base) * dtype_size(t)) + 64; }
  std::string name() const {
    return describe(f, t) + (layout == CacheLayout::nhd ? " NHD " : " HND ") + std::to_string(s.heads) + "x" +
           std::to_string(s.head_size) + " bs=" + std::to_string(s.block_size) + " tokens=" + std::to_string(s.tokens) +
           " pad=" + std::to_string(pad) + " base=" + std::to_string(base);
  }
};

// Distinct random slots; every 7th is padding (-1, or another negative), one is past the end.
void make_slots(const Case& c, std::vector<std::int64_t>* gpu_slots, std::vector<std::int64_t>* cpu_slots) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(c.cache().num_slots()));
  std::iota(all.begin(), all.end(), 0);
  std::mt19937 rng(c.seed);
  std::shuffle(all.begin(), all.end(), rng);
  gpu_slots->assign(all.begin(), all.begin() + c.s.tokens);
  for (std::size_t i = 0; i < gpu_slots->size(); i += 7) (*gpu_slots)[i] = i % 2 ? -1 : -1000;
  if (gpu_slots->size() > 3) (*gpu_slots)[3] = c.cache().num_slots() + 3;
  *cpu_slots = *gpu_slots;
  for (auto& s : *cpu_slots)
    if (s >= c.cache().num_slots()) s = -1;
}

template <typename Fn>
void for_each_case(Fn&& fn) {
  std::uint32_t seed = 11;
  for (Fp8Format f : kFormats)
    for (DType t : kDTypes)
      for (CacheLayout l : {CacheLayout::nhd, CacheLayout::hnd})
        for (const Shape& s : kShapes)
          for (std::int64_t pad : kPads)
            for (std::int64_t base : kBaseOffsets) fn(Case{f, t, l, s, pad, base, seed++});
}

using GpuPaged = GpuTest;

TEST_F(GpuPaged, WriteMatchesCpuBitForBit) {
  for_each_case([&](const Case& c) {
    if (HasFatalFailure()) return;
    const float ks = kScales[c.seed % 5], vs = kScales[(c.seed + 2) % 5];
    const std::size_t es = dtype_size(c.t);
    std::vector<std::uint8_t> key = random_bytes(c.row_bytes(), c.seed), value = random_bytes(c.row_bytes(), ~c.seed);
    const std::vector<std::uint8_t> kin =
        make_input(c.t, static_cast<std::size_t>(c.s.tokens * c.stride()), c.seed, ks);
    const std::vector<std::uint8_t> vin =
        make_input(c.t, static_cast<std::size_t>(c.s.tokens * c.stride()), ~c.seed, vs);
    std::memcpy(key.data() + c.base * es, kin.data(), kin.size());
    std::memcpy(value.data() + c.base * es, vin.data(), vin.size());
    std::vector<std::int64_t> slots, cpu_slots;
    make_slots(c, &slots, &cpu_slots);
    const std::size_t cache_bytes = static_cast<std::size_t>(c.cache().bytes());
    const std::vector<std::uint8_t> kc0 = random_bytes(cache_bytes, c.seed + 5),
                                    vc0 = random_bytes(cache_bytes, c.seed + 6);

    std::vector<std::uint8_t> kc = kc0, vc = vc0;
    PagedWriteArgs a{c.f,
                     c.t,
                     c.rows(),
                     key.data() + c.base * es,
                     value.data() + c.base * es,
                     cpu_slots.data(),
                     c.cache(),
                     kc.data(),
                     vc.data(),
                     &ks,
                     &vs};
    ASSERT_EQ(cpu::paged_write(a), Status::success) << c.name() << ": " << last_error_message();

    gpu::DeviceBuffer dkey = to_device(device(), key), dvalue = to_device(device(), value);
    gpu::DeviceBuffer dslots = to_device_value(device(), slots.data(), slots.size() * 8);
    gpu::DeviceBuffer dkc = to_device(device(), kc0), dvc = to_device(device(), vc0);
    gpu::DeviceBuffer dks = to_device_value(device(), &ks, 4), dvs = to_device_value(device(), &vs, 4);
    PagedWriteArgs g = a;
    g.key = static_cast<const std::uint8_t*>(dkey.data()) + c.base * es;
    g.value = static_cast<const std::uint8_t*>(dvalue.data()) + c.base * es;
    g.slot_mapping = static_cast<const std::int64_t*>(dslots.data());
    g.key_cache = static_cast<std::uint8_t*>(dkc.data());
    g.value_cache = static_cast<std::uint8_t*>(dvc.data());
    g.k_scale = static_cast<const float*>(dks.data());
    g.v_scale = static_cast<const float*>(dvs.data());
    ASSERT_EQ(gpu::paged_write(g, nullptr), Status::success) << c.name() << ": " << last_error_message();
    const std::string dk = diff_bytes(kc, from_device(dkc)), dv = diff_bytes(vc, from_device(dvc));
    ASSERT_TRUE(dk.empty()) << c.name() << " key cache: " << dk;
    ASSERT_TRUE(dv.empty()) << c.name() << " value cache: " << dv;
  });
}

TEST_F(GpuPaged, ReadMatchesCpuBitForBitAndLeavesPaddingRowsAlone) {
  for_each_case([&](const Case& c) {
    if (HasFatalFailure()) return;
    const float ks = kScales[c.seed % 5], vs = kScales[(c.seed + 3) % 5];
    const std::size_t es = dtype_size(c.t);
    const std::size_t cache_bytes = static_cast<std::size_t>(c.cache().bytes());
    const std::vector<std::uint8_t> kc = random_bytes(cache_bytes, c.seed), vc = random_bytes(cache_bytes, ~c.seed);
    std::vector<std::int64_t> slots, cpu_slots;
    make_slots(c, &slots, &cpu_slots);
    const std::vector<std::uint8_t> key0 = random_bytes(c.row_bytes(), c.seed + 7);
    const std::vector<std::uint8_t> value0 = random_bytes(c.row_bytes(), c.seed + 8);

    std::vector<std::uint8_t> key = key0, value = value0;
    PagedReadArgs a{c.f,
                    c.t,
                    c.rows(),
                    kc.data(),
                    vc.data(),
                    c.cache(),
                    cpu_slots.data(),
                    key.data() + c.base * es,
                    value.data() + c.base * es,
                    &ks,
                    &vs};
    ASSERT_EQ(cpu::paged_read(a), Status::success) << c.name() << ": " << last_error_message();

    gpu::DeviceBuffer dkc = to_device(device(), kc), dvc = to_device(device(), vc);
    gpu::DeviceBuffer dslots = to_device_value(device(), slots.data(), slots.size() * 8);
    gpu::DeviceBuffer dkey = to_device(device(), key0), dvalue = to_device(device(), value0);
    gpu::DeviceBuffer dks = to_device_value(device(), &ks, 4), dvs = to_device_value(device(), &vs, 4);
    PagedReadArgs g = a;
    g.key_cache = static_cast<const std::uint8_t*>(dkc.data());
    g.value_cache = static_cast<const std::uint8_t*>(dvc.data());
    g.slots = static_cast<const std::int64_t*>(dslots.data());
    g.key = static_cast<std::uint8_t*>(dkey.data()) + c.base * es;
    g.value = static_cast<std::uint8_t*>(dvalue.data()) + c.base * es;
    g.k_scale = static_cast<const float*>(dks.data());
    g.v_scale = static_cast<const float*>(dvs.data());
    ASSERT_EQ(gpu::paged_read(g, nullptr), Status::success) << c.name() << ": " << last_error_message();
    const std::string dk = diff_bytes(key, from_device(dkey)), dv = diff_bytes(value, from_device(dvalue));
    ASSERT_TRUE(dk.empty()) << c.name() << " key rows: " << dk;
    ASSERT_TRUE(dv.empty()) << c.name() << " value rows: " << dv;
  });
}

TEST_F(GpuPaged, ZeroTokensIsANoOp) {
  PagedWriteArgs w{};
  EXPECT_EQ(gpu::paged_write(w, nullptr), Status::success);
  PagedReadArgs r{};
  EXPECT_EQ(gpu::paged_read(r, nullptr), Status::success);
}

}  // namespace
}  // namespace test
}  // namespace kvscale
