// The emulator's runtime: launch checks, the block loop, and the fiber scheduler behind
// __syncthreads() (design in host_emu.hpp).
#include "host_emu.hpp"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define KVSCALE_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVSCALE_EMU_ASAN 1
#endif
#endif
#if defined(KVSCALE_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

namespace kvscale {
namespace emu {
namespace detail {
thread_local Registers regs;
}  // namespace detail

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "kvscale emulator: %s\n", what);
  std::abort();
}

constexpr std::size_t kStackBytes = 256 * 1024;

struct Fiber {
  ucontext_t ctx{};
  void* map = nullptr;  // guard page + stack
  std::size_t map_bytes = 0;
  char* stack = nullptr;
  dim3 tid;
  bool idle = true;
  Fiber() {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    map_bytes = kStackBytes + page;
    map = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) die("cannot map a fiber stack");
    if (mprotect(map, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
    stack = static_cast<char*>(map) + page;
  }
  ~Fiber() { munmap(map, map_bytes); }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
};

// Per OS thread: the scheduler context, the fiber pool and the block being run.
struct Worker {
  ucontext_t sched{};
  std::vector<std::unique_ptr<Fiber>> pool;
  std::vector<Fiber*> idle;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  dim3 block_dim;
  std::uint32_t next_thread = 0, num_threads = 0;
  std::vector<Fiber*> waiting;  // at the barrier of the current generation
  std::uint64_t threads_run = 0;
  Error last_error = Error::success;
  LaunchRecord record;
  std::uint64_t launches = 0;
  std::function<bool(const dim3&)> filter;
#if defined(KVSCALE_EMU_ASAN)
  const void* sched_stack_bottom = nullptr;
  std::size_t sched_stack_size = 0;
#endif
};

thread_local Worker worker;

dim3 unflatten(std::uint32_t i, const dim3& d) { return dim3(i % d.x, (i / d.x) % d.y, i / (d.x * d.y)); }

// Fiber switches, annotated for AddressSanitizer (it must know which stack is live).
void switch_into(Worker& w, Fiber* f) {
#if defined(KVSCALE_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f->stack, kStackBytes);
  if (swapcontext(&w.sched, &f->ctx) != 0) die("swapcontext failed");
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  if (swapcontext(&w.sched, &f->ctx) != 0) die("swapcontext failed");
#endif
}

void switch_out(Worker& w, Fiber* f) {
#if defined(KVSCALE_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, w.sched_stack_bottom, w.sched_stack_size);
  if (swapcontext(&f->ctx, &w.sched) != 0) die("swapcontext failed");
  __sanitizer_finish_switch_fiber(fake, &w.sched_stack_bottom, &w.sched_stack_size);
#else
  if (swapcontext(&f->ctx, &w.sched) != 0) die("swapcontext failed");
#endif
}

// A fiber runs the block's not-yet-started threads one after another; it leaves only when one of
// them waits at a barrier (then resumes it later) or when no thread is left (then it is idle).
void fiber_main() {
  Worker& w = worker;
  Fiber* self = w.current;
#if defined(KVSCALE_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &w.sched_stack_bottom, &w.sched_stack_size);
#endif
  for (;;) {
    while (w.next_thread < w.num_threads) {
      self->tid = unflatten(w.next_thread++, w.block_dim);
      detail::regs.thread_idx = self->tid;
      ++w.threads_run;
      (*w.body)();
    }
    self->idle = true;
    switch_out(w, self);
  }
}

__attribute__((noinline)) void make_context(Fiber* const f) {
  if (getcontext(&f->ctx) != 0) die("getcontext failed");
  f->ctx.uc_stack.ss_sp = f->stack;
  f->ctx.uc_stack.ss_size = kStackBytes;
  f->ctx.uc_link = nullptr;  // fiber_main never returns
  makecontext(&f->ctx, fiber_main, 0);
}

Fiber* idle_fiber(Worker& w) {
  if (w.idle.empty()) {
    w.pool.push_back(std::make_unique<Fiber>());
    make_context(w.pool.back().get());
    return w.pool.back().get();
  }
  Fiber* const f = w.idle.back();
  w.idle.pop_back();
  return f;
}

void resume(Worker& w, Fiber* f) {
  w.current = f;
  f->idle = false;
  switch_into(w, f);
  w.current = nullptr;
  if (f->idle) w.idle.push_back(f);
}

// All threads of one block, barriers included.
void run_block(Worker& w) {
  w.next_thread = 0;
  w.waiting.clear();
  std::vector<Fiber*> released;
  for (;;) {
    while (w.next_thread < w.num_threads) resume(w, idle_fiber(w));
    if (w.waiting.empty()) return;  // every thread has exited
    // Every live thread waits: open the barrier, resume this generation's waiters in order.
    released.swap(w.waiting);
    ++w.record.barriers;
    for (Fiber* f : released) resume(w, f);
    released.clear();
  }
}

bool config_ok(const dim3& grid, const dim3& block) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0) return false;
  if (block.x > 1024 || block.y > 1024 || block.z > 64) return false;
  if (static_cast<std::uint64_t>(block.x) * block.y * block.z > 1024) return false;
  if (grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535) return false;  // CUDA's grid limits
  // ROCm: at most 2^32 - 1 work-items per dimension (gridDim * blockDim).
  constexpr std::uint64_t kMaxWorkItems = 0xFFFFFFFFull;
  return static_cast<std::uint64_t>(grid.x) * block.x <= kMaxWorkItems &&
         static_cast<std::uint64_t>(grid.y) * block.y <= kMaxWorkItems &&
         static_cast<std::uint64_t>(grid.z) * block.z <= kMaxWorkItems;
}

}  // namespace

