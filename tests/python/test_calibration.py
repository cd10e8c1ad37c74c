"""kvscale.scales_from_amax and the Scales writers: observe_amax -> scales -> a file that loads
back, against a brute-force numpy reference (scale = float32(amax) / 448, FLT_MIN below)."""
import os
import subprocess

import numpy as np
import pytest

import kvscale
from kvscale import ops
from conftest import SOURCE

FLT_MIN = np.float32(np.finfo(np.float32).tiny)


def ref_scale(amax):
    s = np.float32(amax) / np.float32(448.0)
    return np.where(s < FLT_MIN, FLT_MIN, s).astype(np.float32)


def calibrate(layers, heads, tokens=40, seed=3):
    """observe_amax over random K/V per layer (layer 1 all zeros), and the reference amax."""
    rng = np.random.default_rng(seed)
    size = ops.amax_size(heads)
    amax = np.zeros(layers * size, np.float32)
    want = np.zeros((layers, size), np.float32)
    for layer in range(layers):
        k = (rng.standard_normal((tokens, heads, 16)) * (layer + 1)).astype(np.float32)
        v = (rng.standard_normal((tokens, heads, 16)) * 0.01).astype(np.float32)
        if layer == 1:
            k[:] = 0
            v[:] = 0
        for chunk in (slice(0, tokens // 2), slice(tokens // 2, tokens)):  # two calls accumulate
            ops.observe_amax(k[chunk], v[chunk], amax[layer * size:(layer + 1) * size])
        want[layer] = np.concatenate([[np.abs(k).max(), np.abs(v).max()], np.abs(k).max(axis=(0, 2)),
                                      np.abs(v).max(axis=(0, 2))])
    return amax, want


def test_per_tensor_matches_reference_and_writes_json(tmp_path):
    amax, want = calibrate(3, 2)
    np.testing.assert_array_equal(amax.reshape(3, -1), want)
    s = kvscale.scales_from_amax(amax, num_layers=3, num_kv_heads=2, model_type="llama")
    assert s.source == "calibration" and s.granularity == "tensor" and s.floored == 2
    assert s.k.dtype == np.float32 and s.k.shape == (3,)
    np.testing.assert_array_equal(s.k, ref_scale(want[:, 0]))
    np.testing.assert_array_equal(s.v, ref_scale(want[:, 1]))
    assert s.k[1] == FLT_MIN and s.v[1] == FLT_MIN
    path = tmp_path / "kv_cache_scales.json"
    with pytest.raises(kvscale.KvscaleError) as e:
        s.write_json(path)  # K != V: the format needs the max merge
    assert e.value.status == "invalid_argument"
    assert not path.exists()
    s.write_json(path, merge="max")
    back = kvscale.load_scales(path, tp_size=1, tp_rank=0, num_layers=3, model_type="llama")
    np.testing.assert_array_equal(back.k, np.maximum(s.k, s.v))
    np.testing.assert_array_equal(back.v, np.maximum(s.k, s.v))
    with pytest.raises(kvscale.KvscaleError):
        s.write_json(path, merge="max")  # exists, no force
    s.write_json(path, merge="max", force=True)
    cli = os.environ.get("KVSCALE_CLI_PATH")
    if cli:  # set by ctest (test_cli.py requires it); the CLI accepts what the writer wrote
        r = subprocess.run([cli, "validate", str(path), "--tp-size", "1", "--tp-rank", "0", "--num-layers", "3",
                            "--model-type", "llama"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_per_head_round_trips_through_safetensors(tmp_path):
    amax, want = calibrate(4, 3, seed=5)
    s = kvscale.scales_from_amax(amax.tolist(), num_layers=4, num_kv_heads=3, granularity="head")
    assert s.granularity == "head" and s.heads_per_rank == 3 and s.k.shape == (4, 3)
    np.testing.assert_array_equal(s.k, ref_scale(want[:, 2:5]))
    np.testing.assert_array_equal(s.v, ref_scale(want[:, 5:8]))
    path = tmp_path / "scales.safetensors"
    s.write_safetensors(path)
    back = kvscale.load_scales(path)
    assert back.source == "safetensors" and back.granularity == "head"
    np.testing.assert_array_equal(back.k, s.k)
    np.testing.assert_array_equal(back.v, s.v)


def test_several_ranks():
    heads, layers = 2, 2
    amax = np.arange(1, 2 * layers * ops.amax_size(heads) + 1, dtype=np.float32)
    s = kvscale.scales_from_amax(amax, num_layers=layers, num_kv_heads=heads, tp_size=2, granularity="head")
    assert s.tp_size == 2 and s.rank == 0
    np.testing.assert_array_equal(s.k, ref_scale(amax.reshape(2, layers, -1)[0, :, 2:4]))


def test_loaded_scales_convert(tmp_path):
    s = kvscale.load_scales(os.path.join(SOURCE, "examples", "llama2-7b", "kv_cache_scales.json"))
    path = tmp_path / "out.safetensors"
    s.write_safetensors(path)
    np.testing.assert_array_equal(kvscale.load_scales(path).k, s.k)
    with pytest.raises(ValueError):
        s.write_json(tmp_path / "x.json", merge="min")


def test_errors():
    amax, _ = calibrate(2, 1)
    bad = amax.copy()
    bad[ops.amax_size(1) + 3] = np.nan  # layer 1, V head 0
    with pytest.raises(kvscale.KvscaleError) as e:
        kvscale.scales_from_amax(bad, num_layers=2, num_kv_heads=1, granularity="head")
    assert e.value.status == "invalid_argument" and "rank 0 layer 1 V head 0 amax is NaN" in str(e.value)
    bad[0] = np.inf
    with pytest.raises(kvscale.KvscaleError, match="rank 0 layer 0 K amax is inf"):
        kvscale.scales_from_amax(bad, num_layers=2, num_kv_heads=1)
    with pytest.raises(ValueError, match="amax holds 8 values"):
        kvscale.scales_from_amax(amax, num_layers=3, num_kv_heads=1)
    with pytest.raises(ValueError, match="granularity"):
        kvscale.scales_from_amax(amax, num_layers=2, num_kv_heads=1, granularity="channel")
    with pytest.raises(kvscale.KvscaleError, match="must be > 0"):
        kvscale.scales_from_amax([], num_layers=0, num_kv_heads=1)
