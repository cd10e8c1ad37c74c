#!/usr/bin/env python3
"""An independent Python model of docs/checkpoint-scales.md (what `kvscale validate --json` must say).

Written from the spec (/work/shared/spec/checkpoint-scales.md, scales-file.md) alone: no C++ was read.
It reads the files itself (never the generator's plan), so comparing it with gen_checkpoints.py's
intent is a real cross-check, and comparing it with the CLI is the differential test.

    evaluate(path, ctx=None) -> Verdict
    ctx = {"tp_size": T, "tp_rank": R}   (optionally "num_layers": L, checked against config.json)

Verdict fields mirror the CLI's JSON: valid, source, producer, model_type, num_layers,
num_kv_heads, tp_size, tp_rank, granularity, k_scales, v_scales; plus
  errors:   [(code, frozenset of acceptable codes, location)] in the model's precedence order;
  primary:  the acceptable codes of the first error (what the CLI must report at least one of);
  warnings: set of warning codes the CLI must report (only compared for valid results).

INTERPRETATIONS (where the spec leaves room; the differential test compares only what is
unambiguous: validity, source, scales as float32 bits, granularity, producer, model_type,
num_layers, num_kv_heads when known, tp_size/tp_rank when a context is given, and that one of
the primary codes is reported):

 1. Precedence (which error is "primary" when several rules fail): config.json (C10), then the
    index (index_invalid, shard_path_invalid, shard_missing), then the S rules of each
    safetensors file (the single file, or every shard the index names, in weight_map order),
    then tensor_not_in_shard, then per scale tensor C2 dtype, C3 shape, C4 values, then C1
    duplicates, C9 granularity, C6/C7 (no scales at all), C5 layers, then the context
    (context_mismatch, tp_heads_incompatible). Later errors caused by an earlier one (a layer
    "missing" because its shard was refused) are in `errors` but never required.
 2. Parse-level failures accept either the specific JSON code or the container code:
    config.json: config_invalid or {file_not_found, not_a_regular_file, syntax_error,
    not_an_object, duplicate_key, nan_or_infinity, utf8_bom, invalid_utf8, trailing_data,
    nesting_too_deep}; the index: index_invalid or the JSON code; a safetensors header (S2):
    safetensors_header_invalid or the JSON code. A truncated file may be reported as
    safetensors_header_invalid or safetensors_offsets_invalid (the header comment of the code
    says "also truncated files"); begin > end in data_offsets, or a shape whose product exceeds
    2^62, may be S4 or S5.
 3. S rules: every file opened (the single file, every shard named by the index) is fully
    checked, including shards that hold no scale (reading all headers is needed anyway for the
    scale_not_in_index warning). JSON whitespace around the header is allowed (writers pad with
    spaces). The known dtypes are the safetensors crate's byte-sized ones: BOOL U8 I8 F8_E5M2
    F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 I64 U64 F64 (the generator emits no others). Zero-size
    tensors are allowed anywhere their [begin, begin] fits the coverage walk (sorted by
    (begin, end), each begin must equal the previous end, the last end the buffer size).
    Extra keys in a tensor entry are not modelled (never generated).
 4. The index wins over model.safetensors when both exist (never generated). weight_map values
    must be strings; "metadata" is not checked. A shard name is refused when it contains "/",
    "\\", "..", NUL, is empty or ".", or is absolute; refused shards are never opened.
    tensor_not_in_shard and scale_not_in_index concern KV-scale names only (Q/softmax scales
    and weights are not modelled there). A KV scale in a shard that weight_map assigns to a
    different shard (or not at all) is ignored with scale_not_in_index.
 5. Names: `layers.<L>.` + one of the nine KV suffixes, ending the name; the regex takes the
    first `layers.<digits>.` from which the rest of the name is exactly a suffix; a
    non-canonical <L> (leading zero, > 2^31-1) makes the tensor not a KV scale at all (ignored).
    Q/softmax scales are never checked beyond the S rules.
 6. A rejected tensor (bad dtype, shape or value) still counts as its layer's K/V source for
    C1 and C5 (it is present, just wrong).
 7. Config lookups: each of num_hidden_layers, num_key_value_heads, num_attention_heads,
    model_type is taken from the top level when the key is present and not null, else from
    text_config. H = num_key_value_heads if found (top, then text_config), else
    num_attention_heads. num_hidden_layers must be a non-negative integer (not a bool): a string
    such as "4" is config_invalid. quantization_config is read from the top level only.
    producer = quant_method if it is one of quark / compressed-tensors / modelopt / fp8.
 8. Declared: kv_cache_scheme not null, or kv_cache_quant_algo not null, or quant_method quark
    with a non-empty (truthy) export.kv_cache_group or kv_cache_quant_config. C9 applies only
    when kv_cache_scheme is an object: strategy absent/null/"tensor" -> per tensor, "attn_head"
    -> per head, anything else -> not checked.
 9. Hybrid models (layers that are not attention layers): not modelled; the generator never
    writes layer_types / layers_block_type.
10. Bare .safetensors: source "safetensors", producer/model_type null, no declaration; C6/C7
    -> no_kv_scales; kv_scheme_undeclared is not expected (not compared). L = max layer + 1, every
    layer needs K and V; every K and V entry must have one granularity (else
    scale_granularity_mismatch, or scale_shape_invalid accepted); H = the common n >= 2 of the
    [n] / [n,1,1] tensors (several n: scale_shape_invalid, or scale_granularity_mismatch).
    num_kv_heads is compared only when some scale is per head.
11. TP: per-tensor scales need nothing of T. With any per-head scale: H % T == 0 -> heads
    [r*H/T, (r+1)*H/T); T % H == 0 -> [head r // (T/H)]; else tp_heads_incompatible. Entries
    are one number per tensor scale, a list (even of one head) per head scale.
12. Warnings compared (valid results only, as a subset of what the CLI prints):
    kv_scheme_undeclared (directories with scales and no declaration), scale_not_in_index.
13. Locations: each error carries the model's FILE:POINTER; only the FILE part of the primary
    error is compared, and only for S codes, C2-C4 and config_invalid in a directory (the
    POINTER part and the location of set-level errors such as layer_missing are left open).
14. Contexts with tp_rank outside 0..tp_size-1 are never generated (the CLI may refuse them as a
    bad command line, exit 2). A context num_layers (differential.py --num-layers-arg) that
    differs from config.json would be context_mismatch; the harness only ever passes the
    config's own value.
"""
import json
import math
import os
import re
import struct

