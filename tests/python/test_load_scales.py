"""kvscale.load_scales on vLLM's fixtures and generated checkpoints, against independent parses of
the same files (json / a safetensors reader written here)."""
import json
import os
import struct

import numpy as np
import pytest

import kvscale
from conftest import SOURCE, bf16_to_f32

FIXTURES = [os.path.join(SOURCE, "examples", "llama2-7b", "kv_cache_scales.json"),
            os.path.join(SOURCE, "tests", "data", "vllm", "llama2-7b-fp8-kv", "kv_cache_scales.json"),
            os.path.join(SOURCE, "tests", "data", "vllm", "llama2-70b-fp8-kv", "kv_cache_scales.json")]


def json_scales(path, rank=0):
    """Rank `rank`'s scales as float32 (decimal -> nearest double -> nearest float, as the spec says)."""
    with open(path) as f:
        doc = json.load(f)
    layers = doc["kv_cache"]["scaling_factor"][str(rank)]
    return np.array([layers[str(i)] for i in range(len(layers))], dtype=np.float64).astype(np.float32), doc


@pytest.mark.parametrize("path", FIXTURES)
def test_vllm_fixtures(path):
    want, doc = json_scales(path)
    s = kvscale.load_scales(path)
    assert s.k.dtype == np.float32 and s.k.shape == want.shape
    assert np.array_equal(s.k, want) and np.array_equal(s.v, want)
    assert s.granularity == "tensor" and s.producer is None and s.source == "scales_file"
    assert s.model_type == doc["model_type"] and s.warnings == []
    ranks = len(doc["kv_cache"]["scaling_factor"])
    # With the file's own context: same values, and a wrong layer count is rejected.
    s = kvscale.load_scales(path, tp_size=ranks, tp_rank=ranks - 1, num_layers=len(want), model_type="llama")
    assert np.array_equal(s.k, json_scales(path, ranks - 1)[0])
    with pytest.raises(kvscale.ScalesError) as e:
        kvscale.load_scales(path, num_layers=len(want) + 1)
    d = e.value.diagnostics
    assert [x.code for x in d] == ["layer_missing"] * ranks
    assert d[0].location == "/kv_cache/scaling_factor/0" and str(len(want)) in d[0].message


def test_example_is_32_llama_layers():
    s = kvscale.load_scales(FIXTURES[0])
    assert s.k.shape == (32,) and s.k[0] == np.float32(0.0152239129)


