"""vLLM-compatible paged cache operations over kvscale's backends.

reshape_and_cache_flash / reshape_and_cache have vLLM's signatures (vllm._custom_ops) and write FP8
bytes into caches that are uint8 views (or torch float8 tensors). kv_cache_dtype "fp8" / "fp8_e4m3"
is the platform's FP8 type as in vLLM (e4m3fnuz on gfx940/941/942, e4m3fn elsewhere and on the
CPU); "e4m3fn" / "e4m3fnuz" name one explicitly. k_scale / v_scale: one value (a float or a
1-element tensor) or one per KV head. They are used as given: for an e4m3fnuz cache pass the
effective scale (2 x the checkpoint's; kvscale.effective_scale), as vLLM does after loading.

read_cache_flash / read_cache are the reverse (gather and dequantize), for tests and tools.
observe_amax folds the running max |K| and |V| of rows into a buffer, for calibrating scales.
GPU tensors run on their device and the framework's current stream, without synchronisation;
slots are not range-checked on the GPU (out-of-range slots are skipped), but are on the CPU.
"""
import ctypes

from . import _lib
from ._arrays import Arr, element_dtype, resolve_format, same_place
from ._lib import lib


def _scale(ref, scale, heads, what):
    s = ref.floats(scale)
    if s.numel() == 1:
        return s, 0
    if s.numel() == heads:
        return s, 1
    raise ValueError("kvscale.ops.%s: a scale must have 1 or num_kv_heads (%d) values, got %d"
                     % (what, heads, s.numel()))


def _rows(key, value, num_tokens, what):
    """TokenRows of [num_tokens(+padding), heads, head_size] K and V whose heads are dense in a row."""
    if len(key.shape) != 3 or key.shape[1:] != value.shape[1:]:
        raise ValueError("kvscale.ops.%s: key and value must be [num_tokens, num_kv_heads, head_size] alike, "
                         "got %s and %s" % (what, key.shape, value.shape))
    _, heads, size = key.shape
    for name, a in (("key", key), ("value", value)):
        if a.shape[0] < num_tokens:
            raise ValueError("kvscale.ops.%s: %s has %d tokens, slot_mapping %d" % (what, name, a.shape[0], num_tokens))
        if a.strides[2] != 1 or (heads > 1 and a.strides[1] != size):
            raise ValueError("kvscale.ops.%s: the heads of a %s row must be dense (strides %s)"
                             % (what, name, a.strides))
    return _lib.TokenRows(num_tokens, heads, size, key.strides[0], value.strides[0])


def _dense_strides(shape):
    strides, n = [], 1
    for s in reversed(shape):
        strides.append(n)
        n *= s
    return tuple(reversed(strides))


def _cache_shape(key_cache, value_cache, split, what):
    for name, c in (("key_cache", key_cache), ("value_cache", value_cache)):
        if c.dtype != "uint8":
            raise TypeError("kvscale.ops.%s: %s must hold FP8 bytes (uint8 or float8), got %s" % (what, name, c.dtype))
    if split:
        nb, heads, chunks, bs, x = key_cache.shape if len(key_cache.shape) == 5 else (0,) * 5
        if x != 16 or value_cache.shape != (nb, heads, chunks * 16, bs):
            raise ValueError("kvscale.ops.%s: expected key_cache [num_blocks, heads, head_size/16, block_size, 16] "
                             "and value_cache [num_blocks, heads, head_size, block_size], got %s and %s"
                             % (what, key_cache.shape, value_cache.shape))
        if key_cache.strides != _dense_strides(key_cache.shape) or \
                value_cache.strides != _dense_strides(value_cache.shape):
            raise ValueError("kvscale.ops.%s: the split layout must be contiguous" % what)
        return _lib.CacheShape(_lib.LAYOUT_SPLIT, nb, bs, heads, chunks * 16, 0, 0, 0, 0)
    if len(key_cache.shape) != 4 or key_cache.shape != value_cache.shape or key_cache.strides != value_cache.strides:
        raise ValueError("kvscale.ops.%s: key_cache and value_cache must be [num_blocks, block_size, num_kv_heads, "
                         "head_size] views with the same strides, got %s %s and %s %s"
                         % (what, key_cache.shape, key_cache.strides, value_cache.shape, value_cache.strides))
    if key_cache.strides[3] != 1:
        raise ValueError("kvscale.ops.%s: the elements of a head must be contiguous in the cache" % what)
    nb, bs, heads, size = key_cache.shape
    s = key_cache.strides
    return _lib.CacheShape(_lib.LAYOUT_NHD, nb, bs, heads, size, s[0], s[1], s[2], 0)