SCALE_DTYPES = ("F32", "F16", "BF16", "F64")
DT_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
           "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
KV_SUFFIXES = {
    "self_attn.k_scale": "K", "self_attn.v_scale": "V",
    "self_attn.attn.k_scale": "K", "self_attn.attn.v_scale": "V",
    "self_attn.k_proj.output_scale": "K", "self_attn.v_proj.output_scale": "V",
    "self_attn.k_proj.k_scale": "K", "self_attn.v_proj.v_scale": "V",
    "self_attn.kv_scale": "KV",
}
_NAME_RE = re.compile(r"layers\.([0-9]+)\.(" + "|".join(re.escape(s) for s in KV_SUFFIXES) + r")$")
PRODUCERS = ("quark", "compressed-tensors", "modelopt", "fp8")
JSON_CODES = ("syntax_error", "not_an_object", "duplicate_key", "nan_or_infinity", "utf8_bom", "invalid_utf8",
              "trailing_data", "nesting_too_deep")
MAX_HEADER = 100_000_000
MAX_TENSORS = 1_000_000
MAX_FILES = 100_000
INT32_MAX = 2 ** 31 - 1


def kv_scale_of(name):
    """(layer, 'K'|'V'|'KV') when the name is a KV scale, else None."""
    m = _NAME_RE.search(name)
    if not m:
        return None
    digits = m.group(1)
    if (len(digits) > 1 and digits[0] == "0") or int(digits) > INT32_MAX:
        return None
    return int(digits), KV_SUFFIXES[m.group(2)]


def to_f32(x):
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", to_f32(x)))[0]


