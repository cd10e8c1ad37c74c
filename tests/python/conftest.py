"""Shared fixtures: the repository, the example checkpoints, and an independent FP8 reference."""
import os
import subprocess
import sys

import numpy as np
import pytest

SOURCE = os.environ.get("KVSCALE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def source_dir():
    return SOURCE


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """quark-fp8-kv (32 layers, per tensor) and llmc-attn-head (4 layers x 8 heads, BF16, sharded)."""
    out = tmp_path_factory.mktemp("checkpoints")
    subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "checkpoints", "make_examples.py"), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


# ---- an FP8 reference written from the format's definition (independent of kvscale) ----

def decode_table(fmt):
    """float64 value of each of the 256 codes (NaN codes: nan)."""
    bias = 7 if fmt == "e4m3fn" else 8
    c = np.arange(256)
    e, m = (c >> 3) & 0xF, c & 7
    mag = np.where(e > 0, np.ldexp(1.0 + m / 8.0, e - bias), np.ldexp(m / 8.0, 1 - bias))
    val = np.where(c & 0x80, -mag, mag)
    nan = ((c & 0x7F) == 0x7F) if fmt == "e4m3fn" else (c == 0x80)
    return np.where(nan, np.nan, val)


def ref_encode(fmt, y):
    """Codes of float32 y: nearest representable value, ties to the even code, saturating; NaN -> the
    canonical NaN code; fnuz has no -0."""
    y = np.asarray(y, dtype=np.float32)
    table = decode_table(fmt)
    top = 0x7E if fmt == "e4m3fn" else 0x7F
    mags = table[: top + 1]  # increasing
    a = np.abs(y.astype(np.float64))
    hi = np.clip(np.searchsorted(mags, a), 1, top)
    lo = hi - 1
    dlo, dhi = a - mags[lo], mags[hi] - a
    pick = np.where((dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0)), hi, lo)
    pick = np.where(a >= mags[top], top, pick)
    neg = np.signbit(y)
    if fmt == "e4m3fnuz":
        neg &= pick != 0
    code = (pick | np.where(neg, 0x80, 0)).astype(np.uint8)
    return np.where(np.isnan(y), np.uint8(0x7F if fmt == "e4m3fn" else 0x80), code).astype(np.uint8)


def ref_quantize(fmt, x, scale):
    with np.errstate(invalid="ignore", over="ignore"):  # inf / NaN inputs: IEEE results, on purpose
        return ref_encode(fmt, np.asarray(x, np.float32) / np.float32(scale))


def ref_dequantize(fmt, q, scale):
    return (decode_table(fmt)[np.asarray(q)].astype(np.float32) * np.float32(scale)).astype(np.float32)


def bf16_to_f32(u16):
    return (np.asarray(u16, np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(f):
    """Round to nearest even; NaN -> a quiet NaN."""
    b = np.asarray(f, np.float32).view(np.uint32)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(f), np.uint16(0x7FC0) | ((b >> 16) & 0x8000).astype(np.uint16), r)
