"""load_scales() and scales_from_amax() through the C ABI: Scales, with every diagnostic on
rejection, and the writers (kv_cache_scales.json, a scales-only .safetensors)."""
import ctypes

from . import _lib
from ._lib import lib

try:
    import numpy as _np
except ImportError:  # load_scales works without numpy: .k/.v are then nested lists
    _np = None


class Diagnostic:
    """One problem (or warning): stable code, spec rule, location (FILE:POINTER or the JSON pointer)."""

    __slots__ = ("code", "rule", "file", "pointer", "location", "message")

    def __init__(self, raw):
        for name in self.__slots__:
            setattr(self, name, getattr(raw, name).decode("utf-8", "replace"))

    def __repr__(self):
        return "Diagnostic(%r, %r, %r)" % (self.code, self.location, self.message)

    def __str__(self):
        return "%s: %s: %s" % (self.location, self.code, self.message)


class ScalesError(ValueError):
    """The source was rejected. .diagnostics holds every Diagnostic, .path the source."""

    def __init__(self, path, diagnostics):
        self.path = path
        self.diagnostics = diagnostics
        lines = ["%s:%s" % (path, d) for d in diagnostics]
        super().__init__("%s was rejected (%d problem%s)\n%s" % (
            path, len(diagnostics), "" if len(diagnostics) == 1 else "s", "\n".join(lines)))


class _Handle:
    """Owns a kvscale_scales* (freed with the last reference)."""

    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            lib.kvscale_scales_free(self.ptr)
            self.ptr = None


class Scales:
    """Accepted K/V scales of one rank (the context's tp_rank, else 0), in the e4m3fn convention
    (real ~= fp8 * scale; an e4m3fnuz cache uses 2 x these: effective_scale()).

    .k / .v: float32 [layers] when every entry is per tensor, [layers, heads] otherwise (per-tensor
    entries of a mixed table repeated over the heads). numpy arrays, or nested lists without numpy.
    .source: "scales_file", "checkpoint", "safetensors" or "calibration" (scales_from_amax).
    write_json() / write_safetensors() write every rank of the table, as `kvscale convert` does.
    """

    def __init__(self, handle, info, rank):
        self._handle = handle
        ptr = handle.ptr
        self.granularity = info.granularity.decode()
        self.producer = info.producer.decode() if info.producer else None
        self.model_type = info.model_type.decode() if info.model_type else None
        self.tp_size, self.num_layers, self.rank = info.tp_size, info.num_layers, rank
        self.heads_per_rank = info.heads_per_rank
        self.used_fallback = bool(info.used_fallback)
        self.source = ("scales_file", "checkpoint", "safetensors", "calibration")[info.source]
        self.warnings = _diagnostics(ptr, lib.kvscale_scales_warning_count, lib.kvscale_scales_warning)
        self.diagnostics = _diagnostics(ptr, lib.kvscale_scales_diagnostic_count, lib.kvscale_scales_diagnostic)
        self.k = _entries(ptr, _lib.K, rank, info)
        self.v = _entries(ptr, _lib.V, rank, info)

    def __repr__(self):
        return "Scales(%d layers, granularity %r, producer %r)" % (self.num_layers, self.granularity, self.producer)

    def write_json(self, path, merge=None, force=False):
        """Writes vLLM's kv_cache_scales.json (atomically; an existing file only with force).
        merge="max" folds what the format cannot hold (K != V, per-head scales) into their max;
        without it such a table raises KvscaleError (invalid_argument). Scales from a rejected
        source (unit_fallback) raise KvscaleError (invalid_scales)."""
        self._write(lib.kvscale_scales_write_json, path, merge, force)

    def write_safetensors(self, path, merge=None, force=False):
        """Writes a scales-only .safetensors (layers.N.self_attn.{k,v}_scale; K, V and per-head
        scales kept), atomically; an existing file only with force. It holds one rank: ranks that
        differ need merge="max" (per tensor), and per-head scales of several ranks are refused
        (KvscaleError, invalid_argument)."""
        self._write(lib.kvscale_scales_write_safetensors, path, merge, force)

    def _write(self, fn, path, merge, force):
        if merge not in (None, "max"):
            raise ValueError("merge must be None or 'max', got %r" % (merge,))
        _lib.check(fn(self._handle.ptr, _encode_path(path), 1 if merge == "max" else 0, 1 if force else 0))


def _diagnostics(handle, count_fn, get_fn):
    out = []
    for i in range(count_fn(handle)):
        raw = _lib.Diagnostic()
        _lib.check(get_fn(handle, i, ctypes.byref(raw)))
        out.append(Diagnostic(raw))
    return out


def _entries(handle, which, rank, info):
    rows = []
    for layer in range(info.num_layers):
        values, count, gran = _lib.c_float_p(), ctypes.c_int(), ctypes.c_int()
        _lib.check(lib.kvscale_scales_entry(handle, which, rank, layer, ctypes.byref(values), ctypes.byref(count),
                                            ctypes.byref(gran)))
        row = [values[i] for i in range(count.value)]
        if info.heads_per_rank and count.value == 1:
            row = row * info.heads_per_rank
        rows.append(row if info.heads_per_rank else row[0])
    if _np is None:
        return rows
    shape = (info.num_layers, info.heads_per_rank) if info.heads_per_rank else (info.num_layers,)
    return _np.array(rows, dtype=_np.float32).reshape(shape)


