// A persistent pool of worker threads; the calling thread works too. One job at a time: a second
// concurrent caller runs its job serially instead of waiting. The pool is never destroyed (the
// workers sleep on a condition variable), so there is no static destruction order to get wrong.
//
// Workers spin for up to kSpin after a job before they sleep, and the caller spins as long for
// the workers to finish before it sleeps: a sleeping thread costs a futex wake-up (on the
// development VM, BM_quantize/2097152, a call of 60-95 us, takes 0.79-0.91x its time with the
// spin: docs/performance.md). The spins poll atomics with a pause; a job that
// arrives later finds the workers asleep, as before.
//
// The caller takes chunks from the front, in order, and the workers from the back: with two
// threads each covers one stretch of the job, the same stretch as in the call before where the
// pace holds, and they meet wherever their pace takes them (a worker that wakes late leaves more
// to the caller). Against the chunks dealt out in turn, paged reads of 256-1,024 tokens x 8 heads
// take 0.69-0.99x the time with each call's cache cold (bench_ab .../32/32), and writes
// 0.95-1.05x (docs/performance.md, session 26).
#include "cpu/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kvscale {
namespace cpu {
namespace detail {
namespace {

// Cached: hardware_concurrency() reads /sys on every call (tens of microseconds).
int default_threads() {
  static const int n = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
  }();
  return n;
}

std::atomic<int> g_threads{0};  // 0: not set yet (default)

constexpr std::chrono::microseconds kSpin{50};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls done() for up to kSpin; true if it became true.
template <class Done>
bool spin_until(Done done) {
  const auto end = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= end) return false;
  }
}

class Pool {
 public:
  void run(std::size_t chunks, ChunkFn fn, void* ctx, int threads) {
    std::unique_lock<std::mutex> submit(submit_, std::try_to_lock);
    if (!submit.owns_lock() || !resize(threads - 1)) {
      for (std::size_t i = 0; i < chunks; ++i) fn(ctx, i);
      return;
    }
    {
      std::unique_lock<std::mutex> lk(m_);
      done_cv_.wait(lk, [&] { return active_ == 0; });  // no worker still holds the previous job
      fn_ = fn;
      ctx_ = ctx;
      chunks_ = chunks;
      front_.store(0, std::memory_order_relaxed);
      back_.store(chunks, std::memory_order_relaxed);
      taken_.store(0, std::memory_order_relaxed);
      done_.store(0, std::memory_order_relaxed);
      generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    cv_.notify_all();  // no system call when every worker is still spinning
    work(true);
    const auto finished = [&] {
      return done_.load(std::memory_order_acquire) == chunks_ && active_.load(std::memory_order_acquire) == 0;
    };
    if (spin_until(finished)) return;  // workers touch the job only before they leave active_
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, finished);
  }

 private:
  // Makes the pool hold `workers` threads. Returns false if threads cannot be started.
  bool resize(int workers) {
    if (static_cast<int>(workers_.size()) == workers) return true;
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_ = false;
    try {
      // A worker joins every job after the one current now, the job this call is about to post
      // included, however late the thread starts. (It used to read the generation when it
      // started, and a thread that started after the post sat that job out.)
      const std::uint64_t now = generation_.load(std::memory_order_relaxed);
      for (int i = 0; i < workers; ++i) workers_.emplace_back([this, now] { loop(now); });
    } catch (...) {
      {
        std::lock_guard<std::mutex> lk(m_);
        stop_ = true;
      }
      cv_.notify_all();
      for (auto& w : workers_) w.join();
      workers_.clear();
      stop_ = false;
      return false;
    }
    return true;
  }

  void loop(std::uint64_t seen) {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      lk.unlock();
      spin_until(
          [&] { return generation_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_relaxed); });
      lk.lock();
      cv_.wait(lk, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      active_.fetch_add(1, std::memory_order_relaxed);
      lk.unlock();
      work(false);
      lk.lock();
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_all();
    }
  }

  // Claims and runs chunks until none is left: the caller's from the front, a worker's from the
  // back. A claim counts first, so that front and back never hand out more than chunks_ indices in
  // all: the front's are 0, 1, ... and the back's chunks_ - 1, chunks_ - 2, ..., so no index
  // goes twice and every one goes once.
  void work(bool front) {
    for (;;) {
      if (taken_.fetch_add(1, std::memory_order_relaxed) >= chunks_) return;
      const std::size_t i =
          front ? front_.fetch_add(1, std::memory_order_relaxed) : back_.fetch_sub(1, std::memory_order_relaxed) - 1;
      fn_(ctx_, i);
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks_) {
        std::lock_guard<std::mutex> lk(m_);
        done_cv_.notify_all();
      }
    }
  }

  std::mutex submit_;
  std::mutex m_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::vector<std::thread> workers_;
  // Written under m_; atomic so that the spins can poll them without it.
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> active_{0};
  // The job. Written only under m_ while active_ == 0; workers read it after joining it under m_.
  ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::size_t chunks_ = 0;
  std::atomic<std::size_t> front_{0};  // the caller's next chunk
  std::atomic<std::size_t> back_{0};   // one past the workers' next chunk
  std::atomic<std::size_t> taken_{0};  // chunks claimed (may pass chunks_: failed claims count too)
  std::atomic<std::size_t> done_{0};
};

Pool* pool() {
  static Pool* p = new (std::nothrow) Pool();  // intentionally never destroyed
  return p;
}

}  // namespace

int pool_threads() noexcept {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

void pool_set_threads(int n) noexcept { g_threads.store(n > 0 ? std::min(n, 256) : 0, std::memory_order_relaxed); }

void parallel_for(std::size_t chunks, ChunkFn fn, void* ctx) noexcept {
  const int threads = pool_threads();
  Pool* p = (chunks > 1 && threads > 1) ? pool() : nullptr;
  if (p == nullptr) {
    for (std::size_t i = 0; i < chunks; ++i) fn(ctx, i);
    return;
  }
  try {
    p->run(chunks, fn, ctx, threads);
  } catch (...) {
    // Only locking a mutex can throw (std::system_error), and it does so before any chunk ran;
    // the chunks write each output once, so running them all here is correct.
    for (std::size_t i = 0; i < chunks; ++i) fn(ctx, i);
  }
}

}  // namespace detail
}  // namespace cpu
}  // namespace kvscale
