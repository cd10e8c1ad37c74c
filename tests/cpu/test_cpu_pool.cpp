// The CPU backend's thread pool (src/cpu/thread_pool.hpp), built into this test from its source:
// a thread that falls behind leaves its share to the others.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include "cpu/thread_pool.hpp"

namespace {

using kvscale::cpu::detail::parallel_for;
using kvscale::cpu::detail::pool_set_threads;

class CpuPool : public ::testing::Test {
 protected:
  void TearDown() override { pool_set_threads(0); }
};

// The caller holds its first chunk until a worker has run chunk 1: the worker must then have run
// every other chunk, and the caller only chunk 0. The pool starts its worker for this job (the
// thread count changes), so the worker must also join the job that was posted as it started.
struct SlowCaller {
  std::thread::id caller = std::this_thread::get_id();
  std::vector<std::atomic<int>> by_worker;
  std::atomic<bool> timed_out{false};
  explicit SlowCaller(std::size_t n) : by_worker(n) {}
};

void slow_caller_chunk(void* ctx, std::size_t i) {
  auto& s = *static_cast<SlowCaller*>(ctx);
  if (std::this_thread::get_id() != s.caller) {
    s.by_worker[i].store(1);
    return;
  }
  if (i != 0) return;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (s.by_worker[1].load() == 0) {
    if (std::chrono::steady_clock::now() > end) {
      s.timed_out = true;  // no worker came: fail, do not hang
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void no_op(void*, std::size_t) {}

TEST_F(CpuPool, AThreadThatFallsBehindLeavesItsShare) {
  pool_set_threads(3);
  parallel_for(2, no_op, nullptr);  // so that the next job starts a new pool of one worker
  pool_set_threads(2);
  constexpr std::size_t kChunks = 8;
  SlowCaller s(kChunks);
  parallel_for(kChunks, slow_caller_chunk, &s);
  ASSERT_FALSE(s.timed_out.load()) << "no worker ran chunk 1 within 20 s";
  EXPECT_EQ(s.by_worker[0].load(), 0);
  for (std::size_t i = 1; i < kChunks; ++i) EXPECT_EQ(s.by_worker[i].load(), 1) << "chunk " << i;
}

}  // namespace