def read_safetensors(path):
    """name -> float32 array of a safetensors file (F32 / BF16 only: what the examples hold)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        raw = data[t["data_offsets"][0]:t["data_offsets"][1]]
        if t["dtype"] == "F32":
            out[name] = np.frombuffer(raw, "<f4").astype(np.float32)
        elif t["dtype"] == "BF16":
            out[name] = bf16_to_f32(np.frombuffer(raw, "<u2"))
    return out


def checkpoint_tensors(directory):
    tensors = {}
    for f in sorted(os.listdir(directory)):
        if f.endswith(".safetensors"):
            tensors.update(read_safetensors(os.path.join(directory, f)))
    return tensors


def test_quark_checkpoint(checkpoints):
    d = checkpoints / "quark-fp8-kv"
    t = checkpoint_tensors(d)
    want_k = np.array([t["model.layers.%d.self_attn.k_scale" % i][0] for i in range(32)], np.float32)
    for path, source in ((d, "checkpoint"), (d / "model.safetensors", "safetensors")):
        s = kvscale.load_scales(path)
        assert s.source == source and s.granularity == "tensor"
        assert np.array_equal(s.k, want_k) and np.array_equal(s.v, want_k)
    s = kvscale.load_scales(str(d), tp_size=2, tp_rank=1)
    assert s.producer == "quark" and s.k.shape == (32,) and np.array_equal(s.k, want_k)


def test_per_head_checkpoint(checkpoints):
    d = checkpoints / "llmc-attn-head"
    t = checkpoint_tensors(d)
    want_v = np.stack([t["model.layers.%d.self_attn.v_scale" % i] for i in range(4)])
    s = kvscale.load_scales(d)
    assert s.granularity == "head" and s.producer == "compressed-tensors"
    assert s.k.shape == (4, 8) and s.v.dtype == np.float32 and np.array_equal(s.v, want_v)
    # vLLM's TP split: rank 1 of 2 holds heads 4..7.
    s = kvscale.load_scales(d, tp_size=2, tp_rank=1, num_layers=4)
    assert s.v.shape == (4, 4) and np.array_equal(s.v, want_v[:, 4:])


def test_rejected_scales_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "llama", "kv_cache": {"dtype": "float8_e5m2", "scaling_factor": '
                   '{"0": {"0": 1.0, "1": 0, "01": 2.0}}}, "extra": true}')
    with pytest.raises(kvscale.ScalesError) as e:
        kvscale.load_scales(bad)
    got = [(d.code, d.location) for d in e.value.diagnostics]
    assert ("dtype_mismatch", "/kv_cache/dtype") in got
    assert ("scale_out_of_range", "/kv_cache/scaling_factor/0/1") in got
    assert ("key_not_canonical", "/kv_cache/scaling_factor/0/01") in got
    assert all(d.message for d in e.value.diagnostics) and "bad.json" in str(e.value)
    # vLLM's fallback keeps the diagnostics and gives 1.0.
    s = kvscale.load_scales(bad, num_layers=2, unit_fallback=True)
    assert s.used_fallback and np.array_equal(s.k, np.ones(2, np.float32)) and len(s.diagnostics) == 3
    with pytest.raises(kvscale.ScalesError) as e:
        kvscale.load_scales(tmp_path / "missing.json")
    assert [d.code for d in e.value.diagnostics] == ["file_not_found"]


def test_rejected_checkpoint(checkpoints, tmp_path):
    src = checkpoints / "quark-fp8-kv"
    dst = tmp_path / "ckpt"
    dst.mkdir()
    for f in os.listdir(src):
        (dst / f).write_bytes((src / f).read_bytes())
    config = json.loads((dst / "config.json").read_text())
    del config["num_hidden_layers"]
    (dst / "config.json").write_text(json.dumps(config))
    with pytest.raises(kvscale.ScalesError) as e:
        kvscale.load_scales(dst)
    d = e.value.diagnostics[0]
    assert d.code == "config_invalid" and d.file == "config.json" and d.location.startswith("config.json:")
    # A context that disagrees with the config.
    with pytest.raises(kvscale.ScalesError) as e:
        kvscale.load_scales(src, num_layers=31)
    assert [x.code for x in e.value.diagnostics] == ["context_mismatch"]


def test_warnings(tmp_path):
    f = tmp_path / "w.json"
    f.write_text('{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": '
                 '{"0": {"0": 0.5}}}, "note": 1}')
    s = kvscale.load_scales(str(f))
    assert [(w.code, w.location) for w in s.warnings] == [("unknown_key", "/note")]


def test_effective_scale():
    assert kvscale.effective_scale(0.25, "e4m3fnuz") == 0.5 and kvscale.effective_scale(0.25, "e4m3fn") == 0.25


def test_generated_checkpoints(tmp_path):
    """60 seeded checkpoints of tests/checkpoint/gen_checkpoints.py (every producer convention, sharded,
    bare files, one mutation per invalid case), with and without TP contexts, against the independent
    spec model tests/checkpoint/spec_model.py: validity, the model's primary codes among the
    diagnostics, producer, granularity, and every scale of the context's rank bit for bit."""
    import sys
    sys.path.insert(0, os.path.join(SOURCE, "tests", "checkpoint"))
    import gen_checkpoints as gen
    import spec_model as model
    seen = set()
    for p in gen.generate(20261127, 60):
        path = gen.write_plan(p, str(tmp_path / ("c%d" % p.case)), p.case)
        for ctx in [None] + [{"tp_size": t, "tp_rank": r} for t, r, _ in p.ctxs]:
            m = model.evaluate(path, ctx)
            where = "case %d (%s, %s), context %s" % (p.case, p.convention, p.intent["mutation"], ctx)
            kw = {} if ctx is None else dict(ctx)
            if not m.valid:
                with pytest.raises(kvscale.ScalesError) as e:
                    kvscale.load_scales(path, **kw)
                assert {d.code for d in e.value.diagnostics} & m.primary, where
                seen.add("rejected")
                continue
            s = kvscale.load_scales(path, **kw)
            assert (s.producer, s.granularity) == (m.producer, m.granularity), where
            rank = 0 if ctx is None else ctx["tp_rank"]
            rows = {str(k): v for k, v in m.k_scales.items()}[str(rank)], \
                {str(k): v for k, v in m.v_scales.items()}[str(rank)]
            for got, want in zip((s.k, s.v), rows):
                # the model's values are float32 already; per-tensor entries of a mixed table fill every head
                want = np.array([np.broadcast_to(np.asarray(e, np.float32), got.shape[1:]) for e in want])
                assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), where
            seen.add(s.granularity)
    assert {"rejected", "tensor", "head"} <= seen
