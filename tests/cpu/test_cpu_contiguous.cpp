// cpu::quantize / cpu::dequantize against the independent reference, on every ISA level this
// machine has, with 1 and 2 threads, every dtype and format, many sizes and unaligned pointers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "cpu/cpu_test_util.hpp"
#include "kvscale/cpu.hpp"

namespace {

using namespace cputest;
using kvscale::DequantizeArgs;
using kvscale::QuantizeArgs;
using kvscale::Status;

// 3000001: above the streaming-store threshold (2^21 elements), odd length.
const std::size_t kSizes[] = {0, 1, 15, 16, 17, 127, 128, 129, 4095, 4096, 4097, 1000000, 3000001};
constexpr std::size_t kMax = 3000001;
constexpr std::size_t kPad = 64;  // guard bytes after every output
constexpr unsigned char kGuard = 0xA5;

TEST(CpuBackend, IsaAndThreads) {
  BackendGuard g;
  EXPECT_EQ(cpu::set_max_isa(cpu::Isa::scalar), cpu::Isa::scalar);
  const cpu::Isa best = cpu::set_max_isa(cpu::Isa::best);
  EXPECT_NE(best, cpu::Isa::best);
  EXPECT_STREQ(cpu::isa_name(cpu::Isa::avx2), "avx2");
  EXPECT_STREQ(cpu::isa_name(cpu::Isa::avx512), "avx512");
  EXPECT_STREQ(cpu::isa_name(cpu::Isa::scalar), "scalar");
  cpu::set_num_threads(1);
  EXPECT_EQ(cpu::num_threads(), 1);
  cpu::set_num_threads(2);
  EXPECT_EQ(cpu::num_threads(), 2);
  cpu::set_num_threads(0);
  EXPECT_GE(cpu::num_threads(), 1);
}

TEST(CpuQuantize, AllSizesIsasThreadsDtypesFormats) {
  BackendGuard g;
  const auto levels = isas();
  for (DType t : kDTypes) {
    const std::size_t es = kvscale::dtype_size(t);
    const std::vector<std::uint32_t> raw = random_raw(t, kMax + 8, 42 + static_cast<int>(t));
    std::vector<unsigned char> in((kMax + 8) * es + 64);
    store_raw(t, raw.data(), raw.size(), in.data());
    for (Fp8Format f : kFormats) {
      const float scale = f == Fp8Format::e4m3fn ? 0.37f : 3.7f;
      const RefQuant rq(f, t, scale);
      std::vector<std::uint8_t> want(raw.size());
      for (std::size_t i = 0; i < raw.size(); ++i) want[i] = rq(raw[i]);
      std::vector<std::uint8_t> out(kMax + 8 + kPad);
      for (cpu::Isa isa : levels) {
        cpu::set_max_isa(isa);
        for (int threads : {1, 2}) {
          cpu::set_num_threads(threads);
          for (std::size_t n : kSizes) {
            for (std::size_t off : {std::size_t{0}, std::size_t{3}}) {  // element offsets: unaligned
              const std::size_t oin = off, oout = off ? 1 : 0;
              std::memset(out.data(), kGuard, out.size());
              const float s = scale;
              QuantizeArgs a;
              a.format = f;
              a.dtype = t;
              a.in = in.data() + oin * es;
              a.out = out.data() + oout;
              a.n = n;
              a.scale = &s;
              ASSERT_EQ(cpu::quantize(a), Status::success) << kvscale::last_error_message();
              std::size_t bad = 0, first = 0;
              for (std::size_t i = 0; i < n; ++i)
                if (out[oout + i] != want[oin + i] && bad++ == 0) first = i;
              ASSERT_EQ(bad, 0u) << where(isa, threads, f, t) << " n=" << n << " off=" << off
                                 << " first bad i=" << first << " raw=0x" << std::hex << raw[oin + first] << " got 0x"
                                 << int(out[oout + first]) << " want 0x" << int(want[oin + first]);
              for (std::size_t i = oout + n; i < oout + n + kPad; ++i) {
                ASSERT_EQ(out[i], kGuard) << "overrun, n=" << n;
              }
              if (oout) {
                ASSERT_EQ(out[0], kGuard) << "underrun";
              }
            }
          }
        }
      }
    }
  }
}

// Every fp16 and bf16 input pattern at the spec's scales, through each ISA's kernels.
TEST(CpuQuantize, ExhaustiveHalfInputsEveryIsa) {
  BackendGuard g;
  const float scales[] = {1.0f, 0.1f, 1.0f / 448.0f, 0.0078125f, 3.7f};
  for (DType t : {DType::f16, DType::bf16}) {
    std::vector<std::uint16_t> in(65536);
    for (std::uint32_t h = 0; h < 65536; ++h) in[h] = static_cast<std::uint16_t>(h);
    for (Fp8Format f : kFormats) {
      for (float s : scales) {
        const RefQuant rq(f, t, s);
        for (cpu::Isa isa : isas()) {
          cpu::set_max_isa(isa);
          std::vector<std::uint8_t> out(65536);
          QuantizeArgs a;
          a.format = f;
          a.dtype = t;
          a.in = in.data();
          a.out = out.data();
          a.n = in.size();
          a.scale = &s;
          ASSERT_EQ(cpu::quantize(a), Status::success);
          int bad = 0;
          for (std::uint32_t h = 0; h < 65536; ++h) {
            if (out[h] != rq(h) && ++bad < 5)
              ADD_FAILURE() << where(isa, cpu::num_threads(), f, t) << " scale " << s << " input 0x" << std::hex << h
                            << " got 0x" << int(out[h]) << " want 0x" << int(rq(h));
          }
          ASSERT_EQ(bad, 0);
        }
      }
    }
  }
}

TEST(CpuDequantize, AllSizesIsasThreadsDtypesFormats) {
  BackendGuard g;
  std::mt19937 rng(5);
  std::vector<std::uint8_t> codes(kMax + 8);
  for (auto& c : codes) c = static_cast<std::uint8_t>(rng());
  for (std::size_t i = 0; i < 256; ++i) codes[i] = static_cast<std::uint8_t>(i);  // every code early
  const auto levels = isas();
  for (DType t : kDTypes) {
    const std::size_t es = kvscale::dtype_size(t);
    std::vector<unsigned char> out((kMax + 8) * es + kPad);
    for (Fp8Format f : kFormats) {
      for (float scale : {3.7f, 1e-6f /* fp16 subnormal results */, 1e-39f /* f32 subnormal */, 1e37f /* inf */}) {
        std::uint32_t want[256];
        for (int c = 0; c < 256; ++c) want[c] = ref_dequant(f, t, c, scale);
        for (cpu::Isa isa : levels) {
          cpu::set_max_isa(isa);
          for (int threads : {1, 2}) {
            cpu::set_num_threads(threads);
            for (std::size_t n : kSizes) {
              if (scale != 3.7f && n > 4097) continue;  // the extra scales only need the short sizes
              for (std::size_t off : {std::size_t{0}, std::size_t{5}}) {
                const std::size_t oin = off, oout = off ? 1 : 0;
                std::memset(out.data(), kGuard, out.size());
                const float s = scale;
                DequantizeArgs a;
                a.format = f;
                a.dtype = t;
                a.in = codes.data() + oin;
                a.out = out.data() + oout * es;
                a.n = n;
                a.scale = &s;
                ASSERT_EQ(cpu::dequantize(a), Status::success) << kvscale::last_error_message();
                const unsigned char* o = out.data() + oout * es;
                std::size_t bad = 0, first = 0;
                for (std::size_t i = 0; i < n; ++i)
                  if (load_raw(t, o, i) != want[codes[oin + i]] && bad++ == 0) first = i;
                ASSERT_EQ(bad, 0u) << where(isa, threads, f, t) << " scale " << scale << " n=" << n << " code 0x"
                                   << std::hex << int(codes[oin + first]) << " got 0x" << load_raw(t, o, first)
                                   << " want 0x" << want[codes[oin + first]];
                for (std::size_t i = (oout + n) * es; i < (oout + n) * es + kPad; ++i) {
                  ASSERT_EQ(out[i], kGuard) << "overrun, n=" << n;
                }
                for (std::size_t i = 0; i < oout * es; ++i) {
                  ASSERT_EQ(out[i], kGuard) << "underrun";
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(CpuContiguous, SizeZeroIsNoOpEvenWithNullPointers) {
  QuantizeArgs q;
  EXPECT_EQ(cpu::quantize(q), Status::success);
  DequantizeArgs d;
  EXPECT_EQ(cpu::dequantize(d), Status::success);
}

TEST(CpuContiguous, InvalidArguments) {
  std::vector<std::uint16_t> in(64, 0x3C00);
  std::vector<std::uint8_t> out(64, 0xEE);
  const float s = 1.0f;
  QuantizeArgs q;
  q.dtype = DType::f16;
  q.in = in.data();
  q.out = out.data();
  q.n = 16;
  q.scale = &s;
  ASSERT_EQ(cpu::quantize(q), Status::success);
  {
    QuantizeArgs b = q;
    b.in = nullptr;
    EXPECT_EQ(cpu::quantize(b), Status::invalid_argument);
    b = q;
    b.out = nullptr;
    EXPECT_EQ(cpu::quantize(b), Status::invalid_argument);
    b = q;
    b.scale = nullptr;
    EXPECT_EQ(cpu::quantize(b), Status::invalid_argument);
    b = q;
    b.in = reinterpret_cast<const unsigned char*>(in.data()) + 1;  // misaligned fp16
    EXPECT_EQ(cpu::quantize(b), Status::invalid_argument);
    b = q;
    b.format = static_cast<Fp8Format>(9);
    EXPECT_EQ(cpu::quantize(b), Status::invalid_argument);
    b = q;
    b.dtype = static_cast<DType>(9);
    EXPECT_EQ(cpu::quantize(b), Status::invalid_argument);
  }
  DequantizeArgs d;
  d.dtype = DType::f16;
  d.in = out.data();
  d.out = in.data();
  d.n = 16;
  d.scale = &s;
  ASSERT_EQ(cpu::dequantize(d), Status::success);
  DequantizeArgs b = d;
  b.out = nullptr;
  EXPECT_EQ(cpu::dequantize(b), Status::invalid_argument);
  b = d;
  b.in = nullptr;
  EXPECT_EQ(cpu::dequantize(b), Status::invalid_argument);
  b = d;
  b.out = reinterpret_cast<unsigned char*>(in.data()) + 1;
  EXPECT_EQ(cpu::dequantize(b), Status::invalid_argument);
}

// n random bf16 elements (raw patterns, and the bytes quantize reads).
struct Bf16Input {
  std::vector<std::uint32_t> raw;
  std::vector<unsigned char> bytes;
  Bf16Input(std::size_t n, std::uint32_t seed) : raw(random_raw(DType::bf16, n, seed)), bytes(2 * n) {
    store_raw(DType::bf16, raw.data(), n, bytes.data());
  }
};

QuantizeArgs bf16_quantize(const Bf16Input& in, std::vector<std::uint8_t>& out, const float& scale) {
  QuantizeArgs a;
  a.dtype = DType::bf16;
  a.in = in.bytes.data();
  a.out = out.data();
  a.n = out.size();
  a.scale = &scale;
  return a;
}

// Two callers at once: one gets the pool, the other runs serially; both must be exact.
TEST(CpuContiguous, ConcurrentCallers) {
  BackendGuard g;
  cpu::set_num_threads(2);
  const std::size_t n = 1 << 20;
  const Bf16Input in(n, 99);
  const float s = 0.5f;
  const RefQuant rq(Fp8Format::e4m3fn, DType::bf16, s);
  std::atomic<int> failures{0};
  auto worker = [&] {
    std::vector<std::uint8_t> out(n);
    for (int rep = 0; rep < 20; ++rep) {
      if (cpu::quantize(bf16_quantize(in, out, s)) != Status::success) ++failures;
      for (std::size_t i = 0; i < n; i += 97)
        if (out[i] != rq(in.raw[i])) ++failures;
    }
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
}

// The pool's workers spin for a while after a job, then sleep (src/cpu/thread_pool.cpp): jobs
// that come at once, after the workers fell asleep, and after the thread count changed (the pool
// restarts its workers) must all run every chunk.
TEST(CpuContiguous, PoolWakesAfterIdleAndResize) {
  BackendGuard g;
  const std::size_t n = 1 << 20;
  const Bf16Input in(n, 7);
  const float s = 0.25f;
  const RefQuant rq(Fp8Format::e4m3fn, DType::bf16, s);
  std::vector<std::uint8_t> out(n);
  for (int rep = 0; rep < 24; ++rep) {
    cpu::set_num_threads(2 + (rep / 4) % 3);
    if (rep % 3 == 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // past the spin
    std::fill(out.begin(), out.end(), std::uint8_t{0xAA});
    ASSERT_EQ(cpu::quantize(bf16_quantize(in, out, s)), Status::success);
    for (std::size_t i = 0; i < n; i += 61) ASSERT_EQ(out[i], rq(in.raw[i])) << "rep " << rep << " element " << i;
  }
}

}  // namespace
