// Private to the CPU backend: the token loop of the SIMD observe_amax chunks (amax_avx2.cpp,
// amax_avx512.cpp), written once over the including ISA's vector operations.
//
// Include it inside an anonymous namespace of kvscale::cpu::detail after the file's target
// pragma (the functions then take that target), after the file's
//   fold_head<k16, kNv>(p, nv, mis, Reg* acc)
//                            folds max |x| bits of one head segment (nv whole registers at p,
//                            p % kBytes == mis) into *acc; kNv: nv when it is a constant, else 0;
//   hmax<k16>(Reg)           the largest unsigned lane;
// and pass S, a struct of Reg (the register type), kBytes (its width) and zero().
#pragma once

// Tokens [b, e): one accumulator per head and side on the stack, token by token, the K row and
// then the V row: two sequential streams of reads (measured 6-15% faster than a block of K rows
// and then the block of V rows, at every size of bench_cpu's calibration section).
template <class S, bool k16, std::size_t kNv>
void amax_block(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  typename S::Reg acc[2 * kAmaxMaxHeads];  // K heads, then V heads
  const std::size_t H = r.heads, nv = r.seg_bytes / S::kBytes;
  for (std::size_t h = 0; h < 2 * H; ++h) acc[h] = S::zero();
  for (std::size_t t = b; t < e; ++t) {
    if (r.slots != nullptr && r.slots[t] < 0) continue;
    const unsigned char* kr = r.key + t * r.key_stride;
    const unsigned char* vr = r.value + t * r.value_stride;
    const std::size_t kmis = reinterpret_cast<std::uintptr_t>(kr) % S::kBytes,
                      vmis = reinterpret_cast<std::uintptr_t>(vr) % S::kBytes;
    for (std::size_t h = 0; h < H; ++h) fold_head<k16, kNv>(kr + h * r.seg_bytes, nv, kmis, acc + h);
    for (std::size_t h = 0; h < H; ++h) fold_head<k16, kNv>(vr + h * r.seg_bytes, nv, vmis, acc + H + h);
  }
  for (std::size_t h = 0; h < H; ++h) {
    amax_settle(r, false, h, b, e, hmax<k16>(acc[h]), km + h);
    amax_settle(r, true, h, b, e, hmax<k16>(acc[H + h]), vm + h);
  }
}

// Head segments of 128, 256 and 512 bytes (64, 128, 256 bf16 elements) unroll completely.
template <class S, bool k16>
void amax_block_any(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  switch (r.seg_bytes) {
    case 128: return amax_block<S, k16, 128 / S::kBytes>(r, b, e, km, vm);
    case 256: return amax_block<S, k16, 256 / S::kBytes>(r, b, e, km, vm);
    case 512: return amax_block<S, k16, 512 / S::kBytes>(r, b, e, km, vm);
    default: return amax_block<S, k16, 0>(r, b, e, km, vm);
  }
}

// The chunk [b, e) in blocks of kAmaxBlock tokens (seg_bytes % S::kBytes == 0, heads <= kAmaxMaxHeads).
template <class S>
void amax_chunk_simd(const AmaxRows& r, std::size_t b, std::size_t e, std::uint32_t* km, std::uint32_t* vm) {
  for (std::size_t s = b; s < e; s += kAmaxBlock) {
    const std::size_t end = e - s > kAmaxBlock ? s + kAmaxBlock : e;
    if (r.dtype == DType::f32)
      amax_block_any<S, false>(r, s, end, km, vm);
    else
      amax_block_any<S, true>(r, s, end, km, vm);
  }
}