def decode(dtype, raw):
    n = DT_SIZE[dtype]
    out = []
    for i in range(0, len(raw), n):
        b = raw[i:i + n]
        if dtype == "F32":
            out.append(struct.unpack("<f", b)[0])
        elif dtype == "F16":
            out.append(struct.unpack("<e", b)[0])
        elif dtype == "BF16":
            out.append(struct.unpack("<f", struct.pack("<I", struct.unpack("<H", b)[0] << 16))[0])
        else:
            out.append(to_f32(struct.unpack("<d", b)[0]))
    return out


# --------------------------------------------------------------------------------------------
# JSON with the H rules that apply to any JSON

class JsonError(Exception):
    def __init__(self, code, msg=""):
        super().__init__(msg or code)
        self.code = code


def _dup_hook(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise JsonError("duplicate_key", f"duplicate key {k!r}")
        seen.add(k)
    return dict(pairs)


def _nan(tok):
    raise JsonError("nan_or_infinity", tok)


def _depth(text):
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def parse_json(raw):
    if raw.startswith(b"\xef\xbb\xbf"):
        raise JsonError("utf8_bom")
    try:
        text = raw.decode("utf-8")  # strict: encoded surrogates are invalid too
    except UnicodeDecodeError:
        raise JsonError("invalid_utf8")
    if _depth(text) > 64:
        raise JsonError("nesting_too_deep")
    dec = json.JSONDecoder(object_pairs_hook=_dup_hook, parse_constant=_nan)
    ws = " \t\n\r"
    start = len(text) - len(text.lstrip(ws))
    try:
        obj, end = dec.raw_decode(text, start)
    except JsonError:
        raise
    except (ValueError, RecursionError) as e:
        raise JsonError("syntax_error", str(e))
    if text[end:].strip(ws):
        raise JsonError("trailing_data")
    return obj


# --------------------------------------------------------------------------------------------

class Verdict:
    def __init__(self, source):
        self.source = source
        self.producer = self.model_type = self.num_layers = self.num_kv_heads = None
        self.tp_size = self.tp_rank = None
        self.granularity = None
        self.k_scales, self.v_scales = {}, {}
        self.errors = []
        self.warnings = set()

    def err(self, code, location="", also=()):
        self.errors.append((code, frozenset((code,) + tuple(also)), location))

    @property
    def valid(self):
        return not self.errors

    @property
    def primary(self):
        return self.errors[0][1] if self.errors else frozenset()

    @property
    def codes(self):
        return [e[0] for e in self.errors]

    def as_dict(self):
        return {"valid": self.valid, "source": self.source, "producer": self.producer, "model_type": self.model_type,
                "num_layers": self.num_layers, "num_kv_heads": self.num_kv_heads, "tp_size": self.tp_size,
                "tp_rank": self.tp_rank, "granularity": self.granularity, "k_scales": self.k_scales,
                "v_scales": self.v_scales, "errors": [(c, sorted(a), l) for c, a, l in self.errors],
                "warnings": sorted(self.warnings)}


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


class SafetensorsFile:
    """Parses one file under the S rules; records errors into the verdict with `label`."""

    def __init__(self, path, label, v):
        self.path, self.label, self.tensors, self.ok = path, label, {}, False
        self.data_start = 0
        before = len(v.errors)
        self._parse(v)
        self.ok = len(v.errors) == before

    def _parse(self, v):
        L = self.label
        try:
            size = os.path.getsize(self.path)
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    return v.err("safetensors_header_invalid", f"{L}:", ("read_error",))
                n = struct.unpack("<Q", head)[0]
                if n > MAX_HEADER or 8 + n > size:
                    return v.err("safetensors_header_invalid", f"{L}:")
                raw = f.read(n)
        except OSError:
            return v.err("read_error", f"{L}:")
        try:
            hdr = parse_json(raw)
        except JsonError as e:
            return v.err("safetensors_header_invalid", f"{L}:", (e.code,))
        if not isinstance(hdr, dict):
            return v.err("safetensors_header_invalid", f"{L}:", ("not_an_object",))
        self.data_start = 8 + n
        buf = size - 8 - n
        if "__metadata__" in hdr:
            md = hdr["__metadata__"]
            if not isinstance(md, dict) or not all(isinstance(x, str) for x in md.values()):
                v.err("safetensors_metadata_invalid", f"{L}:/__metadata__")
        entries = [(k, x) for k, x in hdr.items() if k != "__metadata__"]
        if len(entries) > MAX_TENSORS:
            return v.err("too_many_tensors", f"{L}:")
        spans, bad = [], False
        for name, e in entries:
            ptr = f"{L}:/{name}"
            if not isinstance(e, dict):
                v.err("safetensors_tensor_invalid", ptr); bad = True; continue
            dt, shape, offs = e.get("dtype"), e.get("shape"), e.get("data_offsets")
            if not isinstance(dt, str) or dt not in DT_SIZE:
                v.err("safetensors_tensor_invalid", ptr + "/dtype"); bad = True; continue
            if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
                v.err("safetensors_tensor_invalid", ptr + "/shape"); bad = True; continue
            if not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) and o >= 0 for o in offs):
                v.err("safetensors_tensor_invalid", ptr + "/data_offsets"); bad = True; continue
            ne = 1
            for d in shape:
                ne *= d
            if ne > 2 ** 62:
                v.err("safetensors_tensor_invalid", ptr + "/shape", ("safetensors_offsets_invalid",)); bad = True; continue
            b, en = offs
            if en < b:
                v.err("safetensors_offsets_invalid", ptr + "/data_offsets", ("safetensors_tensor_invalid",)); bad = True
                continue
            if en - b != ne * DT_SIZE[dt]:
                v.err("safetensors_offsets_invalid", ptr + "/data_offsets"); bad = True; continue
            self.tensors[name] = (dt, shape, b, en)
            spans.append((b, en, name))
        if bad:
            return
        expected = 0
        for b, en, name in sorted(spans):
            if b != expected:
                return v.err("safetensors_offsets_invalid", f"{L}:/{name}/data_offsets",
                             ("safetensors_header_invalid",))
            expected = en
        if expected != buf:
            return v.err("safetensors_offsets_invalid", f"{L}:", ("safetensors_header_invalid",))

    def read(self, name):
        dt, shape, b, en = self.tensors[name]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + b)
            return f.read(en - b)


