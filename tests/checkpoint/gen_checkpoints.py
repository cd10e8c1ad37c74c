#!/usr/bin/env python3
"""Synthetic Hugging Face checkpoints with KV-cache scales, valid and deliberately broken.

Stdlib only: safetensors files are written by hand (u64 LE header length, JSON header, buffer).
Spec: docs/checkpoint-scales.md (/work/shared/spec/checkpoint-scales.md). Producer conventions:
/work/shared/notes/checkpoint-scales.md.

A checkpoint is first built as a Plan (config dict, safetensors files as tensor lists, index
edits, filesystem tricks), then mutated, then written. Every Plan records the verdict it is meant
to have (`intent`: valid or not, the code it is built to trigger, warnings it must raise) and, for
valid plans, the float32 scales the generator put in (`expect`). spec_model.py never reads these:
it reads the files, so the self-check (differential.py --self-check) compares two independent
derivations.

Conventions (base builders, CONVENTIONS below):
  quark_fp8        Quark fp8 export: self_attn.k_scale/v_scale, 0-d F32, K == V,
                   quant_method quark + export.kv_cache_group
  quark_quark      Quark quark export: self_attn.k_proj.output_scale/v_proj.output_scale, 0-d F32
  quark_kvcfg      as quark_fp8 but declared through kv_cache_quant_config (kv_cache_group empty)
  ct_tensor        llm-compressor: self_attn.k_scale/v_scale [1], BF16 (or F16/F32),
                   kv_cache_scheme strategy tensor (or strategy absent)
  ct_head          llm-compressor attn_head: [H,1,1] (or [H]), BF16, strategy attn_head
  ct_output        older compressed-tensors: k_proj.output_scale/v_proj.output_scale [1]
  modelopt         self_attn.k_proj.k_scale/v_proj.v_scale, F32 [], clamped >= 1.0, kv_cache_quant_algo FP8
                   (sometimes also kv_cache_scheme without strategy)
  vllm_fp8         quant_method fp8, self_attn.k_scale/v_scale F32 [], no KV declaration (warning)
  kv_scale         deprecated self_attn.kv_scale (one tensor for K and V)
  remapped         self_attn.attn.k_scale/v_scale
  mixed            undeclared or ModelOpt-algo-only, K/V per tensor or per head by layer ("mixed")
  undeclared       no quantization_config at all, self_attn.k_scale/v_scale (warning)
Prefixes: model., model.language_model., language_model.model., transformer., "" ; multimodal
configs (text_config holds the text model's keys, vision_config has its own num_hidden_layers);
scale dtypes F32/F16/BF16/F64; layouts single / sharded (index) / HF-cache symlinks / bare file;
weights (pattern 0xDEADBEEF, never to be read) optionally large and sparse.

CLI:  gen_checkpoints.py OUTDIR [--count N] [--seed S] [--sparse-gib G] [--valid-only]
      writes OUTDIR/case_NNNNN/... and OUTDIR/manifest.json (path, intent, contexts per case).
"""
import argparse
import json
import math
import os
import random
import struct

# --------------------------------------------------------------------------------------------
# Encoding

DT_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
           "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
WEIGHT_PATTERN = b"\xde\xad\xbe\xef"


