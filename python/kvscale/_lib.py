"""ctypes declarations of the C ABI (include/kvscale/kvscale.h) and the loaded library.

The library is found, in order: $KVSCALE_LIBRARY; the path CMake wrote into _paths.py (the build
tree's library, or the installed one relative to this package); the dynamic loader's search path.
"""
import ctypes
import os

from . import _paths

ABI_VERSION = 1

SUCCESS, INVALID_ARGUMENT, UNSUPPORTED, NO_DEVICE, DEVICE_ERROR, OUT_OF_MEMORY, INVALID_SCALES, INTERNAL_ERROR = range(8)
E4M3FN, E4M3FNUZ = 0, 1
F32, F16, BF16 = 0, 1, 2
CPU, GPU = 0, 1
LAYOUT_NHD, LAYOUT_HND, LAYOUT_SPLIT = 0, 1, 2
K, V = 0, 1
PER_TENSOR, PER_HEAD = 0, 1

c_int, c_int64, c_size_t, c_uint64 = ctypes.c_int, ctypes.c_int64, ctypes.c_size_t, ctypes.c_uint64
c_char_p, c_void_p, c_float_p = ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)


class LoadOptions(ctypes.Structure):
    _fields_ = [("has_context", c_int), ("tp_size", c_int), ("tp_rank", c_int), ("num_layers", c_int),
                ("model_type", c_char_p), ("unit_fallback", c_int), ("max_file_bytes", c_uint64),
                ("max_depth", c_int), ("max_ranks", c_int), ("max_layers", c_int), ("max_diagnostics", c_size_t),
                ("max_header_bytes", c_uint64), ("max_config_bytes", c_uint64), ("max_index_bytes", c_uint64),
                ("max_tensors", c_int64), ("max_files", c_int64), ("max_heads", c_int)]


class Diagnostic(ctypes.Structure):
    _fields_ = [(name, c_char_p) for name in ("code", "rule", "file", "pointer", "location", "message")]


class ScalesInfo(ctypes.Structure):
    _fields_ = [("accepted", c_int), ("used_fallback", c_int), ("tp_size", c_int), ("num_layers", c_int),
                ("heads_per_rank", c_int), ("num_kv_heads", c_int), ("source", c_int),
                ("granularity", c_char_p), ("producer", c_char_p), ("model_type", c_char_p)]


class CacheShape(ctypes.Structure):
    _fields_ = [("layout", c_int)] + [(n, c_int64) for n in (
        "num_blocks", "block_size", "num_kv_heads", "head_size", "block_stride", "slot_stride", "head_stride",
        "allocation_bytes")]


class TokenRows(ctypes.Structure):
    _fields_ = [(n, c_int64) for n in ("num_tokens", "num_kv_heads", "head_size", "key_row_stride",
                                       "value_row_stride")]


class PagedArgs(ctypes.Structure):
    _fields_ = [("format", c_int), ("dtype", c_int), ("rows", TokenRows), ("key", c_void_p), ("value", c_void_p),
                ("slot_mapping", c_void_p), ("cache", CacheShape), ("key_cache", c_void_p),
                ("value_cache", c_void_p), ("k_scale", c_void_p), ("v_scale", c_void_p),
                ("k_scale_stride", c_int), ("v_scale_stride", c_int)]


_P = ctypes.POINTER
_SIGNATURES = {
    "kvscale_abi_version": (ctypes.c_uint32, []),
    "kvscale_version": (c_char_p, []),
    "kvscale_status_name": (c_char_p, [c_int]),
    "kvscale_last_error": (c_char_p, []),
    "kvscale_load_options_init": (None, [_P(LoadOptions)]),
    "kvscale_scales_load": (c_int, [c_char_p, _P(LoadOptions), _P(c_void_p)]),
    "kvscale_scales_free": (None, [c_void_p]),
    "kvscale_scales_diagnostic_count": (c_size_t, [c_void_p]),
    "kvscale_scales_warning_count": (c_size_t, [c_void_p]),
    "kvscale_scales_diagnostic": (c_int, [c_void_p, c_size_t, _P(Diagnostic)]),
    "kvscale_scales_warning": (c_int, [c_void_p, c_size_t, _P(Diagnostic)]),
    "kvscale_scales_get_info": (c_int, [c_void_p, _P(ScalesInfo)]),
    "kvscale_scales_entry": (c_int, [c_void_p, c_int, c_int, c_int, _P(c_float_p), _P(c_int), _P(c_int)]),
    "kvscale_scales_write_json": (c_int, [c_void_p, c_char_p, c_int, c_int]),
    "kvscale_scales_write_safetensors": (c_int, [c_void_p, c_char_p, c_int, c_int]),
    "kvscale_scales_from_amax": (c_int, [c_float_p, c_int, c_int, c_int, c_int, c_char_p, _P(c_void_p), _P(c_int)]),
    "kvscale_gpu_backend": (c_char_p, []),
    "kvscale_gpu_device_count": (c_int, [_P(c_int)]),
    "kvscale_gpu_native_format": (c_int, [c_int, _P(c_int)]),
    "kvscale_gpu_set_device": (c_int, [c_int]),
    "kvscale_quantize": (c_int, [c_int, c_int, c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_void_p]),
    "kvscale_dequantize": (c_int, [c_int, c_int, c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_void_p]),
    "kvscale_paged_write": (c_int, [c_int, _P(PagedArgs), c_void_p]),
    "kvscale_paged_read": (c_int, [c_int, _P(PagedArgs), c_void_p]),
    "kvscale_observe_amax": (c_int, [c_int, c_int, _P(TokenRows), c_void_p, c_void_p, c_void_p, c_void_p,
                                     c_void_p]),
}


def _candidates():
    env = os.environ.get("KVSCALE_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.normpath(os.path.join(here, _paths.LIBRARY)), os.path.basename(_paths.LIBRARY)]


def _load():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    else:
        raise ImportError("kvscale: cannot load the kvscale library (set KVSCALE_LIBRARY): " + "; ".join(errors))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.kvscale_abi_version() != ABI_VERSION:
        raise ImportError("kvscale: library %s has C ABI %d, this package needs %d"
                          % (path, lib.kvscale_abi_version(), ABI_VERSION))
    return lib


lib = _load()


class KvscaleError(RuntimeError):
    """A C ABI call failed: .status is the kvscale_status name, the message kvscale_last_error()."""

    def __init__(self, status, message):
        self.status = lib.kvscale_status_name(status).decode()
        super().__init__("%s: %s" % (self.status, message))


def check(status):
    """Raises KvscaleError for a failed status (read the thread's last error right away)."""
    if status != SUCCESS:
        raise KvscaleError(status, lib.kvscale_last_error().decode("utf-8", "replace"))
