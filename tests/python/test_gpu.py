"""GPU: torch tensors on a GPU run on the GPU backend and must give the CPU backend's bytes, and
torch's own float8 conversion on every finite input that it does not overflow. Skips without
torch or a GPU (set KVSCALE_REQUIRE_GPU=1 to make that a failure).

Where torch differs (documented in README.md): torch's float -> float8_e4m3fn(uz) conversion does
not saturate: |x / scale| beyond the largest finite value (448 / 240, after rounding) and +-inf
become NaN, where kvscale (like vLLM's kernels) saturates to +-max. Those inputs are left out of
the torch comparison and checked against the CPU backend instead."""
import os

import numpy as np
import pytest

import kvscale
from kvscale import ops
from conftest import ref_quantize

# The GPU tensors come from torch: without torch there is no GPU to test with here.
try:
    import torch
except ImportError:
    if os.environ.get("KVSCALE_REQUIRE_GPU"):
        raise
    pytest.skip("no GPU to test: torch, which makes the GPU tensors, is not installed", allow_module_level=True)
if not torch.cuda.is_available():
    if os.environ.get("KVSCALE_REQUIRE_GPU"):
        raise RuntimeError("KVSCALE_REQUIRE_GPU=1 but torch sees no GPU")
    pytest.skip("no GPU device: torch sees none", allow_module_level=True)

DEV = torch.device("cuda", 0)


def native():
    return kvscale.gpu_native_format(0)


def every_f16():
    return np.arange(65536, dtype=np.uint16).view(np.float16)


@pytest.mark.parametrize("fmt", ["e4m3fn", "e4m3fnuz"])
@pytest.mark.parametrize("scale", [1.0, 0.0152239129])
def test_quantize_matches_cpu_and_torch(fmt, scale):
    x = every_f16().astype(np.float32)
    xt = torch.from_numpy(x).to(DEV)
    q = kvscale.quantize(xt, scale, format=fmt)
    assert q.device == xt.device and q.dtype == torch.uint8
    torch.cuda.synchronize()
    cpu = kvscale.quantize(x, scale, format=fmt)
    assert np.array_equal(q.cpu().numpy(), cpu)
    assert np.array_equal(cpu, ref_quantize(fmt, x, scale))
    # torch's conversion, on the inputs it converts without overflowing (see the module docstring).
    tdt = torch.float8_e4m3fn if fmt == "e4m3fn" else torch.float8_e4m3fnuz
    y = (xt / torch.tensor(scale, dtype=torch.float32, device=DEV))
    limit = 448.0 if fmt == "e4m3fn" else 240.0
    ok = torch.isfinite(y) & (y.abs() <= limit)
    theirs = y[ok].to(tdt).view(torch.uint8)
    assert torch.equal(q[ok], theirs)
    assert int(ok.sum()) > 30000


def test_dequantize_matches_cpu():
    q = np.arange(256, dtype=np.uint8)
    for fmt in ("e4m3fn", "e4m3fnuz"):
        for dtype in ("float32", "float16", "bf16"):
            g = kvscale.dequantize(torch.from_numpy(q).to(DEV), 0.5, format=fmt, dtype=dtype)
            c = kvscale.dequantize(q, 0.5, format=fmt, dtype=dtype)
            torch.cuda.synchronize()
            gb = g.cpu().view(torch.int16 if dtype != "float32" else torch.int32).numpy()
            assert np.array_equal(gb, c.view(gb.dtype))


def test_paged_ops_match_cpu():
    T, H, D, BS, NB = 33, 8, 128, 16, 6
    rng = np.random.default_rng(3)
    key = (rng.standard_normal((T, H, D)) * 3).astype(np.float16)
    value = (rng.standard_normal((T, H, D)) * 3).astype(np.float16)
    slots = rng.permutation(NB * BS)[:T].astype(np.int64)
    slots[5] = -1
    k_scale = np.linspace(0.01, 0.05, H).astype(np.float32)
    fmt = "fp8"  # the platform's format, as vLLM
    kv = torch.zeros((NB, 2, BS, H, D), dtype=torch.uint8, device=DEV)
    ops.reshape_and_cache_flash(torch.from_numpy(key).to(DEV), torch.from_numpy(value).to(DEV), kv[:, 0], kv[:, 1],
                                torch.from_numpy(slots).to(DEV), fmt, torch.from_numpy(k_scale).to(DEV),
                                torch.tensor([0.02], device=DEV))
    cpu = np.zeros((NB, 2, BS, H, D), np.uint8)
    ops.reshape_and_cache_flash(key, value, cpu[:, 0], cpu[:, 1], slots, native(), k_scale, 0.02)
    torch.cuda.synchronize()
    assert np.array_equal(kv.cpu().numpy(), cpu)
    kc = torch.zeros((NB, H, D // 16, BS, 16), dtype=torch.uint8, device=DEV)
    vc = torch.zeros((NB, H, D, BS), dtype=torch.uint8, device=DEV)
    ops.reshape_and_cache(torch.from_numpy(key).to(DEV), torch.from_numpy(value).to(DEV), kc, vc,
                          torch.from_numpy(slots).to(DEV), fmt, 0.03, 0.04)
    ckc, cvc = np.zeros(tuple(kc.shape), np.uint8), np.zeros(tuple(vc.shape), np.uint8)
    ops.reshape_and_cache(key, value, ckc, cvc, slots, native(), 0.03, 0.04)
    k_back, _ = ops.read_cache(kc, vc, torch.from_numpy(slots).to(DEV), fmt, 0.03, 0.04, dtype="bf16")
    ck_back, _ = ops.read_cache(ckc, cvc, slots, native(), 0.03, 0.04, dtype="bf16")
    torch.cuda.synchronize()
    assert np.array_equal(kc.cpu().numpy(), ckc) and np.array_equal(vc.cpu().numpy(), cvc)
    assert np.array_equal(k_back.cpu().view(torch.int16).numpy(), ck_back.view(np.int16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_observe_amax_matches_cpu(dtype):
    g = torch.Generator().manual_seed(5)
    key = (torch.randn(300, 8, 128, generator=g) * 3).to(dtype)
    value = (torch.randn(300, 8, 128, generator=g) * 2).to(dtype)
    key[7, 3, 9] = float("nan")  # ignored
    value[9, 5, 0] = float("inf")  # counts
    slots = torch.arange(300, dtype=torch.int64)
    slots[::7] = -1  # padding
    cpu = torch.zeros(ops.amax_size(8), dtype=torch.float32)
    gpu = cpu.clone().to(DEV)
    ops.observe_amax(key, value, cpu, slots)
    ops.observe_amax(key.to(DEV), value.to(DEV), gpu, slots.to(DEV))
    torch.cuda.synchronize()
    assert torch.equal(gpu.cpu(), cpu)
    assert torch.isinf(cpu[1]) and torch.isfinite(cpu[0])
