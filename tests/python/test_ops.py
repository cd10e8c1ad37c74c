"""kvscale.ops on numpy (the CPU backend) against a placement written here from vLLM's layouts and
the reference codec in conftest.py."""
import numpy as np
import pytest

import kvscale
from kvscale import ops
from conftest import bf16_to_f32, f32_to_bf16, ref_dequantize, ref_quantize

T, H, D, BS, NB = 7, 4, 32, 4, 5
SLOTS = np.array([5, -1, 0, 19, 8, 9, -1], np.int64)


def rows(seed, dtype):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((T, H, D)) * 4).astype(np.float32)
    x[0, 0, :4] = [500.0, -500.0, np.nan, 0.0]  # saturation, NaN, zero
    return x.astype(dtype)


def as_f32(x):
    return bf16_to_f32(x) if x.dtype == np.uint16 else x.astype(np.float32)


@pytest.mark.parametrize("fmt", ["e4m3fn", "e4m3fnuz"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint16])
def test_flash_shared_allocation(fmt, dtype):
    key = rows(1, np.float32)
    value = rows(2, np.float32)
    if dtype == np.uint16:
        key, value = f32_to_bf16(key), f32_to_bf16(value)
    else:
        key, value = key.astype(dtype), value.astype(dtype)
    kv = np.full((NB, 2, BS, H, D), 0xAA, np.uint8)  # vLLM v1: K and V views of one allocation
    kc, vc = kv[:, 0], kv[:, 1]
    k_scale = np.array([0.02, 0.5, 1.0, 0.125], np.float32)  # per head
    v_scale = 0.03125  # per tensor
    ops.reshape_and_cache_flash(key, value, kc, vc, SLOTS, fmt, k_scale, v_scale,
                                rows_dtype="bf16" if dtype == np.uint16 else None)
    expect = np.full_like(kv, 0xAA)
    for t, s in enumerate(SLOTS):
        if s >= 0:
            for h in range(H):
                expect[s // BS, 0, s % BS, h] = ref_quantize(fmt, as_f32(key[t, h]), k_scale[h])
                expect[s // BS, 1, s % BS, h] = ref_quantize(fmt, as_f32(value[t, h]), v_scale)
    assert np.array_equal(kv, expect)
    # Read back: decode * scale per element; padding rows stay zero.
    name = {np.float32: "float32", np.float16: "float16", np.uint16: "bf16"}[dtype]
    k_back, v_back = ops.read_cache_flash(kc, vc, SLOTS, fmt, k_scale, v_scale, dtype=name)
    for t, s in enumerate(SLOTS):
        for h in range(H):
            if s < 0:
                assert not k_back[t, h].any() and not v_back[t, h].any()
                continue
            wk = ref_dequantize(fmt, expect[s // BS, 0, s % BS, h], k_scale[h])
            wv = ref_dequantize(fmt, expect[s // BS, 1, s % BS, h], v_scale)
            if dtype == np.uint16:
                wk, wv = f32_to_bf16(wk), f32_to_bf16(wv)
            else:
                wk, wv = wk.astype(dtype), wv.astype(dtype)
            nan = np.isnan(as_f32(wk))
            assert np.array_equal(k_back[t, h][~nan], wk[~nan]) and np.all(np.isnan(as_f32(k_back[t, h][nan])))
            assert np.array_equal(v_back[t, h][~np.isnan(as_f32(wv))], wv[~np.isnan(as_f32(wv))])


@pytest.mark.parametrize("fmt", ["fp8", "e4m3fnuz"])
def test_split_layout(fmt):
    key, value = rows(3, np.float16), rows(4, np.float16)
    kc = np.zeros((NB, H, D // 16, BS, 16), np.uint8)
    vc = np.zeros((NB, H, D, BS), np.uint8)
    ops.reshape_and_cache(key, value, kc, vc, SLOTS, fmt, 0.05, np.float32(0.07))
    ref = "e4m3fn" if fmt == "fp8" else fmt  # "fp8" on the CPU is e4m3fn
    ek, ev = np.zeros_like(kc), np.zeros_like(vc)
    for t, s in enumerate(SLOTS):
        if s < 0:
            continue
        b, o = s // BS, s % BS
        for h in range(H):
            qk = ref_quantize(ref, key[t, h].astype(np.float32), 0.05)
            ek[b, h, :, o, :] = qk.reshape(D // 16, 16)  # K[block][h][e/16][off][e%16]
            ev[b, h, :, o] = ref_quantize(ref, value[t, h].astype(np.float32), np.float32(0.07))  # V[block][h][e][off]
    assert np.array_equal(kc, ek) and np.array_equal(vc, ev)
    k_back, v_back = ops.read_cache(kc, vc, SLOTS, fmt, 0.05, 0.07)
    t = 3
    s = SLOTS[t]
    assert np.array_equal(k_back[t], ref_dequantize(ref, ek[s // BS, :, :, s % BS, :].reshape(H, D), 0.05))


def test_padded_key_rows_and_strided_value():
    # vLLM passes key with more rows than slot_mapping (padding) and may pass a strided value view.
    key = rows(5, np.float32)
    big = np.zeros((T + 3, H, D), np.float32)
    big[:T] = key
    qkv = np.zeros((T, 3, H, D), np.float32)
    qkv[:, 2] = rows(6, np.float32)
    value = qkv[:, 2]
    kc = np.zeros((NB, BS, H, D), np.uint8)
    vc = np.zeros((NB, BS, H, D), np.uint8)
    ops.reshape_and_cache_flash(big, value, kc, vc, SLOTS, "e4m3fn", 1.0, 1.0)
    s = SLOTS[3]
    assert np.array_equal(kc[s // BS, s % BS], ref_quantize("e4m3fn", key[3], 1.0))
    assert np.array_equal(vc[s // BS, s % BS], ref_quantize("e4m3fn", value[3], 1.0))


def test_ops_errors():
    key = rows(1, np.float32)
    kc = np.zeros((NB, BS, H, D), np.uint8)
    vc = np.zeros((NB, BS, H, D), np.uint8)
    with pytest.raises(kvscale.KvscaleError) as e:  # a slot outside the cache: refused, nothing written
        ops.reshape_and_cache_flash(key, key, kc, vc, np.array([0, NB * BS, 1, 2, 3, 4, 6]), "fp8", 1.0, 1.0)
    assert e.value.status == "invalid_argument" and "slot_mapping[1]" in str(e.value)
    assert not kc.any()
    with pytest.raises(ValueError):  # wrong number of per-head scales
        ops.reshape_and_cache_flash(key, key, kc, vc, SLOTS, "fp8", [1.0, 2.0], 1.0)
    with pytest.raises(ValueError):  # the caches disagree
        ops.reshape_and_cache_flash(key, key, kc, vc[:, :, :2], SLOTS, "fp8", 1.0, 1.0)
    with pytest.raises(TypeError):
        ops.reshape_and_cache_flash(key, key, kc.astype(np.float32), vc, SLOTS, "fp8", 1.0, 1.0)
    with pytest.raises(TypeError):  # uint16 rows need rows_dtype="bf16"
        ops.reshape_and_cache_flash(key.view(np.uint16)[..., ::2], key.view(np.uint16)[..., ::2], kc, vc, SLOTS,
                                    "fp8", 1.0, 1.0)
    with pytest.raises(ValueError):
        ops.reshape_and_cache_flash(key, key, kc, vc, SLOTS, "auto", 1.0, 1.0)
    with pytest.raises(ValueError):  # split caches must be dense
        ops.reshape_and_cache(key, key, np.zeros((NB, H, D // 16, BS, 32), np.uint8)[..., ::2],
                              np.zeros((NB, H, D, BS), np.uint8), SLOTS, "fp8", 1.0, 1.0)
    # No tokens: a no-op.
    ops.reshape_and_cache_flash(key[:0], key[:0], kc, vc, SLOTS[:0], "fp8", 1.0, 1.0)
    assert not kc.any()


def ref_amax(key, value, counted):
    """[K, V, K per head..., V per head...] by brute force: max |x| over the counted tokens, NaN ignored."""
    out = []
    per = []
    for x in (key, value):
        a = np.abs(as_f32(x)[counted]).astype(np.float64)
        a[np.isnan(a)] = 0.0
        per.append([a[:, h, :].max(initial=0.0) for h in range(x.shape[1])])
    out = [max(per[0], default=0.0), max(per[1], default=0.0)] + per[0] + per[1]
    return np.array(out, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint16])
def test_observe_amax_accumulates_and_skips_padding(dtype):
    key, value = rows(11, np.float32), rows(12, np.float32)
    key[3, 2, 5] = np.inf  # counts
    value[4, 1, :] = np.nan  # ignored
    value[1, 3, 0] = -6e4  # a padding token's value: must not count
    conv = (lambda x: f32_to_bf16(x)) if dtype == np.uint16 else (lambda x: x.astype(dtype))
    k, v = conv(key), conv(value)
    extra = {"rows_dtype": "bf16"} if dtype == np.uint16 else {}
    amax = np.zeros(ops.amax_size(H), np.float32)
    amax[1] = 7.0  # an earlier call's max: kept where this call sees less
    ops.observe_amax(k, v, amax, SLOTS, **extra)
    want = np.maximum(ref_amax(k, v, SLOTS >= 0), np.array([0, 7.0] + [0] * (2 * H), np.float32))
    np.testing.assert_array_equal(amax, want)
    # A second call without slot_mapping counts every token, the padding one included.
    ops.observe_amax(k, v, amax, None, **extra)
    np.testing.assert_array_equal(amax, np.maximum(want, ref_amax(k, v, np.ones(T, bool))))
    assert amax[1] == 6e4 if dtype != np.uint16 else amax[1] > 5.9e4  # the padding token counts now


def test_observe_amax_errors():
    key, value = rows(1, np.float32), rows(2, np.float32)
    with pytest.raises(ValueError, match="amax must be 10 contiguous float32"):
        ops.observe_amax(key, value, np.zeros(9, np.float32))
    with pytest.raises(ValueError, match="amax must be"):
        ops.observe_amax(key, value, np.zeros(ops.amax_size(H), np.float64))
    with pytest.raises(TypeError, match="rows_dtype"):
        ops.observe_amax(key.view(np.uint16)[:, :, :D], value.view(np.uint16)[:, :, :D], np.zeros(10, np.float32))