def f32_round(x):
    """Nearest float32 (RNE) of a Python float, as a Python float; overflow gives +-inf."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", f32_round(x)))[0]


def bf16_bits(x):
    """bf16 = top 16 bits of the float32, rounded to nearest even (NaN kept quiet)."""
    b = f32_bits(x)
    if (b & 0x7F800000) == 0x7F800000 and (b & 0x7FFFFF):
        return (b >> 16) | 0x40
    b += 0x7FFF + ((b >> 16) & 1)
    return (b >> 16) & 0xFFFF


def encode(dtype, values):
    """(bytes, float32 values as stored) for scale dtypes; raw integers for the others."""
    out, got = bytearray(), []
    for v in values:
        if dtype == "F32":
            out += struct.pack("<f", f32_round(v)); got.append(f32_round(v))
        elif dtype == "F64":
            out += struct.pack("<d", v); got.append(f32_round(v))
        elif dtype == "F16":
            try:
                out += struct.pack("<e", v)
            except OverflowError:
                out += struct.pack("<H", 0x7C00 if v > 0 else 0xFC00)
            got.append(struct.unpack("<e", out[-2:])[0])
        elif dtype == "BF16":
            b = bf16_bits(v)
            out += struct.pack("<H", b); got.append(struct.unpack("<f", struct.pack("<I", b << 16))[0])
        elif dtype in ("I32", "U32"):
            out += struct.pack("<i", int(v) if math.isfinite(v) else 1); got.append(None)
        elif dtype in ("I64", "U64"):
            out += struct.pack("<q", int(v) if math.isfinite(v) else 1); got.append(None)
        elif dtype in ("I16", "U16"):
            out += struct.pack("<h", 1); got.append(None)
        else:  # one-byte types: F8_*, I8, U8, BOOL
            out += b"\x38"; got.append(None)
    return bytes(out), got


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# --------------------------------------------------------------------------------------------
# Plan

class T:
    """A tensor. role: ('scale', layer, 'K'|'V'|'KV', prefix) | ('qscale',) | ('weight',)."""

    def __init__(self, name, dtype, shape, data=None, role=("weight",), values=None):
        self.name, self.dtype, self.shape, self.data, self.role = name, dtype, list(shape), data, role
        self.values = values  # float32 values as stored (scales)
        self.unindexed = False  # left out of weight_map

    @property
    def nbytes(self):
        if self.data is not None:
            return len(self.data)
        return numel(self.shape) * DT_SIZE[self.dtype]

    def is_scale(self):
        return self.role[0] == "scale"


class SFile:
    def __init__(self, name):
        self.name = name
        self.tensors = []
        self.metadata = {"format": "pt"}
        self.order = "insertion"  # header key order: insertion | sorted | shuffled
        self.entry_edits = []  # callables(entries) -> entries; entries = [[key, value], ...]
        self.text_edit = None  # callable(header text) -> text
        self.bom = False
        self.pad = True
        self.force_n = None  # header length field override
        self.n_delta = 0
        self.gap_after = None  # tensor index after which 8 uncovered bytes are inserted
        self.tail = b""
        self.truncate = 0  # bytes cut from the end
        self.sparse_from = 1 << 62  # weights of at least this many bytes are sparse holes
        self.raw = None  # whole-file override (bytes)
        self.sparse_size = None  # (bytes, total size): raw prefix then a hole to total size


class Plan:
    def __init__(self):
        self.kind = "dir"  # dir | bare
        self.convention = None
        self.config = None  # dict
        self.config_text = None  # raw override
        self.config_mode = "file"  # file | missing | dir
        self.files = []
        self.sharded = False
        self.index_edits = []  # callables(index dict) -> index dict
        self.index_text = None
        self.fs_edits = []  # callables(root dir, plan)
        self.hf_cache = False
        self.bare_name = "kv_scales.safetensors"
        self.L = 0
        self.H = 0
        self.intent = {"valid": True, "code": None, "warnings": [], "mutation": None}
        self.expect = None  # {'K': [entry per layer], 'V': [...]} entry = float or [floats]
        self.ctxs = []  # [(tp_size, tp_rank, intended code or None)]
        self.declared = False
        self.strategy = None  # compressed-tensors strategy, when declared with kv_cache_scheme

    def scales(self):
        return [(f, t) for f in self.files for t in f.tensors if t.is_scale()]

    def all_tensors(self):
        return [(f, t) for f in self.files for t in f.tensors]

    def reject(self, code, mutation):
        self.intent.update(valid=False, code=code, mutation=mutation)
        self.expect = None


# --------------------------------------------------------------------------------------------
# Base checkpoints

PREFIXES = ["model.", "model.", "model.", "model.language_model.", "language_model.model.", "transformer.", ""]
CONVENTIONS = ["quark_fp8", "quark_quark", "quark_kvcfg", "ct_tensor", "ct_tensor", "ct_head", "ct_head",
               "ct_output", "modelopt", "modelopt", "vllm_fp8", "kv_scale", "remapped", "mixed", "undeclared"]
MODEL_TYPES = ["llama", "qwen2", "mistral", "qwen3", "gemma2", "phi3", "granite"]


def quant_config(rng, conv, strategy):
    if conv in ("quark_fp8", "quark_quark", "quark_kvcfg"):
        spec = {"dtype": "fp8_e4m3", "qscheme": "per_tensor", "is_dynamic": False, "observer_cls": "PerTensorMinMaxObserver"}
        qc = {"quant_method": "quark", "algo_config": None,
              "global_quant_config": {"weight": dict(spec), "input_tensors": dict(spec), "output_tensors": None},
              "layer_quant_config": {"*k_proj": {"output_tensors": dict(spec)}, "*v_proj": {"output_tensors": dict(spec)}},
              "exclude": ["lm_head"],
              "export": {"kv_cache_group": ["*k_proj", "*v_proj"], "min_kv_scale": 0.0, "pack_method": "reorder",
                         "weight_format": "real_quantized", "weight_merge_groups": None},
              "quant_mode": "eager_mode", "version": "0.9"}
        if conv == "quark_kvcfg":
            qc["export"]["kv_cache_group"] = []
            qc["kv_cache_quant_config"] = {"*k_proj": dict(spec), "*v_proj": dict(spec)}
        return qc
    if conv in ("ct_tensor", "ct_head", "ct_output", "kv_scale_ct"):
        scheme = {"num_bits": 8, "type": "float", "dynamic": False, "symmetric": True}
        if strategy is not None:
            scheme["strategy"] = strategy
        return {"quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
                "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float",
                                                                                    "strategy": "channel"}}},
                "ignore": ["lm_head"], "kv_cache_scheme": scheme}
    if conv == "modelopt":
        qc = {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8",
              "exclude_modules": ["lm_head"], "producer": {"name": "modelopt", "version": "0.29.0"}}
        if rng.random() < 0.4:
            qc["kv_cache_scheme"] = {"dynamic": False, "num_bits": 8, "type": "float"}
        return qc
    if conv in ("vllm_fp8", "kv_scale_fp8"):
        return {"quant_method": "fp8", "activation_scheme": "static", "ignored_layers": ["lm_head"]}
    if conv == "mixed_modelopt":
        return {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}
    if conv == "other":
        return {"quant_method": "gptq", "bits": 4, "group_size": 128}
    return None


def make_config(rng, plan, mt, L, nh, nkv, qc, multimodal):
    text = {"model_type": mt, "num_hidden_layers": L, "num_attention_heads": nh, "hidden_size": 8 * nh,
            "torch_dtype": "bfloat16", "vocab_size": 16, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096}
    if nkv != nh or rng.random() < 0.7:
        text["num_key_value_heads"] = nkv
    if not multimodal:
        cfg = {"architectures": ["LlamaForCausalLM"], **text}
    else:
        top_mt = rng.choice(["llava", "mistral3", "gemma3", "qwen2_5_vl"])
        cfg = {"architectures": ["LlavaForConditionalGeneration"], "model_type": top_mt, "text_config": text,
               "vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": L + 3,
                                 "num_attention_heads": 3, "hidden_size": 24}, "image_token_index": 10}
        if rng.random() < 0.25:
            del cfg["model_type"]
    if qc is not None:
        cfg["quantization_config"] = qc
    return cfg


# Positive values that stay finite and > 0 in float32 (F64 ones round: 3.40282356e38 -> FLT_MAX,
# 7.1e-46 -> 2^-149), and (below) ones that do not.
EDGE_VALUES = {"F64": [3.40282356e38, 1e-40, 7.1e-46, 2.0 ** -149, 1.0000000000000002],
               "F32": [2.0 ** -149, 1e-40, 3.4028234663852886e38, 1.1754942e-38],
               "F16": [2.0 ** -24, 65504.0, 6.1e-5],
               "BF16": [1e-38, 2.0 ** -133, 3.3e38]}
BAD_F64 = [3.40282357e38, 7e-46, 1e-300, -1e-50, 1e300]


def scale_value(rng, conv):
    if conv == "modelopt":
        return max(1.0, rng.uniform(0.5, 3.0))  # ModelOpt clamps to >= 1
    return rng.choice([rng.uniform(0.001, 0.3), rng.uniform(0.01, 0.05), 10 ** rng.uniform(-4, 1)])


def add_weights(rng, f, name_prefix, shapes, dtype="BF16"):
    for suffix, shape in shapes:
        f.tensors.append(T(name_prefix + suffix, dtype, shape))


def build_base(rng, conv=None, layout=None, bare=False, sparse_bytes=0):
    """A valid checkpoint of one convention."""
    p = Plan()
    conv = conv or rng.choice(CONVENTIONS)
    p.convention = conv
    if bare:
        conv = rng.choice(["bare_tensor", "bare_head"])
        p.convention = conv
        p.kind = "bare"
    L = rng.choice([1, 2, 3, 4, 5, 6, 8]) if rng.random() < 0.95 else rng.choice([32, 40])
    nkv = rng.choice([1, 2, 4, 8, 6]) if conv not in ("ct_head", "bare_head", "mixed") else rng.choice([2, 4, 8, 6, 3])
    nh = nkv * rng.choice([1, 1, 2, 4])
    p.L, p.H = L, nkv
    prefix = rng.choice(PREFIXES)
    multimodal = (not bare) and rng.random() < 0.2
    if multimodal and rng.random() < 0.8:
        prefix = rng.choice(["model.language_model.", "language_model.model."])
    strategy = None
    real_conv = conv
    if conv == "ct_tensor":
        strategy = rng.choice(["tensor", "tensor", None])
    elif conv == "ct_head":
        strategy = "attn_head"
    elif conv == "ct_output":
        strategy = rng.choice(["tensor", None])
    elif conv == "kv_scale":
        real_conv = rng.choice(["kv_scale_fp8", "kv_scale_ct"])
        strategy = "tensor" if real_conv == "kv_scale_ct" else None
    elif conv == "mixed":
        real_conv = rng.choice(["mixed_modelopt", "undeclared"])
    elif conv == "undeclared":
        real_conv = rng.choice(["undeclared", "undeclared", "other"])
    qc = None if bare else quant_config(rng, real_conv, strategy)
    p.strategy = strategy if (qc and "kv_cache_scheme" in qc) else None
    p.declared = bool(qc) and (qc.get("kv_cache_scheme") is not None or qc.get("kv_cache_quant_algo") is not None
                               or (qc.get("quant_method") == "quark" and (qc.get("export", {}).get("kv_cache_group")
                                                                          or qc.get("kv_cache_quant_config"))))
    if not bare:
        p.config = make_config(rng, p, rng.choice(MODEL_TYPES), L, nh, nkv, qc, multimodal)
        if not p.declared:
            p.intent["warnings"].append("kv_scheme_undeclared")

    # names, dtype, shapes
    names = {"quark_fp8": ("self_attn.k_scale", "self_attn.v_scale"),
             "quark_kvcfg": ("self_attn.k_scale", "self_attn.v_scale"),
             "quark_quark": ("self_attn.k_proj.output_scale", "self_attn.v_proj.output_scale"),
             "ct_output": ("self_attn.k_proj.output_scale", "self_attn.v_proj.output_scale"),
             "modelopt": ("self_attn.k_proj.k_scale", "self_attn.v_proj.v_scale"),
             "remapped": ("self_attn.attn.k_scale", "self_attn.attn.v_scale"),
             "kv_scale": ("self_attn.kv_scale", None)}.get(conv, ("self_attn.k_scale", "self_attn.v_scale"))
    if conv.startswith("quark") or conv in ("modelopt", "vllm_fp8", "kv_scale"):
        dtype = "F32" if rng.random() < 0.85 else rng.choice(["F16", "BF16", "F64"])
    elif conv.startswith("ct"):
        dtype = rng.choice(["BF16", "BF16", "BF16", "F16", "F32"])
    else:
        dtype = rng.choice(["F32", "F16", "BF16", "F64"])
    if conv.startswith("quark") or conv == "modelopt" or conv == "vllm_fp8" or conv == "kv_scale":
        t_shape = [] if rng.random() < 0.85 else [1]
    elif conv.startswith("ct"):
        t_shape = [1]
    else:
        t_shape = rng.choice([[], [1], [1, 1], [1, 1, 1]])
    h_shape = [nkv, 1, 1] if (conv != "ct_head" or rng.random() < 0.7) else [nkv]
    if conv in ("bare_head", "mixed", "remapped") and rng.random() < 0.5:
        h_shape = [nkv] if rng.random() < 0.5 else [nkv, 1, 1]
    per_head_layers = set()
    if conv in ("ct_head", "bare_head"):
        per_head_layers = set(range(L))
    elif conv == "mixed":
        per_head_layers = {l for l in range(L) if rng.random() < 0.5}
        if L >= 2 and not per_head_layers:
            per_head_layers = {0}
        if len(per_head_layers) == L and L >= 2:
            per_head_layers.discard(L - 1)
    mixed_kv = conv == "mixed" and rng.random() < 0.5  # K and V of a layer may differ too

    # files
    n_shards = 1
    if not bare:
        layout = layout or rng.choice(["single", "single", "sharded", "sharded", "hf_cache"])
        if layout in ("sharded", "hf_cache"):
            n_shards = rng.choice([2, 3, 4]) if layout == "sharded" else rng.choice([1, 2])
            n_shards = min(n_shards, L)  # every shard holds a layer: a shard the index never names is not read
        p.sharded = n_shards > 1 or (layout == "hf_cache" and rng.random() < 0.5)
        p.hf_cache = layout == "hf_cache"
    if bare:
        p.files = [SFile(p.bare_name)]
    elif not p.sharded:
        p.files = [SFile("model.safetensors")]
    else:
        p.files = [SFile(f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors") for i in range(n_shards)]
    for f in p.files:
        f.order = rng.choice(["insertion", "sorted", "sorted", "shuffled"])
        f.pad = rng.random() < 0.8
        if rng.random() < 0.1:
            f.metadata = None
        elif rng.random() < 0.2:
            f.metadata = {"format": "pt", "producer": conv}
        f.sparse_from = 4096 if sparse_bytes else 1 << 62

    big = sparse_bytes // max(1, 2 * L + 2) if sparse_bytes else 0
    with_weights = not bare or rng.random() < 0.4
    hidden = 8 * nh
    if with_weights:
        emb_shape = [16, hidden] if not big else [max(1, big // (2 * hidden)), hidden]
        p.files[0].tensors.append(T(prefix + "embed_tokens.weight", "BF16", emb_shape))
    expect = {"K": [None] * L, "V": [None] * L}
    for l in range(L):
        fi = min(n_shards - 1, l * n_shards // L)
        f = p.files[fi]
        lp = f"{prefix}layers.{l}."
        if with_weights:
            wrows = 4 if not big else max(4, big // (2 * hidden))
            add_weights(rng, f, lp, [("self_attn.q_proj.weight", [wrows, hidden]), ("self_attn.k_proj.weight", [4, hidden]),
                                     ("self_attn.v_proj.weight", [4, hidden]), ("self_attn.o_proj.weight", [hidden, 4]),
                                     ("input_layernorm.weight", [hidden]), ("mlp.down_proj.weight", [hidden, 4])])
            if conv in ("quark_fp8", "quark_quark", "modelopt", "vllm_fp8", "ct_tensor"):
                for w in ("q_proj", "k_proj", "v_proj", "o_proj"):
                    f.tensors.append(T(lp + f"self_attn.{w}.weight_scale", "F32", [], struct.pack("<f", 0.01)))
                    if rng.random() < 0.3:
                        f.tensors.append(T(lp + f"self_attn.{w}.input_scale", "F32", [], struct.pack("<f", 0.02)))
        sf = p.files[rng.randrange(n_shards)] if rng.random() < 0.2 else f  # scales not always beside weights
        if rng.random() < 0.1 and not bare:  # Q / softmax scales: recognized, never required
            qn, qd, qs = rng.choice([("self_attn.q_scale", "F32", []), ("self_attn.q_proj.output_scale", "F32", []),
                                     ("self_attn.prob_output_scale", "F32", []), ("self_attn.q_scale", "I32", [3])])
            data, _ = encode(qd, [0.5] * numel(qs))
            sf.tensors.append(T(lp + qn, qd, qs, data, role=("qscale",)))
        kv_head = l in per_head_layers
        expect_vals_k = []
        for kv, suffix in (("K", names[0]), ("V", names[1])):
            if suffix is None:
                continue
            head = kv_head if not (mixed_kv and kv == "V") else (not kv_head if L > 1 else kv_head)
            if conv == "kv_scale":
                vals = [scale_value(rng, conv)]
            elif head:
                vals = [scale_value(rng, conv) for _ in range(nkv)]
            else:
                vals = [scale_value(rng, conv)]
            if rng.random() < 0.04:
                # a value at the edge of float32 that is still finite and > 0 once converted
                vals[rng.randrange(len(vals))] = rng.choice(EDGE_VALUES[dtype])
            if kv == "V" and conv.startswith("quark") and not head:
                # Quark merges K and V with max: equal values
                vals = list(expect_vals_k)
            data, got = encode(dtype, vals)
            shape = (h_shape if head else t_shape)
            role_kv = "KV" if conv == "kv_scale" else kv
            sf.tensors.append(T(lp + suffix, dtype, shape, data, role=("scale", l, role_kv, prefix), values=got))
            entry = got if head else got[0]
            if role_kv == "KV":
                expect["K"][l] = expect["V"][l] = entry
            else:
                expect[kv][l] = entry
            if kv == "K":
                expect_vals_k = [(x) for x in got]
    if with_weights:
        p.files[0].tensors.append(T(prefix + "norm.weight", "BF16", [hidden]))
        p.files[-1].tensors.append(T("lm_head.weight", "BF16", [16, hidden]))
        if rng.random() < 0.1:
            p.files[-1].tensors.append(T(prefix + "empty.weight", "BF16", [0, hidden]))  # zero bytes: still valid
        if p.config and "text_config" in p.config and rng.random() < 0.7:
            # vision tower: contains "layers.N." but no KV-scale suffix
            for vl in range(2):
                p.files[0].tensors.append(T(f"vision_tower.vision_model.encoder.layers.{vl}.self_attn.k_proj.weight",
                                            "BF16", [4, 4]))
    if real_conv == "modelopt" and not bare and rng.random() < 0.5:
        def hf_quant(root, p):
            with open(os.path.join(root, "hf_quant_config.json"), "w") as fh:
                json.dump({"producer": {"name": "modelopt", "version": "0.29.0"},
                           "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}, fh)
        p.fs_edits.append(hf_quant)
    p.expect = expect
    return p


# --------------------------------------------------------------------------------------------
# Writing


def dump_pairs(pairs):
    return "{" + ",".join(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) for k, v in pairs) + "}"


def write_sfile(path, f, rng_seed=0):
    if f.raw is not None:
        with open(path, "wb") as out:
            out.write(f.raw)
            if f.sparse_size:
                out.truncate(f.sparse_size)
        return
    entries, chunks, off = [], [], 0
    for i, t in enumerate(f.tensors):
        n = t.nbytes
        entries.append([t.name, {"dtype": t.dtype, "shape": t.shape, "data_offsets": [off, off + n]}])
        chunks.append(t)
        off += n
        if f.gap_after == i:
            chunks.append(b"\0" * 8)
            off += 8
    if f.order == "sorted":
        entries.sort(key=lambda e: e[0])
    elif f.order == "shuffled":
        random.Random(rng_seed).shuffle(entries)
    if f.metadata is not None:
        entries.insert(0, ["__metadata__", f.metadata])
    for e in f.entry_edits:
        entries = e(entries)
    text = dump_pairs(entries)
    if f.text_edit:
        text = f.text_edit(text)
    hb = text.encode("utf-8", "surrogatepass")
    if f.bom:
        hb = b"\xef\xbb\xbf" + hb
    if f.pad:
        hb += b" " * ((8 - len(hb) % 8) % 8)
    n = len(hb) + f.n_delta if f.force_n is None else f.force_n
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", n))
        out.write(hb)
        for c in chunks:
            if isinstance(c, bytes):
                out.write(c)
            elif c.data is not None:
                out.write(c.data)
            elif c.nbytes >= f.sparse_from:
                out.seek(c.nbytes, os.SEEK_CUR)
            else:
                nb = c.nbytes
                out.write((WEIGHT_PATTERN * (nb // 4 + 1))[:nb])
        out.truncate(out.tell())
        out.write(f.tail)
        size = out.tell()
        if f.truncate:
            out.truncate(max(0, size - f.truncate))


def build_index(p, root=None):
    wm = {}
    for f in p.files:
        for t in f.tensors:
            if not t.unindexed:
                wm[t.name] = f.name
    total = sum(t.nbytes for f in p.files for t in f.tensors)
    idx = {"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}
    for e in p.index_edits:
        idx = e(idx, root)
    return idx


def write_plan(p, root, seed=0):
    """Writes the plan under root (a fresh directory). Returns the path to validate."""
    os.makedirs(root, exist_ok=True)
    if p.kind == "bare":
        path = os.path.join(root, p.bare_name)
        write_sfile(path, p.files[0], seed)
        return path
    if p.hf_cache:
        blobs = os.path.join(root, "blobs")
        snap = os.path.join(root, "snapshots", "0123abcd")
        os.makedirs(blobs)
        os.makedirs(snap)
        target = snap
    else:
        target = root

    def put(name, writer):
        if p.hf_cache:
            blob = os.path.join(root, "blobs", f"blob{len(os.listdir(os.path.join(root, 'blobs'))):04d}")
            writer(blob)
            os.symlink(os.path.relpath(blob, target), os.path.join(target, name))
        else:
            writer(os.path.join(target, name))

    def write_text(text):
        def w(path):
            with open(path, "wb") as out:
                out.write(text.encode("utf-8") if isinstance(text, str) else text)
        return w

    if p.config_mode == "file":
        put("config.json", write_text(p.config_text if p.config_text is not None else json.dumps(p.config, indent=2)))
    elif p.config_mode == "dir":
        os.makedirs(os.path.join(target, "config.json"))
    for i, f in enumerate(p.files):
        put(f.name, lambda path, f=f, i=i: write_sfile(path, f, seed + i))
    if p.sharded:
        text = p.index_text if p.index_text is not None else json.dumps(build_index(p, target), indent=2)
        put("model.safetensors.index.json", write_text(text))
    for e in p.fs_edits:
        e(target, p)
    return target


# --------------------------------------------------------------------------------------------
# Mutations. Each returns True when it applied (and set plan.intent), False when not applicable.

MUTATIONS = []


def mutation(name, code, weight=1.0, dirs_only=False, bare_only=False):
    def deco(fn):
        MUTATIONS.append((name, code, weight, dirs_only, bare_only, fn))
        return fn
    return deco


def pick_scale(rng, p, kv=None, granularity=None):
    c = [(f, t) for f, t in p.scales() if (kv is None or t.role[2] in (kv, "KV"))
         and (granularity is None or (granularity == "head") == (numel(t.shape) > 1))]
    return rng.choice(c) if c else (None, None)


# C1
@mutation("dup_kv_scale_beside_k", "duplicate_scale")
def m_dup_kv(rng, p):
    f, t = pick_scale(rng, p, "K", "tensor")
    if t is None or t.role[2] == "KV":
        return False
    l, prefix = t.role[1], t.role[3]
    data, got = encode("F32", [t.values[0]])
    f.tensors.append(T(f"{prefix}layers.{l}.self_attn.kv_scale", "F32", [], data, role=("scale", l, "KV", prefix), values=got))
    p.reject("duplicate_scale", "dup_kv_scale_beside_k")
    return True


@mutation("dup_two_prefixes", "duplicate_scale")
def m_dup_prefix(rng, p):
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    prefix = t.role[3]
    other = rng.choice([x for x in ["model.", "model.language_model.", "language_model.model.", "", "foo."] if x != prefix])
    name = other + t.name[len(prefix):]
    f2 = rng.choice(p.files)
    f2.tensors.append(T(name, t.dtype, t.shape, t.data, role=("scale", t.role[1], t.role[2], other), values=t.values))
    p.reject("duplicate_scale", "dup_two_prefixes")
    return True


@mutation("dup_two_conventions", "duplicate_scale")
def m_dup_conv(rng, p):
    f, t = pick_scale(rng, p, "K")
    if t is None:
        return False
    l, prefix = t.role[1], t.role[3]
    alts = ["self_attn.k_scale", "self_attn.attn.k_scale", "self_attn.k_proj.output_scale", "self_attn.k_proj.k_scale"]
    alts = [a for a in alts if not t.name.endswith("layers.%d.%s" % (l, a))]
    name = f"{prefix}layers.{l}." + rng.choice(alts)
    f.tensors.append(T(name, t.dtype, t.shape, t.data, role=("scale", l, "K", prefix), values=t.values))
    p.reject("duplicate_scale", "dup_two_conventions")
    return True


# C2
@mutation("dtype_unsupported", "scale_dtype_unsupported", 1.5)
def m_dtype(rng, p):
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    dt = rng.choice(["I32", "F8_E4M3", "F8_E5M2", "I8", "U8", "I64", "I16", "BOOL", "U32"])
    t.dtype = dt
    t.data, _ = encode(dt, [1.0] * numel(t.shape))
    p.reject("scale_dtype_unsupported", f"dtype_unsupported:{dt}")
    return True


# C3
@mutation("shape_invalid", "scale_shape_invalid", 2)
def m_shape(rng, p):
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    H = p.H
    cands = [[H, 1], [1, H], [H, 2, 1], [0], [H + 1], [2, 2], [H, 1, 1, 1], [1, H, 1], [3, 5]]
    if p.kind == "bare":
        cands = [[2, 3], [0], [1, 4], [4, 1], [2, 2, 1], [3, 1, 2]]
    cands = [c for c in cands if numel(c) != 1 and c != [H] and c != [H, 1, 1]]
    shape = rng.choice(cands)
    vals = [rng.uniform(0.01, 0.1) for _ in range(numel(shape))]
    t.shape = shape
    t.data, t.values = encode(t.dtype, vals)
    p.reject("scale_shape_invalid", f"shape_invalid:{shape}")
    return True


# C4
@mutation("value_out_of_range", "scale_out_of_range", 2)
def m_value(rng, p):
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    n = numel(t.shape)
    kind = rng.choice(["zero", "negative", "nan", "inf", "-inf", "negzero", "f64_overflow", "f64_underflow",
                       "bf16_inf", "f16_tiny", "f64_edge"])
    vals = [rng.uniform(0.01, 0.1) for _ in range(n)]
    bad = {"zero": 0.0, "negative": -rng.uniform(0.01, 1), "nan": math.nan, "inf": math.inf, "-inf": -math.inf,
           "negzero": -0.0, "f64_overflow": 1e39, "f64_underflow": 1e-50, "bf16_inf": math.inf, "f16_tiny": 1e-9,
           "f64_edge": rng.choice(BAD_F64)}[kind]
    dt = {"f64_overflow": "F64", "f64_underflow": "F64", "f64_edge": "F64", "bf16_inf": "BF16", "f16_tiny": "F16"}.get(kind, t.dtype)
    vals[rng.randrange(n)] = bad
    t.dtype = dt
    t.data, t.values = encode(dt, vals)
    p.reject("scale_out_of_range", f"value_out_of_range:{kind}:{dt}")
    return True


# C5
@mutation("layer_missing", "layer_missing", 2)
def m_layer_missing(rng, p):
    f, t = pick_scale(rng, p)
    layers = sorted({tt.role[1] for _, tt in p.scales()})
    if t is None or len(layers) < 2:
        return False
    how = rng.choice(["one", "layer"])
    if how == "one" and t.role[2] != "KV":
        f.tensors.remove(t)
    else:
        how = "layer"
        # a bare file's L comes from the names: never drop the top layer there
        l = rng.choice(layers[:-1]) if p.kind == "bare" else t.role[1]
        for ff, tt in p.scales():
            if tt.role[1] == l:
                ff.tensors.remove(tt)
    p.reject("layer_missing", f"layer_missing:{how}")
    return True


@mutation("layer_missing_config", "layer_missing", 0.5, dirs_only=True)
def m_layer_missing_cfg(rng, p):
    c = p.config.get("text_config", p.config)
    if "num_hidden_layers" not in c:
        return False
    c["num_hidden_layers"] += rng.choice([1, 2])
    p.reject("layer_missing", "layer_missing:config_more_layers")
    return True


@mutation("layer_noncanonical", "layer_missing", 0.5)
def m_layer_noncanonical(rng, p):
    f, t = pick_scale(rng, p)
    if t is None or len({tt.role[1] for _, tt in p.scales()}) < 2:
        return False
    l = t.role[1]
    if p.kind == "bare" and l == max(tt.role[1] for _, tt in p.scales()):
        if l == 0:
            return False
        # a bare file's L comes from the names: pick a layer below the top one
        cand = [(ff, tt) for ff, tt in p.scales() if tt.role[1] < l]
        f, t = rng.choice(cand)
        l = t.role[1]
    t.name = t.name.replace(f"layers.{l}.", f"layers.0{l}.", 1)
    t.role = ("weight",)  # no longer a KV scale
    p.reject("layer_missing", "layer_noncanonical")
    return True


@mutation("layer_unexpected", "layer_unexpected", 1.5, dirs_only=True)
def m_layer_unexpected(rng, p):
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    l = p.L + rng.choice([0, 0, 1, 7])
    name = t.name.replace(f"layers.{t.role[1]}.", f"layers.{l}.", 1)
    f.tensors.append(T(name, t.dtype, t.shape, t.data, role=("scale", l, t.role[2], t.role[3]), values=t.values))
    p.reject("layer_unexpected", f"layer_unexpected:{l}")
    return True


@mutation("bare_layer_gap", "layer_missing", 1, bare_only=True)
def m_bare_gap(rng, p):
    if p.L < 2:
        return False
    l = rng.randrange(p.L - 1)
    for f, t in p.scales():
        if t.role[1] == l:
            f.tensors.remove(t)
    p.reject("layer_missing", f"bare_layer_gap:{l}")
    return True


@mutation("bare_granularity", "scale_granularity_mismatch", 1, bare_only=True)
def m_bare_gran(rng, p):
    if p.L < 2:
        return False
    l = rng.randrange(p.L)
    head = p.convention == "bare_tensor"
    H = max(2, p.H)
    for f, t in p.scales():
        if t.role[1] == l:
            vals = [0.05] * (H if head else 1)
            t.shape = [H] if head else []
            t.data, t.values = encode(t.dtype, vals)
    p.reject("scale_granularity_mismatch", "bare_granularity")
    return True


@mutation("bare_heads_differ", "scale_shape_invalid", 0.5, bare_only=True)
def m_bare_heads(rng, p):
    if p.convention != "bare_head" or p.L < 2:
        return False
    f, t = rng.choice(p.scales())
    n = p.H + 1
    t.shape = [n]
    t.data, t.values = encode(t.dtype, [0.05] * n)
    p.reject("scale_shape_invalid", "bare_heads_differ")
    return True


# C6 / C7 / C8
@mutation("no_scales", None, 1.5)
def m_no_scales(rng, p):
    for f, t in p.scales():
        f.tensors.remove(t)
    if p.kind == "bare" and not any(f.tensors for f in p.files):
        p.files[0].tensors.append(T("model.embed_tokens.weight", "BF16", [4, 4]))
    code = "kv_scales_missing" if p.declared else "no_kv_scales"
    p.reject(code, "no_scales")
    p.intent["warnings"] = []
    return True


@mutation("undeclare", None, 1, dirs_only=True)
def m_undeclare(rng, p):
    """Drop the KV declaration: still valid, with kv_scheme_undeclared."""
    qc = p.config.get("quantization_config")
    if qc is None or not p.declared:
        return False
    how = rng.choice(["drop_qc", "null_scheme", "drop_keys"])
    if how == "drop_qc":
        del p.config["quantization_config"]
    else:
        for k in ("kv_cache_scheme", "kv_cache_quant_algo", "kv_cache_quant_config"):
            if k in qc:
                if how == "null_scheme":
                    qc[k] = None
                else:
                    del qc[k]
        if "export" in qc:
            qc["export"]["kv_cache_group"] = []
    p.declared = False
    p.strategy = None
    p.intent["warnings"] = ["kv_scheme_undeclared"]
    p.intent["mutation"] = f"undeclare:{how}"
    return True


# C9
@mutation("granularity_mismatch", "scale_granularity_mismatch", 1.5, dirs_only=True)
def m_gran(rng, p):
    qc = (p.config or {}).get("quantization_config") or {}
    scheme = qc.get("kv_cache_scheme")
    if not isinstance(scheme, dict):
        return False
    strategy = scheme.get("strategy")
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    if strategy in (None, "tensor"):
        if p.H < 2 or t.role[2] == "KV":
            return False
        t.shape = rng.choice([[p.H], [p.H, 1, 1]])
        t.data, t.values = encode(t.dtype, [0.05] * p.H)
    elif strategy == "attn_head":
        t.shape = rng.choice([[1], [], [1, 1, 1]])
        t.data, t.values = encode(t.dtype, [0.05])
    else:
        return False
    p.reject("scale_granularity_mismatch", f"granularity_mismatch:{strategy}")
    return True


@mutation("strategy_flip", "scale_granularity_mismatch", 0.7, dirs_only=True)
def m_strategy_flip(rng, p):
    qc = (p.config or {}).get("quantization_config") or {}
    scheme = qc.get("kv_cache_scheme")
    if not isinstance(scheme, dict):
        return False
    if scheme.get("strategy") == "attn_head":
        if rng.random() < 0.5:
            scheme["strategy"] = "tensor"
        else:
            del scheme["strategy"]
    else:
        scheme["strategy"] = "attn_head"
    p.reject("scale_granularity_mismatch", "strategy_flip")
    return True


# C10
@mutation("config_invalid", "config_invalid", 1.5, dirs_only=True)
def m_config(rng, p):
    how = rng.choice(["missing", "array", "syntax", "no_layers", "layers_string", "dir", "empty", "text_no_layers"])
    if how == "missing":
        p.config_mode = "missing"
    elif how == "dir":
        p.config_mode = "dir"
    elif how == "array":
        p.config_text = json.dumps([p.config])
    elif how == "syntax":
        p.config_text = json.dumps(p.config)[:-3]
    elif how == "empty":
        p.config_text = ""
    elif how == "no_layers":
        p.config.pop("num_hidden_layers", None)
        if "text_config" in p.config:
            p.config["text_config"].pop("num_hidden_layers", None)
    elif how == "text_no_layers":
        if "text_config" not in p.config:
            return False
        p.config["text_config"].pop("num_hidden_layers", None)  # vision_config's must not be used
    elif how == "layers_string":
        c = p.config.get("text_config", p.config)
        c["num_hidden_layers"] = str(c["num_hidden_layers"])
    p.reject("config_invalid", f"config_invalid:{how}")
    return True


# Index
def _sharded(p):
    return p.kind == "dir" and p.sharded


@mutation("shard_path_invalid", "shard_path_invalid", 1.5, dirs_only=True)
def m_shard_path(rng, p):
    if not _sharded(p):
        return False
    f = rng.choice(p.files)
    how = rng.choice(["slash", "dotdot", "absolute", "backslash", "dotdot_only"])
    old = f.name

    def new_name(root):
        if how == "slash":
            return "sub/" + old
        if how == "dotdot":
            return "../" + old
        if how == "dotdot_only":
            return ".."
        if how == "backslash":
            return "sub\\" + old
        return os.path.join(os.path.realpath(root), old)  # absolute, and the file exists

    def edit(idx, root):
        wm = idx["weight_map"]
        for k, v in wm.items():
            if v == old:
                wm[k] = new_name(root)
        return idx

    def fs(root, p):
        # make the forbidden names resolve to a real shard: they must be refused by name, not by absence
        if how == "slash":
            os.makedirs(os.path.join(root, "sub"), exist_ok=True)
            os.symlink(os.path.join("..", old), os.path.join(root, "sub", old))
        elif how == "backslash":
            os.symlink(old, os.path.join(root, "sub\\" + old))
        elif how == "dotdot":
            parent = os.path.dirname(os.path.realpath(root))
            if not os.path.exists(os.path.join(parent, old)):
                os.symlink(os.path.join(os.path.realpath(root), old), os.path.join(parent, old))

    p.index_edits.append(edit)
    p.fs_edits.append(fs)
    p.reject("shard_path_invalid", f"shard_path_invalid:{how}")
    return True


@mutation("shard_missing", "shard_missing", 1, dirs_only=True)
def m_shard_missing(rng, p):
    if not _sharded(p):
        return False
    how = rng.choice(["extra_name", "delete", "directory", "dangling_link"])
    n = len(p.files)
    ghost = f"model-{n + 1:05d}-of-{n + 1:05d}.safetensors"
    if how == "extra_name":
        def edit(idx, root):
            idx["weight_map"]["model.extra_weight.weight"] = ghost
            return idx
        p.index_edits.append(edit)
    elif how == "directory":
        def edit(idx, root):
            idx["weight_map"]["model.extra_weight.weight"] = ghost
            return idx
        p.index_edits.append(edit)
        p.fs_edits.append(lambda root, p: os.makedirs(os.path.join(root, ghost)))
    elif how == "dangling_link":
        def edit(idx, root):
            idx["weight_map"]["model.extra_weight.weight"] = ghost
            return idx
        p.index_edits.append(edit)
        p.fs_edits.append(lambda root, p: os.symlink("nowhere.safetensors", os.path.join(root, ghost)))
    else:
        f = rng.choice(p.files)
        p.fs_edits.append(lambda root, p, name=f.name: os.unlink(os.path.join(root, name)))
    p.reject("shard_missing", f"shard_missing:{how}")
    return True


@mutation("tensor_not_in_shard", "tensor_not_in_shard", 1, dirs_only=True)
def m_not_in_shard(rng, p):
    if not _sharded(p):
        return False
    f, t = pick_scale(rng, p)
    if t is None:
        return False
    how = rng.choice(["removed", "wrong_shard"]) if len(p.files) > 1 else "removed"
    if how == "removed":
        f.tensors.remove(t)

        def edit(idx, root, name=t.name, fname=f.name):
            idx["weight_map"][name] = fname
            return idx
    else:
        other = rng.choice([x for x in p.files if x is not f])

        def edit(idx, root, name=t.name, fname=other.name):
            idx["weight_map"][name] = fname
            return idx
    p.index_edits.append(edit)
    p.reject("tensor_not_in_shard", f"tensor_not_in_shard:{how}")
    return True


@mutation("scale_not_in_index", None, 1.5, dirs_only=True)
def m_not_in_index(rng, p):
    """A scale present in a shard but absent from weight_map: ignored, with a warning (still valid)."""
    if not _sharded(p) or not p.scales():
        return False
    f, t = pick_scale(rng, p)
    l = rng.choice([t.role[1], p.L, p.L + 3])  # would be a duplicate or unexpected if it were read
    name = t.name.replace(f"layers.{t.role[1]}.", f"layers.{l}.", 1)
    if l == t.role[1]:
        name = "zzz." + name
    bad = rng.random() < 0.5
    dt = "I32" if bad else t.dtype
    data, _ = encode(dt, [0.0] * numel(t.shape)) if bad else (t.data, None)
    extra = T(name, dt, t.shape, data, role=("ignored",))
    extra.unindexed = True
    rng.choice(p.files).tensors.append(extra)
    p.intent["warnings"] = p.intent["warnings"] + ["scale_not_in_index"]
    p.intent["mutation"] = "scale_not_in_index"
    return True


@mutation("index_invalid", "index_invalid", 1, dirs_only=True)
def m_index_invalid(rng, p):
    if not _sharded(p):
        return False
    how = rng.choice(["array", "no_weight_map", "weight_map_array", "value_not_string", "syntax", "dup_key"])
    idx = build_index(p)
    if how == "array":
        p.index_text = json.dumps([idx])
    elif how == "no_weight_map":
        p.index_text = json.dumps({"metadata": idx["metadata"]})
    elif how == "weight_map_array":
        p.index_text = json.dumps({"metadata": {}, "weight_map": list(idx["weight_map"].items())})
    elif how == "value_not_string":
        k = rng.choice(list(idx["weight_map"]))
        idx["weight_map"][k] = 1
        p.index_text = json.dumps(idx)
    elif how == "syntax":
        p.index_text = json.dumps(idx)[:-2]
    elif how == "dup_key":
        k, v = next(iter(idx["weight_map"].items()))
        text = json.dumps(idx)
        p.index_text = text.replace('"weight_map": {', '"weight_map": {' + json.dumps(k) + ": " + json.dumps(v) + ", ", 1)
    p.reject("index_invalid", f"index_invalid:{how}")
    return True


# S rules
def target_file(rng, p, prefer_scale=False):
    if prefer_scale:
        fs = [f for f in p.files if any(t.is_scale() for t in f.tensors)]
        if fs:
            return rng.choice(fs)
    return rng.choice(p.files)


@mutation("s1_header", "safetensors_header_invalid", 1.5)
def m_s1(rng, p):
    f = target_file(rng, p)
    how = rng.choice(["n_beyond_file", "tiny_file", "not_object", "n_huge", "n_over_limit_sparse"])
    if how == "n_beyond_file":
        f.n_delta = rng.choice([1, 1 << 20, 1 << 40])
    elif how == "tiny_file":
        f.raw = rng.choice([b"", b"\x10\x00\x00", b"\x08\x00\x00\x00\x00\x00\x00"])
    elif how == "not_object":
        f.text_edit = lambda text: rng.choice(["[" + text + "]", '"header"', "12", "null"])
    elif how == "n_huge":
        f.force_n = (1 << 64) - 1
    else:
        # N = 100,000,001 in a (sparse) file big enough to hold it: only the limit fails
        f.raw = struct.pack("<Q", 100_000_001) + b"{}"
        f.sparse_size = 100_000_001 + 8 + 64
    p.reject("safetensors_header_invalid", f"s1:{how}")
    return True


@mutation("s2_json", "safetensors_header_invalid", 1.5)
def m_s2(rng, p):
    f = target_file(rng, p)
    how = rng.choice(["dup_key", "nan", "bom", "syntax", "bad_utf8", "deep", "trailing"])
    if how == "dup_key":
        def edit(entries):
            tens = [e for e in entries if e[0] != "__metadata__"]
            if not tens:
                return entries
            e = rng.choice(tens)
            return entries + [[e[0], e[1]]]
        if not f.tensors:
            return False
        f.entry_edits.append(edit)
        code = "duplicate_key"
    elif how == "nan":
        f.metadata = {"format": "pt"}
        f.text_edit = lambda text: text.replace('"__metadata__":{', '"__metadata__":{"x":NaN,', 1)
        code = "nan_or_infinity"
    elif how == "bom":
        f.bom = True
        code = "utf8_bom"
    elif how == "syntax":
        f.text_edit = lambda text: text[:-1] + ","
        code = "syntax_error"
    elif how == "bad_utf8":
        f.metadata = {"format": "pt", "note": "\udcff"}
        f.text_edit = lambda text: text.replace("\\udcff", "\udcff")
        code = "invalid_utf8"
    elif how == "deep":
        f.metadata = None
        f.text_edit = lambda text: text[:-1] + ',"__deep__":' + "[" * 70 + "]" * 70 + "}"
        code = "nesting_too_deep"
    else:
        f.pad = False
        f.text_edit = lambda text: text + ' x'
        code = "trailing_data"
    p.reject(code, f"s2:{how}")
    return True


@mutation("s3_metadata", "safetensors_metadata_invalid", 1)
def m_s3(rng, p):
    f = target_file(rng, p)
    how = rng.choice(["list", "int_value", "nested", "null_value", "string"])
    f.metadata = {"list": ["pt"], "int_value": {"format": "pt", "step": 3}, "nested": {"format": {"a": "b"}},
                  "null_value": {"format": None}, "string": "pt"}[how]
    p.reject("safetensors_metadata_invalid", f"s3:{how}")
    return True


@mutation("s4_tensor", "safetensors_tensor_invalid", 2)
def m_s4(rng, p):
    f = target_file(rng, p, prefer_scale=rng.random() < 0.5)
    if not f.tensors:
        return False
    name = rng.choice(f.tensors).name
    how = rng.choice(["dtype_unknown", "dtype_lower", "dtype_missing", "shape_negative", "shape_float", "shape_not_list",
                      "offsets_missing", "offsets_three", "offsets_negative", "offsets_string", "shape_overflow",
                      "not_object", "shape_bool"])

    def edit(entries, name=name, how=how):
        for e in entries:
            if e[0] == name:
                v = e[1]
                if how == "dtype_unknown":
                    v["dtype"] = rng.choice(["F33", "Q8", "", "FP8"])
                elif how == "dtype_lower":
                    v["dtype"] = v["dtype"].lower() if v["dtype"].lower() != v["dtype"] else "f32"
                elif how == "dtype_missing":
                    del v["dtype"]
                elif how == "shape_negative":
                    v["shape"] = [-1] + v["shape"]
                elif how == "shape_float":
                    v["shape"] = [1.5] + v["shape"]
                elif how == "shape_not_list":
                    v["shape"] = "[1]"
                elif how == "shape_bool":
                    v["shape"] = [True]
                elif how == "offsets_missing":
                    del v["data_offsets"]
                elif how == "offsets_three":
                    v["data_offsets"] = v["data_offsets"] + [0]
                elif how == "offsets_negative":
                    v["data_offsets"] = [-1, v["data_offsets"][1]]
                elif how == "offsets_string":
                    v["data_offsets"] = [str(v["data_offsets"][0]), v["data_offsets"][1]]
                elif how == "shape_overflow":
                    v["shape"] = [1 << 31, 1 << 31, 4]
                elif how == "not_object":
                    e[1] = [v["dtype"], v["shape"], v["data_offsets"]]
        return entries
    f.entry_edits.append(edit)
    p.reject("safetensors_tensor_invalid", f"s4:{how}")
    return True


@mutation("s5_offsets", "safetensors_offsets_invalid", 2)
def m_s5(rng, p):
    f = target_file(rng, p, prefer_scale=rng.random() < 0.5)
    if not f.tensors:
        return False
    how = rng.choice(["gap", "tail", "overlap", "wrong_size", "truncated", "reversed", "past_end"])
    nonempty = [i for i, t in enumerate(f.tensors) if t.nbytes > 0]
    if not nonempty:
        return False
    if how == "gap":
        f.gap_after = rng.randrange(len(f.tensors) - 1) if len(f.tensors) > 1 else None
        if f.gap_after is None:
            f.tail = b"\0" * 4
    elif how == "tail":
        f.tail = b"\0" * rng.choice([1, 4, 8])
    elif how in ("overlap", "wrong_size", "reversed", "past_end"):
        i = rng.choice(nonempty)
        name = f.tensors[i].name

        def edit(entries, name=name, how=how):
            for e in entries:
                if e[0] == name:
                    b, en = e[1]["data_offsets"]
                    if how == "overlap":
                        if b == 0:
                            e[1]["data_offsets"] = [b + 1, en + 1]
                        else:
                            e[1]["data_offsets"] = [b - 1, en - 1]
                    elif how == "wrong_size":
                        e[1]["data_offsets"] = [b, en + 1]
                    elif how == "reversed":
                        e[1]["data_offsets"] = [en, b]
                    else:
                        e[1]["data_offsets"] = [b + (1 << 40), en + (1 << 40)]
            return entries
        f.entry_edits.append(edit)
    elif how == "truncated":
        f.truncate = rng.choice([1, 2])
    p.reject("safetensors_offsets_invalid", f"s5:{how}")
    return True


# --------------------------------------------------------------------------------------------
# Contexts

def tp_context(rng, p):
    """(tp_size, tp_rank, intended code) for a valid plan."""
    per_head = [t for _, t in p.scales() if numel(t.shape) > 1]
    H = p.H
    if per_head and H >= 2:
        divisors = [d for d in range(1, H + 1) if H % d == 0]
        multiples = [H * k for k in (2, 4) if H * k <= 64]
        bad = [x for x in range(2, 3 * H + 2) if H % x and x % H]
        kind = rng.choice(["div", "div", "mul", "bad"])
        T_ = rng.choice({"div": divisors, "mul": multiples or divisors, "bad": bad or divisors}[kind])
        code = None if (H % T_ == 0 or T_ % H == 0) else "tp_heads_incompatible"
    else:
        T_ = rng.choice([1, 2, 3, 4, 8, 5, 16])
        code = None
    return (T_, rng.randrange(T_), code)


# --------------------------------------------------------------------------------------------
# Corpus


def generate(seed, count, sparse_every=0, sparse_bytes=1 << 30, valid_fraction=0.3):
    """Yields Plans: deterministic for (seed, count)."""
    rng = random.Random(seed)
    for i in range(count):
        crng = random.Random(rng.getrandbits(64))
        bare = crng.random() < 0.12
        sparse = sparse_every and i % sparse_every == sparse_every - 1
        p = build_base(crng, bare=bare, sparse_bytes=sparse_bytes if sparse else 0)
        p.case = i
        if crng.random() >= valid_fraction:
            applicable = [m for m in MUTATIONS if not (m[3] and p.kind != "dir") and not (m[4] and p.kind != "bare")]
            for _ in range(20):
                name, code, w, _, _, fn = crng.choices(applicable, weights=[m[2] for m in applicable])[0]
                if fn(crng, p):
                    break
        if p.intent["valid"]:
            p.ctxs.append(tp_context(crng, p))
            if crng.random() < 0.5:
                p.ctxs.append(tp_context(crng, p))
        elif crng.random() < 0.3:
            p.ctxs.append((crng.choice([1, 2, 4]), 0, None))
        yield p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sparse-gib", type=float, default=0, help="make every case's weights this large (sparse)")
    ap.add_argument("--valid-only", action="store_true")
    a = ap.parse_args()
    manifest = []
    for p in generate(a.seed, a.count, sparse_every=1 if a.sparse_gib else 0,
                      sparse_bytes=int(a.sparse_gib * (1 << 30)), valid_fraction=1.0 if a.valid_only else 0.3):
        path = write_plan(p, os.path.join(a.outdir, f"case_{p.case:05d}"), seed=p.case)
        manifest.append({"path": path, "convention": p.convention, "intent": p.intent, "contexts": p.ctxs})
    with open(os.path.join(a.outdir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    print(f"{len(manifest)} checkpoints in {a.outdir}")


if __name__ == "__main__":
    main()
