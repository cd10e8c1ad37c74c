#!/usr/bin/env python3
"""Writes two small example checkpoints for trying kvscale on checkpoint scales (stdlib only):

    examples/checkpoints/make_examples.py OUTDIR

  OUTDIR/quark-fp8-kv       a Quark `fp8` export: 32 layers, 8 KV heads, self_attn.k_scale/v_scale
                            as 0-d F32 tensors (K = V), config.json + model.safetensors
  OUTDIR/llmc-attn-head     an llm-compressor `attn_head` export: 4 layers, 8 KV heads,
                            BF16 [8,1,1] per-head k_scale/v_scale, sharded (index + 2 shards)

Weights are placeholders (small BF16 tensors) that kvscale never reads. The files are written by
tests/checkpoint/gen_checkpoints.py's safetensors writer.
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "checkpoint"))
import gen_checkpoints as g  # noqa: E402


def scale(layer, kv, head=0):
    # Calibration-like values: amax / 448 for amax between about 4 and 40.
    return (6.0 + 20.0 * (0.5 + 0.5 * math.sin(1.7 * layer + 0.9 * head + (0.4 if kv == "v" else 0.0)))) / 448.0


def config(layers, quant):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": layers,
            "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096,
            "quantization_config": quant}


def quark(out):
    os.makedirs(out, exist_ok=True)
    f = g.SFile("model.safetensors")
    f.tensors.append(g.T("model.embed_tokens.weight", "BF16", [64, 64]))
    for layer in range(32):
        s = g.f32_round(scale(layer, "k"))
        for kv in ("k", "v"):
            name = "model.layers.%d.self_attn.%s_scale" % (layer, kv)
            data, _ = g.encode("F32", [s])
            f.tensors.append(g.T(name, "F32", [], data=data))
        f.tensors.append(g.T("model.layers.%d.self_attn.q_proj.weight" % layer, "BF16", [64, 64]))
    g.write_sfile(os.path.join(out, f.name), f)
    quant = {"quant_method": "quark", "export": {"kv_cache_group": ["*k_proj", "*v_proj"]},
             "kv_cache_quant_config": {"*k_proj": {"dtype": "fp8_e4m3", "qscheme": "per_tensor"}}}
    with open(os.path.join(out, "config.json"), "w") as c:
        json.dump(config(32, quant), c, indent=1)


def llmc(out):
    os.makedirs(out, exist_ok=True)
    shards = [g.SFile("model-00001-of-00002.safetensors"), g.SFile("model-00002-of-00002.safetensors")]
    weight_map = {}
    for layer in range(4):
        f = shards[layer // 2]
        for kv in ("k", "v"):
            data, _ = g.encode("BF16", [scale(layer, kv, h) for h in range(8)])
            f.tensors.append(g.T("model.layers.%d.self_attn.%s_scale" % (layer, kv), "BF16", [8, 1, 1], data=data))
        f.tensors.append(g.T("model.layers.%d.self_attn.k_proj.weight" % layer, "BF16", [64, 64]))
    for f in shards:
        g.write_sfile(os.path.join(out, f.name), f)
        weight_map.update({t.name: f.name for t in f.tensors})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as i:
        json.dump({"metadata": {}, "weight_map": weight_map}, i, indent=1)
    quant = {"quant_method": "compressed-tensors",
             "kv_cache_scheme": {"num_bits": 8, "type": "float", "strategy": "attn_head", "dynamic": False,
                                 "symmetric": True}}
    with open(os.path.join(out, "config.json"), "w") as c:
        json.dump(config(4, quant), c, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    quark(os.path.join(sys.argv[1], "quark-fp8-kv"))
    llmc(os.path.join(sys.argv[1], "llmc-attn-head"))
    print("wrote %s/quark-fp8-kv and %s/llmc-attn-head" % (sys.argv[1], sys.argv[1]))
