"""Arrays of every kind the package accepts, reduced to what the C ABI needs: a pointer, a shape,
strides in elements, an element type, and where the memory lives (host, or a GPU and a stream).

numpy arrays run on the CPU backend. torch tensors run on the CPU backend when they live on the
host and on the GPU backend (their device, torch's current stream) when they live on a GPU; CuPy
arrays likewise on CuPy's current stream. Other objects with __cuda_array_interface__ or
__dlpack__ are taken through torch (torch.as_tensor / torch.from_dlpack), so results are torch
tensors for them.
"""
import contextlib

from . import _lib
from ._lib import lib

try:
    import numpy as np
except ImportError:
    np = None

_DTYPE_NAMES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "uint8": "uint8",
                "uint16": "uint16", "int64": "int64", "int32": "int32", "float8_e4m3fn": "uint8",
                "float8_e4m3fnuz": "uint8", "float64": "float64"}


def _torch():
    import torch
    return torch


class Arr:
    """A view of one array: kind ("numpy", "torch" or "cupy"), ptr, shape, strides (elements), dtype."""

    def __init__(self, obj):
        mod = type(obj).__module__.split(".")[0]
        if np is not None and isinstance(obj, np.ndarray):
            self.kind, self.gpu, self.device = "numpy", False, None
            self.ptr = obj.__array_interface__["data"][0]
            self.strides = tuple(s // obj.itemsize for s in obj.strides)
            self.dtype = obj.dtype.name
        elif mod == "torch":
            if str(obj.dtype) in ("torch.float8_e4m3fn", "torch.float8_e4m3fnuz"):
                obj = obj.view(_torch().uint8)  # the FP8 bytes, as the caches hold them
            self.kind, self.gpu = "torch", obj.device.type == "cuda"
            self.device = obj.device.index if self.gpu else None
            self.ptr, self.strides = obj.data_ptr(), tuple(obj.stride())
            self.dtype = str(obj.dtype).replace("torch.", "")
        elif mod == "cupy":
            self.kind, self.gpu, self.device = "cupy", True, obj.device.id
            self.ptr = obj.data.ptr
            self.strides = tuple(s // obj.itemsize for s in obj.strides)
            self.dtype = obj.dtype.name
        elif hasattr(obj, "__cuda_array_interface__") or hasattr(obj, "__dlpack__"):
            torch = _torch()
            t = torch.as_tensor(obj) if hasattr(obj, "__cuda_array_interface__") else torch.from_dlpack(obj)
            self.__init__(t)
            return
        else:
            if np is None:
                raise TypeError("kvscale: %s is not an array (numpy is not installed)" % type(obj).__name__)
            self.__init__(np.asarray(obj))
            return
        self.obj, self.shape = obj, tuple(obj.shape)
        self.dtype = _DTYPE_NAMES.get(self.dtype, self.dtype)

    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def contiguous(self):
        """This array, or a C-contiguous copy of it."""
        if self.kind == "numpy":
            return Arr(np.ascontiguousarray(self.obj))
        if self.kind == "torch":
            return Arr(self.obj.contiguous())
        import cupy
        return Arr(cupy.ascontiguousarray(self.obj))

    def new(self, shape, dtype, zero=False):
        """A new array of this kind, on this array's device."""
        if self.kind == "numpy":
            return Arr((np.zeros if zero else np.empty)(shape, dtype=dtype))
        if self.kind == "torch":
            torch = _torch()
            return Arr((torch.zeros if zero else torch.empty)(shape, dtype=getattr(torch, dtype),
                                                              device=self.obj.device))
        import cupy
        with cupy.cuda.Device(self.device):
            return Arr((cupy.zeros if zero else cupy.empty)(shape, dtype=dtype))

    def floats(self, values):
        """`values` (a number, a sequence or an array) as float32 in this array's memory space."""
        if self.kind == "numpy" or (self.kind == "torch" and not self.gpu):
            if self.kind == "torch":
                t = values if type(values).__module__.split(".")[0] == "torch" else _torch().tensor(values)
                return Arr(t.detach().to("cpu", _torch().float32).reshape(-1).contiguous())
            return Arr(np.ascontiguousarray(np.asarray(values, dtype=np.float32).reshape(-1)))
        if self.kind == "torch":
            torch = _torch()
            t = values if type(values).__module__.split(".")[0] == "torch" else torch.tensor(values)
            return Arr(t.detach().to(self.obj.device, torch.float32).reshape(-1).contiguous())
        import cupy
        with cupy.cuda.Device(self.device):
            return Arr(cupy.ascontiguousarray(cupy.asarray(values, dtype=cupy.float32).reshape(-1)))

    def int64(self, values):
        """`values` as contiguous int64 in this array's memory space (slot mappings)."""
        a = values if isinstance(values, Arr) else Arr(values)
        if a.kind == self.kind and a.gpu == self.gpu and a.device == self.device and a.dtype == "int64":
            return a.contiguous()
        if self.kind == "numpy":
            return Arr(np.ascontiguousarray(np.asarray(values, dtype=np.int64)))
        if self.kind == "torch":
            torch = _torch()
            t = a.obj if a.kind == "torch" else torch.as_tensor(values)
            return Arr(t.to(self.obj.device, torch.int64).contiguous())
        import cupy
        with cupy.cuda.Device(self.device):
            return Arr(cupy.ascontiguousarray(cupy.asarray(values, dtype=cupy.int64)))

    def backend(self):
        return _lib.GPU if self.gpu else _lib.CPU

    def stream(self):
        """The current stream of this array's device (a hipStream_t / cudaStream_t as an int)."""
        if not self.gpu:
            return None
        if self.kind == "torch":
            return _torch().cuda.current_stream(self.obj.device).cuda_stream
        import cupy
        return cupy.cuda.get_current_stream().ptr

    @contextlib.contextmanager
    def on_device(self):
        """Makes the array's device current for the framework and for kvscale."""
        if not self.gpu:
            yield
            return
        if self.kind == "torch":
            ctx = _torch().cuda.device(self.obj.device)
        else:
            import cupy
            ctx = cupy.cuda.Device(self.device)
        with ctx:
            _lib.check(lib.kvscale_gpu_set_device(self.device))
            yield


def same_place(arrs, what):
    """Every array of one kind and one device (the C ABI cannot mix host and device pointers)."""
    first = arrs[0]
    for a in arrs[1:]:
        if (a.kind, a.gpu, a.device) != (first.kind, first.gpu, first.device):
            raise ValueError("kvscale.%s: every tensor must be of one kind on one device, got %s/%s and %s/%s"
                             % (what, first.kind, first.device, a.kind, a.device))


def resolve_format(name, arr):
    """kvscale's format codes for "e4m3fn", "e4m3fnuz", and vLLM's "fp8" / "fp8_e4m3": the platform's
    FP8 type, as vLLM's current_platform.fp8_dtype() (e4m3fnuz on gfx940/941/942, e4m3fn on other
    GPUs and on the CPU)."""
    if name in ("e4m3fn", "fp8_e4m3fn"):
        return _lib.E4M3FN
    if name in ("e4m3fnuz", "fp8_e4m3fnuz"):
        return _lib.E4M3FNUZ
    if name in ("fp8", "fp8_e4m3"):
        if not arr.gpu:
            return _lib.E4M3FN
        import ctypes
        f = ctypes.c_int()
        _lib.check(lib.kvscale_gpu_native_format(arr.device, ctypes.byref(f)))
        return f.value
    raise ValueError("kvscale: unsupported FP8 format %r (expected e4m3fn, e4m3fnuz, fp8 or fp8_e4m3)" % (name,))


def element_dtype(arr, bf16, what):
    """kvscale's dtype code of a K/V array: float32, float16, bfloat16, or uint16 holding bf16."""
    if arr.dtype == "float32":
        return _lib.F32
    if arr.dtype == "float16":
        return _lib.F16
    if arr.dtype == "bfloat16" or (arr.dtype == "uint16" and bf16):
        return _lib.BF16
    hint = " (bf16 bits as uint16: pass dtype=\"bf16\" / rows_dtype=\"bf16\")" if arr.dtype == "uint16" else ""
    raise TypeError("kvscale.%s: unsupported element type %s%s" % (what, arr.dtype, hint))