def _lookup(cfg, key):
    if key in cfg and cfg[key] is not None:
        return cfg[key]
    tc = cfg.get("text_config")
    if isinstance(tc, dict) and key in tc and tc[key] is not None:
        return tc[key]
    return None


def _bad_shard_name(n):
    return (n in ("", ".") or "/" in n or "\\" in n or ".." in n or "\0" in n or os.path.isabs(n))


def evaluate(path, ctx=None):
    if os.path.isdir(path):
        return _evaluate_dir(path, ctx)
    return _evaluate_bare(path, ctx)


def _evaluate_bare(path, ctx):
    v = Verdict("safetensors")
    label = os.path.basename(path)
    if not os.path.exists(path):
        v.err("file_not_found", label)
        return v
    st = SafetensorsFile(path, label, v)
    if not st.ok:
        return v
    cands = [(st, name) for name in st.tensors if kv_scale_of(name)]
    _check_scales(v, cands, H=None, L=None, strategy=None, declared=False, ctx=ctx, bare=True)
    return v


def _evaluate_dir(root, ctx):
    v = Verdict("checkpoint")
    # C10
    cpath = os.path.join(root, "config.json")
    if not os.path.exists(cpath):
        v.err("config_invalid", "config.json:", ("file_not_found",))
        return v
    if not os.path.isfile(cpath):
        v.err("config_invalid", "config.json:", ("not_a_regular_file",))
        return v
    try:
        with open(cpath, "rb") as f:
            cfg = parse_json(f.read())
    except JsonError as e:
        v.err("config_invalid", "config.json:", (e.code,))
        return v
    except OSError:
        v.err("config_invalid", "config.json:", ("read_error", "permission_denied"))
        return v
    if not isinstance(cfg, dict):
        v.err("config_invalid", "config.json:", ("not_an_object",))
        return v
    L = _lookup(cfg, "num_hidden_layers")
    if not (_is_int(L) and L >= 0):
        v.err("config_invalid", "config.json:/num_hidden_layers")
        return v
    H = _lookup(cfg, "num_key_value_heads")
    if H is None:
        H = _lookup(cfg, "num_attention_heads")
    if not (_is_int(H) and H >= 1):
        H = None
    mt = _lookup(cfg, "model_type")
    v.model_type = mt if isinstance(mt, str) else None
    v.num_layers, v.num_kv_heads = L, H
    qc = cfg.get("quantization_config")
    qc = qc if isinstance(qc, dict) else {}
    if qc.get("quant_method") in PRODUCERS:
        v.producer = qc.get("quant_method")
    export = qc.get("export") if isinstance(qc.get("export"), dict) else {}
    declared = (qc.get("kv_cache_scheme") is not None or qc.get("kv_cache_quant_algo") is not None
                or (qc.get("quant_method") == "quark" and (bool(export.get("kv_cache_group"))
                                                           or bool(qc.get("kv_cache_quant_config")))))
    strategy = None
    scheme = qc.get("kv_cache_scheme")
    if isinstance(scheme, dict):
        s = scheme.get("strategy")
        strategy = "tensor" if s in (None, "tensor") else "head" if s == "attn_head" else None

    # Files
    ipath = os.path.join(root, "model.safetensors.index.json")
    files = []  # SafetensorsFile
    wm = None
    if os.path.exists(ipath):
        label = "model.safetensors.index.json"
        try:
            with open(ipath, "rb") as f:
                idx = parse_json(f.read())
        except JsonError as e:
            v.err("index_invalid", f"{label}:", (e.code,))
            return v
        if not isinstance(idx, dict):
            v.err("index_invalid", f"{label}:", ("not_an_object",))
            return v
        wm = idx.get("weight_map")
        if not isinstance(wm, dict) or not all(isinstance(x, str) for x in wm.values()):
            v.err("index_invalid", f"{label}:/weight_map")
            return v
        shards = list(dict.fromkeys(wm.values()))
        if len(shards) > MAX_FILES:
            v.err("too_many_files", f"{label}:/weight_map")
            return v
        opened = {}
        for name in shards:
            ptr = f"{label}:/weight_map"
            if _bad_shard_name(name):
                v.err("shard_path_invalid", ptr)
                continue
            sp = os.path.join(root, name)
            if not os.path.isfile(sp):
                v.err("shard_missing", ptr)
                continue
            opened[name] = None
        for name in opened:
            st = SafetensorsFile(os.path.join(root, name), name, v)
            opened[name] = st
            files.append(st)
        # tensor_not_in_shard (KV scale names only)
        for tname, shard in wm.items():
            if kv_scale_of(tname) and shard in opened and opened[shard].ok and tname not in opened[shard].tensors:
                v.err("tensor_not_in_shard", f"{label}:/weight_map/{tname}")
    else:
        sp = os.path.join(root, "model.safetensors")
        if not os.path.isfile(sp):
            v.err("file_not_found", "model.safetensors", ("shard_missing", "no_kv_scales", "kv_scales_missing"))
            return v
        files.append(SafetensorsFile(sp, "model.safetensors", v))
    cands = []
    for st in files:
        if not st.ok:
            continue
        for name in st.tensors:
            if not kv_scale_of(name):
                continue
            if wm is not None and wm.get(name) != st.label:
                v.warnings.add("scale_not_in_index")
                continue
            cands.append((st, name))
    _check_scales(v, cands, H=H, L=L, strategy=strategy, declared=declared, ctx=ctx, bare=False)
    return v