const char* emu_error_name(Error e) noexcept {
  switch (e) {
    case Error::success: return "emuSuccess";
    case Error::invalid_configuration: return "emuErrorInvalidConfiguration";
    case Error::invalid_value: return "emuErrorInvalidValue";
    case Error::barrier_outside_kernel: return "emuErrorBarrierOutsideKernel";
  }
  return "emuErrorUnknown";
}

const char* emu_error_string(Error e) noexcept {
  switch (e) {
    case Error::success: return "no error";
    case Error::invalid_configuration: return "invalid launch configuration (ROCm/CUDA limits)";
    case Error::invalid_value: return "invalid argument";
    case Error::barrier_outside_kernel: return "__syncthreads outside a kernel";
  }
  return "unknown error";
}

Error get_last_error() noexcept {
  const Error e = worker.last_error;
  worker.last_error = Error::success;
  return e;
}

Error peek_last_error() noexcept { return worker.last_error; }

LaunchRecord last_launch() noexcept { return worker.record; }
std::uint64_t launch_count() noexcept { return worker.launches; }

BlockFilter::BlockFilter(std::function<bool(const dim3&)> accept) : previous_(std::move(worker.filter)) {
  worker.filter = std::move(accept);
}
BlockFilter::~BlockFilter() { worker.filter = std::move(previous_); }

void syncthreads() {
  Worker& w = worker;
  Fiber* self = w.current;
  if (self == nullptr) die("__syncthreads() called outside an emulated kernel");
  w.waiting.push_back(self);
  switch_out(w, self);
  detail::regs.thread_idx = self->tid;
}

namespace detail {

void launch(dim3 grid, dim3 block, std::size_t shared_bytes, const std::function<void()>& body) {
  Worker& w = worker;
  ++w.launches;
  w.record = LaunchRecord{};
  w.record.grid = grid;
  w.record.block = block;
  if (w.body != nullptr) die("a kernel launched a kernel (not supported)");
  if (!config_ok(grid, block)) {
    w.record.error = w.last_error = Error::invalid_configuration;
    return;
  }
  if (shared_bytes != 0) {  // no kernel uses dynamic shared memory; refuse rather than fake it
    w.record.error = w.last_error = Error::invalid_value;
    return;
  }
  w.body = &body;
  w.block_dim = block;
  w.num_threads = block.x * block.y * block.z;
  w.threads_run = 0;
  const Registers saved = regs;
  regs.block_dim = block;
  regs.grid_dim = grid;
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        const dim3 b(x, y, z);
        if (w.filter && !w.filter(b)) continue;
        regs.block_idx = b;
        run_block(w);
        ++w.record.blocks_run;
      }
    }
  }
  regs = saved;
  w.body = nullptr;
  w.record.threads_run = w.threads_run;
  w.record.fibers = w.pool.size();
}

}  // namespace detail
}  // namespace emu
}  // namespace kvscale