def _options(tp_size, tp_rank, num_layers, model_type, unit_fallback):
    o = _lib.LoadOptions()
    lib.kvscale_load_options_init(ctypes.byref(o))
    if any(x is not None for x in (tp_size, tp_rank, num_layers, model_type)):
        o.has_context = 1
        o.tp_size = 1 if tp_size is None else int(tp_size)
        o.tp_rank = 0 if tp_rank is None else int(tp_rank)
        o.num_layers = 0 if num_layers is None else int(num_layers)
        o.model_type = None if model_type is None else model_type.encode()
    o.unit_fallback = 1 if unit_fallback else 0
    return o


def load_scales(path, tp_size=None, tp_rank=None, num_layers=None, model_type=None, unit_fallback=False):
    """Loads and validates a kv_cache_scales.json, a checkpoint directory or a .safetensors file.

    Any of tp_size / tp_rank / num_layers / model_type given makes a context (the others default
    to 1 / 0 / 0 / unchecked). For a checkpoint num_layers 0 means config.json's; a scales file has
    no config, so give it tp_size, tp_rank and num_layers together (as `kvscale validate` demands). Returns Scales for the context's rank; raises
    ScalesError with every diagnostic when the source is rejected (unless unit_fallback: vLLM's
    all-1.0 scales, with .used_fallback and .diagnostics set).
    """
    fspath = path.__fspath__() if hasattr(path, "__fspath__") else path
    options = _options(tp_size, tp_rank, num_layers, model_type, unit_fallback)
    ptr = ctypes.c_void_p()
    status = lib.kvscale_scales_load(_encode_path(path), ctypes.byref(options), ctypes.byref(ptr))
    if not ptr:
        _lib.check(status)
    handle = _Handle(ptr)
    if status == _lib.INVALID_SCALES:
        raise ScalesError(fspath, _diagnostics(ptr, lib.kvscale_scales_diagnostic_count, lib.kvscale_scales_diagnostic))
    _lib.check(status)
    return Scales(handle, _info(ptr), options.tp_rank if options.has_context else 0)


def scales_from_amax(amax, num_layers, num_kv_heads, tp_size=1, granularity="tensor", model_type=None):
    """Calibration: Scales from an observe_amax buffer, scale = max(amax / 448, FLT_MIN) per entry
    (one float32 division each, the e4m3fn convention of every producer; the x2 of an e4m3fnuz
    cache is effective_scale()'s, later).

    amax: tp_size * num_layers blocks of ops.amax_size(num_kv_heads) float32 values, rank-major,
    each as ops.observe_amax fills it (numpy, a list, or a torch / CuPy tensor, copied to the host).
    num_kv_heads is one rank's. granularity "tensor" takes each block's K and V, "head" the per-head
    ones. Returns Scales (source "calibration", .k/.v of rank 0) with .floored, the number of
    entries set to FLT_MIN (a layer that saw only zeros). Raises KvscaleError (invalid_argument)
    for an amax that is NaN, negative or inf, naming rank, layer, K/V and head, and ValueError for
    a buffer of the wrong size or an unknown granularity.
    """
    if granularity not in ("tensor", "head"):
        raise ValueError("granularity must be 'tensor' or 'head', got %r" % (granularity,))
    tp_size, num_layers, num_kv_heads = int(tp_size), int(num_layers), int(num_kv_heads)
    values = _host_floats(amax)
    want = tp_size * num_layers * (2 + 2 * num_kv_heads)
    if len(values) != want:
        raise ValueError("amax holds %d values; tp_size %d x num_layers %d x amax_size(%d) = %d"
                         % (len(values), tp_size, num_layers, num_kv_heads, want))
    if _np is not None:
        buf = values.ctypes.data_as(_lib.c_float_p)  # `values` stays referenced until the call returns
    else:
        buf = (ctypes.c_float * len(values))(*values)
    ptr, floored = ctypes.c_void_p(), ctypes.c_int()
    _lib.check(lib.kvscale_scales_from_amax(buf, tp_size, num_layers, num_kv_heads,
                                            _lib.PER_HEAD if granularity == "head" else _lib.PER_TENSOR,
                                            None if model_type is None else model_type.encode(),
                                            ctypes.byref(ptr), ctypes.byref(floored)))
    s = Scales(_Handle(ptr), _info(ptr), 0)
    s.floored = floored.value
    return s


def _info(ptr):
    info = _lib.ScalesInfo()
    _lib.check(lib.kvscale_scales_get_info(ptr, ctypes.byref(info)))
    return info


def _encode_path(path):
    fspath = path.__fspath__() if hasattr(path, "__fspath__") else path
    return fspath.encode() if isinstance(fspath, str) else bytes(fspath)


def _host_floats(amax):
    """amax on the host, flat: a contiguous float32 numpy array, or a list of floats without numpy
    (ctypes rounds them to float32)."""
    if hasattr(amax, "__cuda_array_interface__") and hasattr(amax, "get"):  # CuPy
        amax = amax.get()
    elif hasattr(amax, "cpu") and hasattr(amax, "device"):  # torch (any device)
        amax = amax.detach().cpu()
    if _np is not None:
        return _np.ascontiguousarray(_np.asarray(amax, dtype=_np.float32).reshape(-1))
    return [float(x) for x in amax]


def effective_scale(scale, format):
    """The scale a cache of `format` uses for a file scale: x2 for e4m3fnuz (exact), else unchanged."""
    return scale * 2 if format == "e4m3fnuz" else scale