def _check_scales(v, cands, H, L, strategy, declared, ctx, bare):
    if not bare and cands and not declared:
        v.warnings.add("kv_scheme_undeclared")
    sources = {}  # (layer, 'K'|'V') -> [name]
    good = {}  # (layer, 'K'|'V') -> (granularity, [f32 values])
    head_lens = {}
    for st, name in cands:
        layer, kv = kv_scale_of(name)
        ptr = f"{st.label}:/{name}"
        for x in (("K", "V") if kv == "KV" else (kv,)):
            sources.setdefault((layer, x), []).append(name)
        dt, shape, _, _ = st.tensors[name]
        if dt not in SCALE_DTYPES:
            v.err("scale_dtype_unsupported", ptr + "/dtype")
            continue
        ne = 1
        for d in shape:
            ne *= d
        if ne == 1:
            gran = "tensor"
        elif bare and len(shape) in (1, 3) and shape[0] >= 2 and shape[1:] == [1] * (len(shape) - 1):
            gran = "head"
            head_lens.setdefault(shape[0], []).append(ptr)
        elif not bare and H is not None and H >= 2 and shape in ([H], [H, 1, 1]):
            gran = "head"
        else:
            v.err("scale_shape_invalid", ptr + "/shape")
            continue
        vals = decode(dt, st.read(name))
        if not all(math.isfinite(x) and x > 0 for x in vals):
            v.err("scale_out_of_range", ptr)
            continue
        for x in (("K", "V") if kv == "KV" else (kv,)):
            good[(layer, x)] = (gran, vals)
    if bare and len(head_lens) > 1:
        v.err("scale_shape_invalid", "", ("scale_granularity_mismatch",))
    if bare:
        H = next(iter(head_lens)) if len(head_lens) == 1 else None
        v.num_kv_heads = H
    # C1
    for (layer, x), names in sorted(sources.items()):
        if len(names) > 1:
            v.err("duplicate_scale", f"/{names[1]}")
    # C9 (directories) / one granularity (bare)
    grans = {g for g, _ in good.values()}
    if not bare and strategy is not None:
        if any(g != strategy for g, _ in good.values()):
            v.err("scale_granularity_mismatch", "config.json:/quantization_config/kv_cache_scheme/strategy")
    if bare and len(grans) > 1:
        v.err("scale_granularity_mismatch", "", ("scale_shape_invalid",))
    # C6 / C7
    if not cands:
        v.err("kv_scales_missing" if declared else "no_kv_scales", "config.json:" if not bare else "")
        return
    # C5
    layers = {l for l, _ in sources}
    if bare:
        L = max(layers) + 1
    for l in range(L):
        for x in ("K", "V"):
            if (l, x) not in sources:
                v.err("layer_missing", f"/{l}/{x}")
    for l in sorted(layers):
        if l >= L:
            v.err("layer_unexpected", f"/{l}")
    v.num_layers = L
    # context
    T, r = 1, 0
    if ctx is not None:
        T, r = ctx["tp_size"], ctx["tp_rank"]
        v.tp_size, v.tp_rank = T, r
        if ctx.get("num_layers") is not None and ctx["num_layers"] != L:
            v.err("context_mismatch", "config.json:/num_hidden_layers", ("layer_missing", "layer_unexpected"))
    if v.errors:
        return
    heads = None
    if "head" in grans:
        if H % T == 0:
            heads = list(range(r * (H // T), (r + 1) * (H // T)))
        elif T % H == 0:
            heads = [r // (T // H)]
        else:
            v.err("tp_heads_incompatible", "")
            return
    v.granularity = grans.pop() if len(grans) == 1 else "mixed"
    for x, out in (("K", v.k_scales), ("V", v.v_scales)):
        row = []
        for l in range(L):
            g, vals = good[(l, x)]
            row.append(vals[0] if g == "tensor" else [vals[h] for h in heads])
        out[str(r)] = row


def main():
    import argparse
    ap = argparse.ArgumentParser(description="print the spec model's verdict for a checkpoint")
    ap.add_argument("path")
    ap.add_argument("--tp-size", type=int)
    ap.add_argument("--tp-rank", type=int)
    a = ap.parse_args()
    ctx = {"tp_size": a.tp_size, "tp_rank": a.tp_rank} if a.tp_size is not None else None
    print(json.dumps(evaluate(a.path, ctx).as_dict(), indent=1))


if __name__ == "__main__":
    main()
