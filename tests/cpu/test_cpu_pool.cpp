// The CPU backend's thread pool (src/cpu/thread_pool.hpp), built into this test from its source:
// every chunk runs once, the caller's from the front in order and the workers' from the back, and
// a thread that falls behind leaves its share to the others.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cpu/thread_pool.hpp"

namespace {

using kvscale::cpu::detail::parallel_for;
using kvscale::cpu::detail::pool_set_threads;

// What ran where: each chunk's count, and each thread's chunks in the order it ran them (the
// caller's first).
struct Record {
  std::vector<std::atomic<int>> count;
  std::mutex m;
  std::vector<std::thread::id> ids;  // ids[0]: the caller, which makes the Record
  std::vector<std::vector<std::size_t>> order;
  explicit Record(std::size_t chunks) : count(chunks), ids{std::this_thread::get_id()}, order(1) {}

  void ran(std::size_t i) {
    count[i].fetch_add(1);
    std::lock_guard<std::mutex> lk(m);
    const std::thread::id me = std::this_thread::get_id();
    std::size_t t = 0;
    while (t < ids.size() && ids[t] != me) ++t;
    if (t == ids.size()) {
      ids.push_back(me);
      order.emplace_back();
    }
    order[t].push_back(i);
  }
};

// Each chunk takes some microseconds, so that the workers join most jobs (about 200 of the 213 a
// thread count on an idle 2-core machine).
void record_chunk(void* ctx, std::size_t i) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(10);
  while (std::chrono::steady_clock::now() < end) {
  }
  static_cast<Record*>(ctx)->ran(i);
}

class CpuPool : public ::testing::Test {
 protected:
  void TearDown() override { pool_set_threads(0); }
};

TEST_F(CpuPool, EveryChunkOnceCallerFromTheFrontWorkersFromTheBack) {
  // 1-4 threads, and the machine's own count where it has more cores (a server's pool).
  std::vector<int> counts = {1, 2, 3, 4};
  if (std::thread::hardware_concurrency() > 4) counts.push_back(static_cast<int>(std::thread::hardware_concurrency()));
  for (int threads : counts) {
    pool_set_threads(threads);
    std::size_t shared = 0;  // jobs that more than one thread ran
    for (std::size_t chunks = 0; chunks <= 70; ++chunks) {
      for (int rep = 0; rep < 3; ++rep) {
        SCOPED_TRACE("threads " + std::to_string(threads) + ", chunks " + std::to_string(chunks));
        Record r(chunks);
        parallel_for(chunks, record_chunk, &r);
        for (std::size_t i = 0; i < chunks; ++i) ASSERT_EQ(r.count[i].load(), 1) << "chunk " << i;
        ASSERT_LE(r.ids.size(), static_cast<std::size_t>(threads));
        shared += r.ids.size() > 1;
        // The caller: 0, 1, ..., f - 1.
        const std::vector<std::size_t>& front = r.order[0];
        for (std::size_t k = 0; k < front.size(); ++k) ASSERT_EQ(front[k], k);
        // Each worker: descending, within [f, chunks).
        for (std::size_t t = 1; t < r.order.size(); ++t)
          for (std::size_t k = 0; k < r.order[t].size(); ++k) {
            ASSERT_GE(r.order[t][k], front.size());
            if (k > 0) {
              ASSERT_LT(r.order[t][k], r.order[t][k - 1]);
            }
          }
        // With two threads each covers one stretch: the worker's chunks are [f, chunks).
        if (threads == 2 && r.order.size() == 2) {
          ASSERT_EQ(r.order[1].back(), front.size());
        }
      }
    }
    // Otherwise the checks above saw the caller alone. (A low bar: a busy machine may keep the
    // workers off the cores for some jobs.)
    if (threads > 1) {
      EXPECT_GE(shared, 10u) << "threads " << threads;
    }
  }
}

// The caller holds its first chunk until a worker has run chunk 1: the worker must then have run
// every chunk from the back down to 1, and the caller only chunk 0. The pool starts its worker for
// this job (the thread count changes), so the worker must also join the job that was posted as it
// started.
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
