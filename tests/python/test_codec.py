"""kvscale.quantize / dequantize on numpy (the CPU backend) against the reference in conftest.py:
every float16 and every bfloat16 input, every code, for both formats and several scales."""
import numpy as np
import pytest

import kvscale
from conftest import bf16_to_f32, f32_to_bf16, ref_dequantize, ref_quantize

FORMATS = ["e4m3fn", "e4m3fnuz"]
SCALES = [1.0, 0.0152239129, 3.0]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scale", SCALES)
def test_quantize_every_f16_and_bf16(fmt, scale):
    bits = np.arange(65536, dtype=np.uint16)
    f16 = bits.view(np.float16)
    q = kvscale.quantize(f16, scale, format=fmt)
    assert q.dtype == np.uint8 and q.shape == f16.shape
    assert np.array_equal(q, ref_quantize(fmt, f16.astype(np.float32), scale))
    q = kvscale.quantize(bits, scale, format=fmt, dtype="bf16")
    assert np.array_equal(q, ref_quantize(fmt, bf16_to_f32(bits), scale))


@pytest.mark.parametrize("fmt", FORMATS)
def test_quantize_f32(fmt):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(20000).astype(np.float32) * 300,
                        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 3e38], np.float32),
                        rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32)])
    x = x.reshape(8, -1)  # any shape, same shape back
    for scale in SCALES:
        q = kvscale.quantize(x, scale, format=fmt)
        assert q.shape == x.shape and np.array_equal(q, ref_quantize(fmt, x, scale))
    # a non-contiguous view is copied first
    assert np.array_equal(kvscale.quantize(x[:, ::3], 2.0, fmt), ref_quantize(fmt, x[:, ::3], 2.0))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scale", SCALES)
def test_dequantize_every_code(fmt, scale):
    q = np.arange(256, dtype=np.uint8)
    want = ref_dequantize(fmt, q, scale)
    nan = np.isnan(want)
    got = kvscale.dequantize(q, scale, format=fmt)
    assert got.dtype == np.float32
    assert np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))
    got = kvscale.dequantize(q, scale, format=fmt, dtype="float16")
    assert got.dtype == np.float16 and np.array_equal(got[~nan].view(np.uint16), want[~nan].astype(np.float16).view(np.uint16))
    got = kvscale.dequantize(q, scale, format=fmt, dtype="bf16")
    assert got.dtype == np.uint16 and np.array_equal(got[~nan], f32_to_bf16(want)[~nan])
    assert np.all(np.isnan(bf16_to_f32(got[nan])))


def test_codec_errors():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError):
        kvscale.quantize(x, [1.0, 2.0])
    with pytest.raises(ValueError):
        kvscale.quantize(x, 1.0, format="e5m2")
    with pytest.raises(TypeError):
        kvscale.quantize(np.ones(4, np.float64), 1.0)
    with pytest.raises(TypeError):
        kvscale.quantize(np.ones(4, np.uint16), 1.0)  # bf16 needs dtype="bf16"
    with pytest.raises(TypeError):
        kvscale.dequantize(x, 1.0)
    with pytest.raises(ValueError):
        kvscale.dequantize(np.zeros(4, np.uint8), 1.0, dtype="float64")
    assert kvscale.quantize(np.zeros(0, np.float32), 1.0).shape == (0,)  # size 0: a no-op
    assert kvscale.dequantize(np.zeros((0, 3), np.uint8), 1.0).shape == (0, 3)
