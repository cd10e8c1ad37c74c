"""quantize() / dequantize(): contiguous FP8 conversion on the CPU or GPU backend."""

from . import _lib
from ._arrays import Arr, element_dtype, resolve_format
from ._lib import lib

_OUT_DTYPES = {"float32": ("float32", _lib.F32), "float16": ("float16", _lib.F16),
               "bf16": ("bfloat16", _lib.BF16), "bfloat16": ("bfloat16", _lib.BF16)}


def _one_scale(arr, scale, what):
    s = arr.floats(scale)
    if s.numel() != 1:
        raise ValueError("kvscale.%s: expected one scale (per tensor), got %d values" % (what, s.numel()))
    return s


def quantize(x, scale, format="e4m3fn", dtype=None):
    """FP8 codes (uint8, same shape) of x / scale, rounded to nearest even and saturated to the
    format's largest finite value (NaN stays NaN). x: float32 / float16 / bfloat16, or a uint16 view of
    bf16 with dtype="bf16". numpy in, numpy out (CPU backend); a GPU tensor in, a tensor on its
    device out (GPU backend, the framework's current stream, not synchronised)."""
    a = Arr(x).contiguous()
    code = element_dtype(a, dtype in ("bf16", "bfloat16"), "quantize")
    fmt = resolve_format(format, a)
    s = _one_scale(a, scale, "quantize")
    out = a.new(a.shape, "uint8")
    with a.on_device():
        _lib.check(lib.kvscale_quantize(a.backend(), fmt, code, a.ptr, out.ptr, a.numel(), s.ptr, a.stream()))
    return out.obj


def dequantize(q, scale, format="e4m3fn", dtype="float32"):
    """decode(q) * scale as `dtype` ("float32", "float16", or "bf16": a uint16 array for numpy, a
    torch.bfloat16 tensor for torch), one float32 multiply rounded to the dtype. q: uint8 FP8 codes
    (or a torch float8 tensor)."""
    a = Arr(q).contiguous()
    if a.dtype != "uint8":
        raise TypeError("kvscale.dequantize: expected uint8 FP8 codes, got %s" % a.dtype)
    if dtype not in _OUT_DTYPES:
        raise ValueError("kvscale.dequantize: dtype must be float32, float16 or bf16, got %r" % (dtype,))
    name, code = _OUT_DTYPES[dtype]
    if a.kind != "torch" and name == "bfloat16":
        name = "uint16"  # numpy and CuPy have no bfloat16: the bits as uint16
    fmt = resolve_format(format, a)
    s = _one_scale(a, scale, "dequantize")
    out = a.new(a.shape, name)
    with a.on_device():
        _lib.check(lib.kvscale_dequantize(a.backend(), fmt, code, a.ptr, out.ptr, a.numel(), s.ptr, a.stream()))
    return out.obj


__all__ = ["quantize", "dequantize"]
