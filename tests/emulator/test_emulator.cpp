// The emulator itself: registers of every thread, __shared__ memory and __syncthreads() (several
// barrier generations, threads that exit early), the launch limits of ROCm and CUDA, and block
// subsets of a grid.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "host_emu.hpp"

namespace kvscale {
namespace {

__global__ void write_ids(std::uint32_t* out) {
  const std::uint32_t block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const std::uint32_t threads = blockDim.x * blockDim.y * blockDim.z;
  const std::uint32_t thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  out[block * threads + thread] = block * 1000 + thread;
}

TEST(Emulator, EveryThreadOfEveryBlockRunsOnceWithItsRegisters) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  std::vector<std::uint32_t> out(12 * 24, 0xFFFFFFFFu);
  emu::launch(write_ids, grid, block, 0, nullptr, out.data());
  ASSERT_EQ(emu::get_last_error(), emu::Error::success);
  for (std::uint32_t b = 0; b < 12; ++b)
    for (std::uint32_t t = 0; t < 24; ++t) ASSERT_EQ(out[b * 24 + t], b * 1000 + t) << b << " " << t;
  const emu::LaunchRecord r = emu::last_launch();
  EXPECT_EQ(r.blocks_run, 12u);
  EXPECT_EQ(r.threads_run, 12u * 24u);
  EXPECT_EQ(r.barriers, 0u);
}

// Reverses each block's 256 values through shared memory: every thread must see the others'
// writes after the barrier.
__global__ void reverse_in_block(const int* in, int* out) {
  __shared__ int tile[256];
  const unsigned t = threadIdx.x, base = blockIdx.x * blockDim.x;
  tile[t] = in[base + t];
  __syncthreads();
  out[base + t] = tile[blockDim.x - 1 - t];
}

TEST(Emulator, SharedMemoryAndBarrier) {
  std::vector<int> in(4 * 256), out(in.size(), -1);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i * 7 + 3);
  emu::launch(reverse_in_block, dim3(4), dim3(256), 0, nullptr, in.data(), out.data());
  ASSERT_EQ(emu::get_last_error(), emu::Error::success);
  for (std::size_t b = 0; b < 4; ++b)
    for (std::size_t t = 0; t < 256; ++t) ASSERT_EQ(out[b * 256 + t], in[b * 256 + 255 - t]);
  EXPECT_EQ(emu::last_launch().barriers, 4u);
}

// A tree reduction over a 16x16 block: log2(256) barrier generations, with the shared array
// reused from one block to the next; threads above `live` exit before the first barrier.
__global__ void reduce_2d(const int* in, int* sums, unsigned live) {
  __shared__ int s[256];
  const unsigned t = threadIdx.y * blockDim.x + threadIdx.x;
  if (t >= live) return;
  s[t] = in[blockIdx.x * 256 + t];
  __syncthreads();
  for (unsigned half = 128; half > 0; half /= 2) {
    if (t < half && t + half < live) s[t] += s[t + half];
    __syncthreads();
  }
  if (t == 0) sums[blockIdx.x] = s[0];
}

TEST(Emulator, BarrierGenerationsAndEarlyExit) {
  for (unsigned live : {256u, 200u, 1u}) {
    std::vector<int> in(3 * 256), sums(3, -1);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i % 97);
    emu::launch(reduce_2d, dim3(3), dim3(16, 16), 0, nullptr, in.data(), sums.data(), live);
    ASSERT_EQ(emu::get_last_error(), emu::Error::success);
    for (int b = 0; b < 3; ++b) {
      int want = 0;
      for (unsigned t = 0; t < live; ++t) want += in[static_cast<std::size_t>(b) * 256 + t];
      EXPECT_EQ(sums[static_cast<std::size_t>(b)], want) << "live=" << live << " block " << b;
    }
    EXPECT_EQ(emu::last_launch().barriers, 3u * 9u) << live;
  }
}

__global__ void count_block(std::uint32_t* counts) { ++counts[blockIdx.x]; }

TEST(Emulator, BlockFilterRunsASubset) {
  std::vector<std::uint32_t> counts(1000, 0);
  {
    emu::BlockFilter only([](const dim3& b) { return b.x == 0 || b.x == 999 || b.x == 500; });
    emu::launch(count_block, dim3(1000), dim3(64), 0, nullptr, counts.data());
  }
  ASSERT_EQ(emu::get_last_error(), emu::Error::success);
  EXPECT_EQ(emu::last_launch().blocks_run, 3u);
  for (std::uint32_t b = 0; b < 1000; ++b) EXPECT_EQ(counts[b], (b == 0 || b == 999 || b == 500) ? 64u : 0u) << b;
  emu::launch(count_block, dim3(1000), dim3(1), 0, nullptr, counts.data());  // the filter is gone
  EXPECT_EQ(emu::last_launch().blocks_run, 1000u);
}

TEST(Emulator, RefusesLaunchesThatRocmOrCudaRefuse) {
  std::vector<std::uint32_t> counts(1, 0);
  struct Bad {
    dim3 grid, block;
  };
  const Bad bad[] = {
      {dim3(1u << 24), dim3(256)},        // 2^32 work-items in x: ROCm's hipErrorInvalidConfiguration
      {dim3(1u << 23, 1, 1), dim3(512)},  // likewise
      {dim3(0x80000000u), dim3(1)},       // gridDim.x > 2^31 - 1 (CUDA)
      {dim3(1, 65536), dim3(1)},          // gridDim.y > 65535
      {dim3(1), dim3(1025)},              // more than 1024 threads per block
      {dim3(1), dim3(32, 32, 2)},         // likewise
      {dim3(0), dim3(1)},                 // empty grid
  };
  for (const Bad& b : bad) {
    emu::launch(count_block, b.grid, b.block, 0, nullptr, counts.data());
    EXPECT_EQ(emu::get_last_error(), emu::Error::invalid_configuration) << b.grid.x << "x" << b.block.x;
    EXPECT_EQ(emu::get_last_error(), emu::Error::success);  // read and cleared
    EXPECT_EQ(emu::last_launch().blocks_run, 0u);
  }
  EXPECT_EQ(counts[0], 0u);
  // Just inside: 2^32 - 256 work-items (one block filtered in, so that this stays fast).
  emu::BlockFilter first([](const dim3& b) { return b.x == 0; });
  emu::launch(count_block, dim3((1u << 24) - 1), dim3(256), 0, nullptr, counts.data());
  EXPECT_EQ(emu::get_last_error(), emu::Error::success);
  EXPECT_EQ(counts[0], 256u);
}

}  // namespace
}  // namespace kvscale