def _paged(write, split, key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale,
           bf16, what):
    k, v, kc, vc = Arr(key), Arr(value), Arr(key_cache), Arr(value_cache)
    same_place([k, v, kc, vc], "ops." + what)
    slots = kc.int64(slot_mapping)
    if len(slots.shape) != 1:
        raise ValueError("kvscale.ops.%s: slot_mapping must be 1-D" % what)
    a = _lib.PagedArgs()
    a.format = resolve_format(kv_cache_dtype, kc)
    if k.dtype != v.dtype:
        raise TypeError("kvscale.ops.%s: key and value must have one dtype, got %s and %s" % (what, k.dtype, v.dtype))
    a.dtype = element_dtype(k, bf16, "ops." + what)
    a.rows = _rows(k, v, slots.shape[0], what)
    a.cache = _cache_shape(kc, vc, split, what)
    if (a.cache.num_kv_heads, a.cache.head_size) != (a.rows.num_kv_heads, a.rows.head_size):
        raise ValueError("kvscale.ops.%s: the cache has %d heads of %d, the rows %d of %d" % (
            what, a.cache.num_kv_heads, a.cache.head_size, a.rows.num_kv_heads, a.rows.head_size))
    ks, a.k_scale_stride = _scale(kc, k_scale, a.rows.num_kv_heads, what)
    vs, a.v_scale_stride = _scale(kc, v_scale, a.rows.num_kv_heads, what)
    a.key, a.value, a.slot_mapping = k.ptr, v.ptr, slots.ptr
    a.key_cache, a.value_cache, a.k_scale, a.v_scale = kc.ptr, vc.ptr, ks.ptr, vs.ptr
    fn = lib.kvscale_paged_write if write else lib.kvscale_paged_read
    with kc.on_device():
        _lib.check(fn(kc.backend(), ctypes.byref(a), kc.stream()))


def _bf16_rows(rows_dtype, what):
    if rows_dtype not in (None, "bf16", "bfloat16"):
        raise ValueError("kvscale.ops.%s: rows_dtype must be None or \"bf16\", got %r" % (what, rows_dtype))
    return rows_dtype is not None


def reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, *,
                            rows_dtype=None):
    """vLLM's reshape_and_cache_flash: quantizes key/value [num_tokens, num_kv_heads, head_size]
    (float32, float16, bfloat16) into key_cache/value_cache [num_blocks, block_size, num_kv_heads,
    head_size] at slot_mapping[t] (negative slots are padding, skipped). The caches' strides come from
    the tensors, so K and V views into one [num_blocks, 2, ...] allocation work. rows_dtype="bf16"
    (not in vLLM's signature): numpy uint16 rows hold bf16 bits."""
    _paged(True, False, key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale,
           _bf16_rows(rows_dtype, "reshape_and_cache_flash"), "reshape_and_cache_flash")


def reshape_and_cache(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, *,
                      rows_dtype=None):
    """vLLM's reshape_and_cache (the split layout of ROCm paged attention): key_cache
    [num_blocks, num_kv_heads, head_size/16, block_size, 16], value_cache [num_blocks, num_kv_heads,
    head_size, block_size], both contiguous. rows_dtype as for reshape_and_cache_flash."""
    _paged(True, True, key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale,
           _bf16_rows(rows_dtype, "reshape_and_cache"), "reshape_and_cache")


