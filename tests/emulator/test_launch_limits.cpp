// Launch limits (issue 10, item 5): the geometry of kernels/geometry.hpp never exceeds ROCm's
// 2^32 work-items or CUDA's 2^31 - 1 blocks for any shape validate() accepts, the launchers
// launch exactly that geometry, and a paged write/read at the old failure point (16 heads x 128,
// 2^24 tokens: one grid row per token gave 2^32 work-items) runs on the emulator, bit for bit
// against the CPU, emulating the blocks that own the tokens with valid slots.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/op_case.hpp"
#include "emu_backend.hpp"
#include "geometry.hpp"
#include "launch.hpp"

namespace kvscale {
namespace test {
namespace {

constexpr std::uint64_t kMaxWorkItems = 0xFFFFFFFFull;

void expect_launchable(const kernels::Geometry& g, const std::string& what) {
  EXPECT_GE(g.grid.x, 1u) << what;
  EXPECT_LE(g.grid.x, 0x7FFFFFFFu) << what;
  EXPECT_EQ(g.grid.y, 1u) << what;
  EXPECT_EQ(g.grid.z, 1u) << what;
  EXPECT_LE(static_cast<std::uint64_t>(g.block.x) * g.block.y * g.block.z, 1024u) << what;
  EXPECT_LE(static_cast<std::uint64_t>(g.grid.x) * g.block.x, kMaxWorkItems) << what;
}

TEST(LaunchGeometry, ContiguousStaysWithinTheLimitsForAnyN) {
  for (std::size_t n : {std::size_t{1}, std::size_t{4096}, std::size_t{1} << 32, (std::size_t{1} << 36) + 17,
                        static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max() / 4)}) {
    const kernels::Geometry g = kernels::contiguous_geometry(n);
    expect_launchable(g, "n=" + std::to_string(n));
    EXPECT_EQ(g.block.x, kernels::kBlockThreads);
    EXPECT_LE(g.grid.x, kernels::kMaxContiguousBlocks);
  }
  EXPECT_EQ(kernels::contiguous_geometry(4096).grid.x, 1u);
  EXPECT_EQ(kernels::contiguous_geometry(4097).grid.x, 2u);
}

TEST(LaunchGeometry, PagedStaysWithinTheLimitsForAnyTokenCount) {
  const std::int64_t rows[][2] = {{1, 7}, {1, 128}, {8, 128}, {16, 128}, {64, 256}, {1, 1 << 20}, {(1 << 30) - 1, 1}};
  const std::int64_t tokens[] = {1,        15, 17, 1 << 24, (1ll << 24) + 1, std::numeric_limits<std::int32_t>::max(),
                                 1ll << 40};
  for (const auto& hr : rows) {
    for (std::int64_t n : tokens) {
      const TokenRows r{n, hr[0], hr[1], hr[0] * hr[1], hr[0] * hr[1]};
      ASSERT_TRUE(kernels::paged_rows_supported(r));
      for (CacheLayout l : kLayouts) {
        const kernels::PagedGeometry g = kernels::paged_geometry(DType::bf16, r, l, nullptr, nullptr, nullptr, nullptr);
        const std::string what = std::to_string(hr[0]) + "x" + std::to_string(hr[1]) + " tokens=" + std::to_string(n);
        expect_launchable(g, what);
        EXPECT_EQ(g.block.x * g.block.y, kernels::kBlockThreads) << what;
        EXPECT_LE(g.grid.x, kernels::kMaxPagedBlocks) << what;
        // Without the cap, `windows` blocks per ty tokens (1 but for split); the launcher's
        // launches cover the rest.
        const std::int64_t rows_needed = (n + g.block.y - 1) / g.block.y;
        const std::int64_t windows =
            l == CacheLayout::split ? std::max<std::int64_t>(1, (hr[0] * hr[1] / 16 + 15) / 16) : 1;
        EXPECT_EQ(g.windows, static_cast<std::uint32_t>(std::min<std::int64_t>(windows, kernels::kSplitMaxWindows)))
            << what;
        EXPECT_EQ(g.grid.x, static_cast<std::uint32_t>(
                                std::min<std::int64_t>(rows_needed, kernels::kMaxPagedBlocks / g.windows) * g.windows))
            << what;
      }
    }
  }
  // The old failure point: 16 x 128 rows are 256 units of K and V, so tx = 256, ty = 1.
  const TokenRows r{1 << 24, 16, 128, 2048, 2048};
  const kernels::PagedGeometry g =
      kernels::paged_geometry(DType::bf16, r, CacheLayout::nhd, nullptr, nullptr, nullptr, nullptr);
  EXPECT_EQ(g.block.x, 256u);
  EXPECT_EQ(g.block.y, 1u);
  EXPECT_EQ(g.grid.x, kernels::kMaxPagedBlocks);
  EXPECT_TRUE(g.vec);
}

TEST(LaunchGeometry, PagedRowLimit) {
  const std::int64_t max_row = (1ll << 30) - 1;
  EXPECT_TRUE(kernels::paged_rows_supported(TokenRows{1, 1, max_row, max_row, max_row}));
  EXPECT_FALSE(kernels::paged_rows_supported(TokenRows{1, 1, max_row + 1, max_row + 1, max_row + 1}));
  EXPECT_FALSE(kernels::paged_rows_supported(TokenRows{1, 1 << 16, 1 << 16, 1ll << 32, 1ll << 32}));
}

// The launchers launch what the geometry functions compute (the emulator records the launch).
TEST(LaunchGeometry, LaunchersUseTheGeometryFunctions) {
  EmulatedBackend be;
  for (const OpCase& c :
       {contiguous_cases(Op::quantize)[40], paged_cases(Op::paged_write)[0], paged_cases(Op::paged_read)[70]}) {
    ASSERT_EQ(eval(c, be), "") << c.name();
    const emu::LaunchRecord rec = emu::last_launch();
    kernels::Geometry g;
    if (c.paged()) {
      g = kernels::paged_geometry(c.dtype, c.rows(), c.layout, nullptr, nullptr, nullptr, nullptr);
    } else {
      g = kernels::contiguous_geometry(c.n);
    }
    EXPECT_EQ(rec.grid.x, g.grid.x) << c.name();
    EXPECT_EQ(rec.block.x, g.block.x) << c.name();
    EXPECT_EQ(rec.block.y, g.block.y) << c.name();
    EXPECT_EQ(rec.blocks_run, g.grid.x) << c.name();
  }
}

// Anonymous memory reserved but not committed: only the pages a test touches use memory.
class Sparse {
 public:
  explicit Sparse(std::size_t bytes) : bytes_(bytes) {
    p_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  }
  ~Sparse() {
    if (p_ != MAP_FAILED) munmap(p_, bytes_);
  }
  Sparse(const Sparse&) = delete;
  Sparse& operator=(const Sparse&) = delete;
  bool ok() const { return p_ != MAP_FAILED; }
  std::uint8_t* data() const { return static_cast<std::uint8_t*>(p_); }

