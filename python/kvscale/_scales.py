"""load_scales(): the loader through the C ABI, with every diagnostic on rejection."""
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


class Scales:
    """Accepted K/V scales of one rank (the context's tp_rank, else 0), in the e4m3fn convention
    (real ~= fp8 * scale; an e4m3fnuz cache uses 2 x these: effective_scale()).

    .k / .v: float32 [layers] when every entry is per tensor, [layers, heads] otherwise (per-tensor
    entries of a mixed table repeated over the heads). numpy arrays, or nested lists without numpy.
    """

    def __init__(self, handle, info, rank):
        self.granularity = info.granularity.decode()
        self.producer = info.producer.decode() if info.producer else None
        self.model_type = info.model_type.decode() if info.model_type else None
        self.tp_size, self.num_layers, self.rank = info.tp_size, info.num_layers, rank
        self.heads_per_rank = info.heads_per_rank
        self.used_fallback = bool(info.used_fallback)
        self.source = ("scales_file", "checkpoint", "safetensors")[info.source]
        self.warnings = _diagnostics(handle, lib.kvscale_scales_warning_count, lib.kvscale_scales_warning)
        self.diagnostics = _diagnostics(handle, lib.kvscale_scales_diagnostic_count, lib.kvscale_scales_diagnostic)
        self.k = _entries(handle, _lib.K, rank, info)
        self.v = _entries(handle, _lib.V, rank, info)

    def __repr__(self):
        return "Scales(%d layers, granularity %r, producer %r)" % (self.num_layers, self.granularity, self.producer)


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
    raw = fspath.encode() if isinstance(fspath, str) else bytes(fspath)
    options = _options(tp_size, tp_rank, num_layers, model_type, unit_fallback)
    handle = ctypes.c_void_p()
    status = lib.kvscale_scales_load(raw, ctypes.byref(options), ctypes.byref(handle))
    if not handle:
        _lib.check(status)
    try:
        if status == _lib.INVALID_SCALES:
            raise ScalesError(fspath, _diagnostics(handle, lib.kvscale_scales_diagnostic_count,
                                                   lib.kvscale_scales_diagnostic))
        _lib.check(status)
        info = _lib.ScalesInfo()
        _lib.check(lib.kvscale_scales_get_info(handle, ctypes.byref(info)))
        return Scales(handle, info, options.tp_rank if options.has_context else 0)
    finally:
        lib.kvscale_scales_free(handle)


def effective_scale(scale, format):
    """The scale a cache of `format` uses for a file scale: x2 for e4m3fnuz (exact), else unchanged."""
    return scale * 2 if format == "e4m3fnuz" else scale