def _read(split, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, dtype, what):
    kc = Arr(key_cache)
    slots = kc.int64(slot_mapping)
    if split:
        heads, size = kc.shape[1], kc.shape[2] * kc.shape[4] if len(kc.shape) == 5 else 0
    else:
        heads, size = (kc.shape[2], kc.shape[3]) if len(kc.shape) == 4 else (0, 0)
    names = {"float32": "float32", "float16": "float16", "bf16": "bfloat16", "bfloat16": "bfloat16"}
    if dtype not in names:
        raise ValueError("kvscale.ops.%s: dtype must be float32, float16 or bf16, got %r" % (what, dtype))
    name = names[dtype]
    if name == "bfloat16" and kc.kind != "torch":
        name = "uint16"
    shape = (slots.shape[0], heads, size)
    key, value = kc.new(shape, name, zero=True), kc.new(shape, name, zero=True)
    _paged(False, split, key.obj, value.obj, key_cache, value_cache, slots.obj, kv_cache_dtype, k_scale, v_scale,
           name == "uint16", what)
    return key.obj, value.obj


def read_cache_flash(key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, dtype="float32"):
    """The reverse of reshape_and_cache_flash: (key, value) [num_tokens, num_kv_heads, head_size] of
    `dtype` dequantized from the slots; rows of negative slots are zeros."""
    return _read(False, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, dtype,
                 "read_cache_flash")


def read_cache(key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, dtype="float32"):
    """The reverse of reshape_and_cache (split layout)."""
    return _read(True, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, dtype, "read_cache")


__all__ = ["reshape_and_cache_flash", "reshape_and_cache", "read_cache_flash", "read_cache"]


def amax_size(num_kv_heads):
    """Floats of an observe_amax buffer: [K, V, K per head..., V per head...]."""
    return 2 + 2 * int(num_kv_heads)


def observe_amax(key, value, amax, slot_mapping=None, *, rows_dtype=None):
    """Calibration: folds max |x| of key and value [num_tokens, num_kv_heads, head_size] (float32,
    float16, bfloat16; rows_dtype="bf16" for numpy uint16 bits) into amax, a contiguous float32 array
    or tensor of amax_size(num_kv_heads) values [K, V, K per head..., V per head...] that keeps its
    contents across calls (start it at zeros): each entry becomes the max of itself and what the
    call saw. With slot_mapping, tokens whose slot is negative (padding) are skipped and
    len(slot_mapping) tokens count; without, every token does. NaN is ignored, inf counts. GPU
    tensors run on their device and current stream, without synchronisation. Divide by 448 (the
    e4m3fn max, what every producer uses) for the scales; kvscale's C++ scales_from_amax also
    floors all-zero layers and writes the scale files."""
    what = "observe_amax"
    k, v, am = Arr(key), Arr(value), Arr(amax)
    same_place([k, v, am], "ops." + what)
    if k.dtype != v.dtype:
        raise TypeError("kvscale.ops.%s: key and value must have one dtype, got %s and %s" % (what, k.dtype, v.dtype))
    dtype = element_dtype(k, _bf16_rows(rows_dtype, what), "ops." + what)
    slots = None
    if slot_mapping is not None:
        slots = am.int64(slot_mapping)
        if len(slots.shape) != 1:
            raise ValueError("kvscale.ops.%s: slot_mapping must be 1-D" % what)
    n = slots.shape[0] if slots is not None else (k.shape[0] if len(k.shape) == 3 else 0)
    r = _rows(k, v, n, what)
    if am.dtype != "float32" or am.numel() != amax_size(r.num_kv_heads) or am.strides != _dense_strides(am.shape):
        raise ValueError("kvscale.ops.%s: amax must be %d contiguous float32 values (2 + 2 x %d heads), got %s %s"
                         % (what, amax_size(r.num_kv_heads), r.num_kv_heads, am.dtype, am.shape))
    with am.on_device():
        _lib.check(lib.kvscale_observe_amax(am.backend(), dtype, ctypes.byref(r), k.ptr, v.ptr,
                                            slots.ptr if slots is not None else None, am.ptr, am.stream()))
