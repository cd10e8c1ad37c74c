"""kvscale: FP8 KV-cache scales and FP8 paged caches, over kvscale's C ABI (ctypes).

    import kvscale
    s = kvscale.load_scales("ckpt/")        # kv_cache_scales.json, a checkpoint dir or .safetensors
    s.k, s.v, s.granularity, s.producer, s.warnings
    q = kvscale.quantize(x, scale)          # numpy, torch (CPU or GPU) or CuPy
    kvscale.ops.reshape_and_cache_flash(...)  # vLLM's signature
    kvscale.ops.observe_amax(k, v, amax)    # calibration, then:
    kvscale.scales_from_amax(amax, num_layers, num_kv_heads).write_json("kv_cache_scales.json", merge="max")

numpy is needed for the array operations; load_scales works without it (.k/.v are then lists).
"""
from . import ops
from ._codec import dequantize, quantize
from ._lib import KvscaleError, lib as _clib
from ._scales import Diagnostic, Scales, ScalesError, effective_scale, load_scales, scales_from_amax

def gpu_native_format(device=0):
    """"e4m3fnuz" (gfx940/941/942) or "e4m3fn": the FP8 format `device` converts natively, which
    kv_cache_dtype "fp8" selects. Raises KvscaleError without a GPU."""
    import ctypes
    from . import _lib
    f = ctypes.c_int()
    _lib.check(_clib.kvscale_gpu_native_format(int(device), ctypes.byref(f)))
    return ("e4m3fn", "e4m3fnuz")[f.value]


__version__ = _clib.kvscale_version().decode()
abi_version = _clib.kvscale_abi_version()
gpu_backend = _clib.kvscale_gpu_backend().decode()

__all__ = ["load_scales", "scales_from_amax", "Scales", "ScalesError", "Diagnostic", "KvscaleError", "quantize", "dequantize",
           "effective_scale", "gpu_native_format", "ops", "__version__", "abi_version", "gpu_backend"]