 private:
  std::size_t bytes_;
  void* p_;
};

// 2^24 tokens of 16 x 128 bf16: every slot is -1 except three tokens, the first, one in the
// middle and the last; the emulator runs only the blocks that own them in each of the launcher's
// launches (token t is in group g = (t / block.y) % G of launch t / (G * block.y), G = grid.x /
// windows; blocks g * windows to g * windows + windows - 1 run group g).
TEST(LaunchLimits, PagedWriteAndReadAtTwoToThe24Tokens) {
  const std::int64_t tokens = 1 << 24, heads = 16, hs = 128, row = heads * hs;
  const std::int64_t valid[] = {0, 12345678, tokens - 1};
  const std::int64_t slot_of[] = {5, 15, 0};
  const std::size_t row_bytes = static_cast<std::size_t>(row) * 2;
  Sparse key(static_cast<std::size_t>(tokens) * row_bytes), value(static_cast<std::size_t>(tokens) * row_bytes);
  ASSERT_TRUE(key.ok() && value.ok()) << "cannot reserve 2 x 64 GiB of address space";
  std::vector<std::int64_t> slots(static_cast<std::size_t>(tokens), -1);
  for (int i = 0; i < 3; ++i) {
    slots[static_cast<std::size_t>(valid[i])] = slot_of[i];
    const std::vector<std::uint8_t> k =
        make_input(DType::bf16, static_cast<std::size_t>(row), 31u + static_cast<std::uint32_t>(i), 0.5f);
    const std::vector<std::uint8_t> v =
        make_input(DType::bf16, static_cast<std::size_t>(row), 41u + static_cast<std::uint32_t>(i), 0.5f);
    std::memcpy(key.data() + static_cast<std::size_t>(valid[i]) * row_bytes, k.data(), row_bytes);
    std::memcpy(value.data() + static_cast<std::size_t>(valid[i]) * row_bytes, v.data(), row_bytes);
  }
  const float ks = 0.0152239128947258f, vs = 3.5f;
  const TokenRows rows{tokens, heads, hs, row, row};
  for (CacheLayout layout : kLayouts) {
    const PagedCacheShape cache{layout, 1, 16, heads, hs};
    const std::size_t cb = static_cast<std::size_t>(cache.bytes());
    const kernels::PagedGeometry g =
        kernels::paged_geometry(DType::bf16, rows, layout, key.data(), value.data(), nullptr, nullptr);
    ASSERT_EQ(g.grid.x, kernels::kMaxPagedBlocks);
    // The token group of block b is b / windows (split: a group's windows are spread over blocks).
    const std::uint32_t groups = g.grid.x / g.windows;
    auto owner = [&](std::int64_t t) { return static_cast<std::uint32_t>((t / g.block.y) % groups); };
    emu::BlockFilter only_owners([&](const dim3& b) {
      for (std::int64_t t : valid)
        if (b.x / g.windows == owner(t)) return true;
      return false;
    });
    for (Fp8Format f : kFormats) {
      // Write: CPU reference vs the emulated launcher.
      std::vector<std::uint8_t> kc_cpu = random_bytes(cb, 1), vc_cpu = random_bytes(cb, 2);
      std::vector<std::uint8_t> kc_emu = kc_cpu, vc_emu = vc_cpu;
      PagedWriteArgs w{f,     DType::bf16,   rows,          key.data(), value.data(), slots.data(),
                       cache, kc_cpu.data(), vc_cpu.data(), &ks,        &vs};
      ASSERT_EQ(cpu::paged_write(w), Status::success) << last_error_message();
      w.key_cache = kc_emu.data();
      w.value_cache = vc_emu.data();
      const char* kernel = "";
      ASSERT_EQ(kernels::launch_paged_write(w, nullptr, &kernel), rt::success) << kernel;
      const emu::LaunchRecord rec = emu::last_launch();
      EXPECT_EQ(rec.grid.x, g.grid.x);
      EXPECT_EQ(rec.block.x, 256u);
      EXPECT_EQ(rec.blocks_run, 3u * g.windows);
      EXPECT_EQ(diff_bytes(kc_cpu, kc_emu), "") << format_name(f);
      EXPECT_EQ(diff_bytes(vc_cpu, vc_emu), "") << format_name(f);

      // Read back into the three rows (others untouched: they are never mapped in).
      std::vector<std::uint8_t> want_k(3 * row_bytes), want_v(3 * row_bytes);
      const TokenRows one{1, heads, hs, row, row};
      for (int i = 0; i < 3; ++i) {
        std::int64_t s = slot_of[i];
        PagedReadArgs r1{f,
                         DType::bf16,
                         one,
                         kc_cpu.data(),
                         vc_cpu.data(),
                         cache,
                         &s,
                         want_k.data() + static_cast<std::size_t>(i) * row_bytes,
                         want_v.data() + static_cast<std::size_t>(i) * row_bytes,
                         &ks,
                         &vs};
        ASSERT_EQ(cpu::paged_read(r1), Status::success) << last_error_message();
      }
      PagedReadArgs r{
          f, DType::bf16, rows, kc_emu.data(), vc_emu.data(), cache, slots.data(), key.data(), value.data(), &ks, &vs};
      ASSERT_EQ(kernels::launch_paged_read(r, nullptr, &kernel), rt::success) << kernel;
      EXPECT_EQ(emu::last_launch().blocks_run, 3u * g.windows);
      for (int i = 0; i < 3; ++i) {
        const std::size_t at = static_cast<std::size_t>(valid[i]) * row_bytes;
        EXPECT_EQ(std::memcmp(key.data() + at, want_k.data() + static_cast<std::size_t>(i) * row_bytes, row_bytes), 0)
            << format_name(f) << " token " << valid[i];
        EXPECT_EQ(std::memcmp(value.data() + at, want_v.data() + static_cast<std::size_t>(i) * row_bytes, row_bytes), 0)
            << format_name(f) << " token " << valid[i];
      }
      // Restore the inputs the next format writes from.
      for (int i = 0; i < 3; ++i) {
        const std::vector<std::uint8_t> k =
            make_input(DType::bf16, static_cast<std::size_t>(row), 31u + static_cast<std::uint32_t>(i), 0.5f);
        const std::vector<std::uint8_t> v =
            make_input(DType::bf16, static_cast<std::size_t>(row), 41u + static_cast<std::uint32_t>(i), 0.5f);
        std::memcpy(key.data() + static_cast<std::size_t>(valid[i]) * row_bytes, k.data(), row_bytes);
        std::memcpy(value.data() + static_cast<std::size_t>(valid[i]) * row_bytes, v.data(), row_bytes);
      }
    }
  }
}

}  // namespace
}  // namespace test
}  // namespace kvscale
