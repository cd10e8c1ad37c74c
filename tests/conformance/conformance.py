#!/usr/bin/env python3
"""Differential conformance: kvscale validate vs. vLLM's pydantic v2 schema.

The pydantic model below is this test's own rendering of vLLM's QuantParamSchema /
KVCacheQuantSchema and their validators, written from docs/scales-file.md and the research notes
(nothing copied). vLLM's loader reads the file as UTF-8 text, runs json.load, then validates with a
context; any exception means "rejected".

For every generated file (seeded, deterministic) with a context:
  * vLLM rejects                   -> kvscale must reject;
  * vLLM accepts, no H rule applies -> kvscale must accept with bit-identical float32 scales;
  * vLLM accepts, H rules apply    -> kvscale must reject and report every applicable rule's code.
Which H rules apply is computed here independently (json hooks, regexes, struct float32 rounding).
kvscale also treats text that UTF-8 cannot encode (a lone surrogate escape such as "\\ud800", which
Python accepts) as H7 invalid_utf8; the checker models that too.
Exit 0 on success, 1 on mismatches, 77 when python3 / pydantic v2 is unavailable.
"""
import argparse
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

try:
    import pydantic
    from typing import Dict, Optional
    from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator
except Exception as e:  # pragma: no cover
    print(f"conformance: skipped: pydantic v2 is not importable ({e})")
    sys.exit(77)
if not pydantic.VERSION.startswith("2."):
    print(f"conformance: skipped: pydantic {pydantic.VERSION} is not v2")
    sys.exit(77)


# --------------------------------------------------------------------------------------------
# The reference: vLLM's schema as pydantic v2 models (lax mode, extra keys ignored).

class KVCacheSchemaRef(BaseModel):
    dtype: str
    scaling_factor: Dict[int, Dict[int, float]]

    @model_validator(mode="after")
    def dtype_is_e4m3fn(self):
        assert self.dtype == "float8_e4m3fn", "dtype"
        return self

    @model_validator(mode="after")
    def all_ranks_all_layers(self, info: ValidationInfo):
        ctx = info.context
        if ctx:
            n_ranks, n_layers = ctx["tp_size"], ctx["num_hidden_layers"]
            assert len(self.scaling_factor) == n_ranks, "rank count"
            for rank in range(n_ranks):
                assert rank in self.scaling_factor, "rank present"
                assert len(self.scaling_factor[rank]) == n_layers, "layer count"
        return self

    @model_validator(mode="after")
    def current_rank_layers(self, info: ValidationInfo):
        ctx = info.context
        if ctx:
            layers = self.scaling_factor[ctx["tp_rank"]]  # unguarded: KeyError propagates
            for layer in range(ctx["num_hidden_layers"]):
                assert layer in layers, "layer present"
        return self


class QuantParamsRef(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    model_type: Optional[str]  # required key in v2, may be null
    kv_cache: KVCacheSchemaRef

    @model_validator(mode="after")
    def same_model_type(self, info: ValidationInfo):
        ctx = info.context
        if ctx and ctx.get("model_type") is not None:
            assert self.model_type == ctx["model_type"], "model_type"
        return self


def vllm_load(data: bytes, ctx: dict):
    """(accepted, parsed model or None), as vLLM's kv_cache_scales_loader would decide."""
    try:
        obj = json.loads(data.decode("utf-8"))
        return True, QuantParamsRef.model_validate(obj, context=ctx)
    except Exception:
        return False, None


# --------------------------------------------------------------------------------------------
# Independent H-rule detection (only meaningful for files vLLM accepts).

CANONICAL = re.compile(r"^(0|[1-9][0-9]*)$")
INT32_MAX = 2**31 - 1


def to_f32(x: float):
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:  # finite double beyond float32: torch would give inf
        return math.copysign(math.inf, x)


def h_rules(data: bytes):
    found = set()

    def pairs(items):
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            found.add("duplicate_key")
        return dict(items)

    class Constant:  # a NaN / Infinity / -Infinity token (H4); not judged again as a value
        pass

    def constant(tok):
        found.add("nan_or_infinity")
        return Constant()

    def strings_ok(x):  # H7: text with a lone surrogate escape cannot be UTF-8
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                return False
            return True
        if isinstance(x, dict):
            return all(strings_ok(k) and strings_ok(v) for k, v in x.items())
        if isinstance(x, list):
            return all(strings_ok(v) for v in x)
        return True

    text = data.decode("utf-8")
    if not strings_ok(json.loads(text)):
        return {"invalid_utf8"}  # kvscale stops at the first such escape: the only rule it reports
    obj = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    sf = obj.get("kv_cache", {}).get("scaling_factor", {}) if isinstance(obj.get("kv_cache"), dict) else {}
    if isinstance(sf, dict):
        for rk, layers in sf.items():
            if not (CANONICAL.match(rk) and int(rk) <= INT32_MAX):
                found.add("key_not_canonical")
            if not isinstance(layers, dict):
                continue
            for lk, v in layers.items():
                if not (CANONICAL.match(lk) and int(lk) <= INT32_MAX):
                    found.add("key_not_canonical")
                if isinstance(v, Constant):
                    continue  # H4 already
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    found.add("scale_not_number")
                    continue
                f = to_f32(float(v)) if not (isinstance(v, int) and abs(v) > 1e308) else math.inf
                if not math.isfinite(f) or not f > 0:
                    found.add("scale_out_of_range")
    return found


# --------------------------------------------------------------------------------------------
# Generation

def scale_text(rng):
    kind = rng.random()
    if kind < 0.45:
        return repr(rng.uniform(0.001, 0.2))  # shortest repr of a double
    if kind < 0.65:  # float32 values widened to double, as extract_scales.py writes them
        return repr(to_f32(rng.uniform(0.001, 0.2)))
    if kind < 0.75:
        return str(rng.randint(1, 1000))
    if kind < 0.85:
        return "%.*e" % (rng.randint(0, 20), rng.uniform(1e-6, 1e3))
    if kind < 0.95:  # many digits, rounding-sensitive
        return "0." + "".join(rng.choice("0123456789") for _ in range(rng.randint(18, 40))) + "1"
    return rng.choice(["1e-40", "1.4e-45", "3.4028235e38", "99999999999999999999", "1.0000000596046448"])


class Doc:
    """A file as an ordered list of (key, value-text) pairs, so duplicates and raw tokens survive."""

    def __init__(self, rng, tp, layers):
        self.model_type = rng.choice(['"llama"', '"mistral"', "null"])
        self.dtype = '"float8_e4m3fn"'
        self.ranks = [[str(r), [[str(l), scale_text(rng)] for l in range(layers)]] for r in range(tp)]
        self.root_extra = []
        self.kv_extra = []
        self.omit = set()
        self.prefix = b""
        self.suffix = b""
        self.raw = None

    def text(self) -> bytes:
        if self.raw is not None:
            return self.raw
        items = []
        if "model_type" not in self.omit:
            items.append(f'"model_type": {self.model_type}')
        kv = []
        if "dtype" not in self.omit:
            kv.append(f'"dtype": {self.dtype}')
        if "scaling_factor" not in self.omit:
            rk = ", ".join(
                json.dumps(k) + ": {" + ", ".join(json.dumps(lk) + ": " + v for lk, v in ls) + "}" for k, ls in self.ranks
            )
            kv.append('"scaling_factor": {' + rk + "}")
        kv += self.kv_extra
        if "kv_cache" not in self.omit:
            items.append('"kv_cache": {' + ", ".join(kv) + "}")
        items += self.root_extra
        rng_order = items  # key order is free in JSON
        return self.prefix + ("{" + ", ".join(rng_order) + "}").encode() + self.suffix


NONCANON = ["0{}", " {}", "{} ", "+{}", "{}.0", "{}.00", "\t{}\n"]


def mutate(rng, d: Doc, ctx):
    m = rng.randrange(26)
    tp = len(d.ranks)
    if m == 0:
        d.dtype = rng.choice(['"fp8"', '"float8_e4m3fnuz"', '"FLOAT8_E4M3FN"', "5", "null"])
    elif m == 1:
        d.omit.add(rng.choice(["model_type", "kv_cache", "dtype", "scaling_factor"]))
    elif m == 2:
        d.model_type = rng.choice(["5", "[]", '"other"', "null"])
    elif m == 3:
        ctx["tp_size"] += rng.choice([-1, 1]) if ctx["tp_size"] > 1 else 1
    elif m == 4:
        ctx["num_hidden_layers"] += rng.choice([-1, 1])
    elif m == 5:
        ctx["tp_rank"] = rng.choice([ctx["tp_size"], -1, ctx["tp_size"] + 3])
    elif m == 6:
        ctx["model_type"] = rng.choice(["llama", "mistral", "gpt2"])
    elif m == 7 and tp:
        del d.ranks[rng.randrange(tp)]
    elif m == 8 and tp:
        ls = d.ranks[rng.randrange(tp)][1]
        if ls:
            del ls[rng.randrange(len(ls))]
    elif m == 9 and tp:
        ls = d.ranks[rng.randrange(tp)][1]
        ls.append([str(len(ls) + rng.randint(0, 3)), scale_text(rng)])
    elif m == 10:
        d.ranks.append([str(tp + rng.randint(0, 2)), [[lk, scale_text(rng)] for lk, _ in (d.ranks[0][1] if tp else [])]])
    elif m == 11 and tp:  # non-canonical layer key (vLLM coerces it back)
        ls = d.ranks[rng.randrange(tp)][1]
        if ls:
            e = rng.choice(ls)
            e[0] = rng.choice(NONCANON).format(e[0])
    elif m == 12 and tp:  # non-canonical rank key
        r = rng.choice(d.ranks)
        r[0] = rng.choice(NONCANON).format(r[0])
    elif m == 13 and tp:  # duplicate layer key, last one wins in Python
        ls = d.ranks[rng.randrange(tp)][1]
        if ls:
            ls.insert(rng.randrange(len(ls) + 1), [rng.choice(ls)[0], scale_text(rng)])
    elif m == 14 and tp:  # duplicate rank
        r = rng.choice(d.ranks)
        d.ranks.insert(0, [r[0], [list(e) for e in r[1]]])
    elif m == 15:
        d.root_extra.append('"model_type": ' + d.model_type)
    elif m in (16, 17) and tp:  # a scale that is not a JSON number
        ls = d.ranks[rng.randrange(tp)][1]
        if ls:
            e = rng.choice(ls)
            e[1] = rng.choice(['"0.5"', '" 0.25 "', '"1e-2"', "true", "false", "null", '"abc"', "[0.5]", '{"v": 1}', '"nan"'])
    elif m == 18 and tp:
        ls = d.ranks[rng.randrange(tp)][1]
        if ls:
            rng.choice(ls)[1] = rng.choice(["NaN", "Infinity", "-Infinity"])
    elif m in (19, 20) and tp:
        ls = d.ranks[rng.randrange(tp)][1]
        if ls:
            rng.choice(ls)[1] = rng.choice(["0", "0.0", "-0.0", "-0.5", "-3", "1e39", "3.5e38", "1e-50", "1e-46", "1e400", "-1e400", "9" * 400])
    elif m == 21:
        d.prefix = rng.choice([b"\xef\xbb\xbf", b" \n", b"\t"])
    elif m == 22:
        d.suffix = rng.choice([b" ", b"\n", b"}", b" {}", b",", b"x"])
    elif m == 23:
        d.raw = rng.choice([b"[]", b"null", b'"x"', b"", b"   ", b"{", b'{"model_type": "llama", "kv_cache": {"dtype": "float8_e4m3fn", "scaling_factor": {}}} ]'])
    elif m == 24:
        (d.root_extra if rng.random() < 0.5 else d.kv_extra).append(rng.choice(['"extra": 1', '"activation": {"x": [1, 2]}', '"v": NaN', '"w": 1e400']))
    elif m == 25:
        d.model_type = rng.choice(['"ll\xff"', '"\\ud800"', '"l\\u00e4ma"'])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--count", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="kvscale_conformance_")
    stats = {"accept": 0, "reject": 0, "h_reject": 0}
    mismatches = []
    for i in range(a.count):
        tp, layers = rng.randint(1, 4), rng.randint(1, 8)
        d = Doc(rng, tp, layers)
        mt = d.model_type
        ctx = {"tp_size": tp, "tp_rank": rng.randrange(tp), "num_hidden_layers": layers,
               "model_type": (json.loads(mt) if rng.random() < 0.5 else None)}
        n_mut = 0 if i % 3 == 0 else rng.choice([1, 1, 1, 2])
        for _ in range(n_mut):
            mutate(rng, d, ctx)
        data = d.text()
        data = data.replace("\xff".encode("utf-8"), b"\xff")  # a raw invalid byte, not U+00FF
        path = os.path.join(tmp, f"f{i:05d}.json")
        with open(path, "wb") as f:
            f.write(data)
        ok_v, model = vllm_load(data, ctx)
        h = h_rules(data) if ok_v else set()
        cmd = [a.cli, "validate", "--json", "--tp-size", str(ctx["tp_size"]), "--tp-rank", str(ctx["tp_rank"]),
               "--num-layers", str(ctx["num_hidden_layers"]), path]
        if ctx["model_type"] is not None:
            cmd[3:3] = ["--model-type", ctx["model_type"]]
        p = subprocess.run(cmd, capture_output=True)
        if p.returncode == 2 and (ctx["tp_size"] < 1 or ctx["tp_rank"] < 0 or ctx["num_hidden_layers"] < 1):
            # A context value outside the CLI's domain is a usage error (exit 2), not a diagnostic.
            stats["reject"] += 1
            if ok_v:
                mismatches.append((path, "vLLM accepts, kvscale calls the context a usage error"))
            continue
        try:
            out = json.loads(p.stdout)
        except Exception:
            mismatches.append((path, f"unparsable output (exit {p.returncode}): {p.stdout[:200]!r} {p.stderr[:200]!r}"))
            continue
        codes = {x["code"] for x in out["diagnostics"]}
        if out["valid"] != (p.returncode == 0):
            mismatches.append((path, f"valid={out['valid']} but exit {p.returncode}"))
            continue
        if not ok_v:
            stats["reject"] += 1
            if out["valid"]:
                mismatches.append((path, "vLLM rejects, kvscale accepts"))
        elif h:
            stats["h_reject"] += 1
            if out["valid"] or not h <= codes:
                mismatches.append((path, f"H rules {sorted(h)}: kvscale valid={out['valid']} codes={sorted(codes)}"))
        else:
            stats["accept"] += 1
            if not out["valid"]:
                mismatches.append((path, f"vLLM accepts, kvscale rejects: {out['diagnostics'][:3]}"))
                continue
            sf = model.kv_cache.scaling_factor
            for r in range(ctx["tp_size"]):
                got = out["scales"].get(str(r), [])
                want = [sf[r][l] for l in range(ctx["num_hidden_layers"])]
                gb = [struct.pack("<f", float(x)) for x in got]
                wb = [struct.pack("<f", to_f32(x)) for x in want]
                if gb != wb:
                    mismatches.append((path, f"rank {r} scales differ: {got} vs {want}"))
                    break
    for path, why in mismatches[:20]:
        print(f"MISMATCH {path}: {why}")
    total = a.count
    print(f"conformance: {total} files, {len(mismatches)} mismatches (accept {stats['accept']}, reject "
          f"{stats['reject'] + stats['h_reject']}: vLLM rejects {stats['reject']}, H rules {stats['h_reject']})")
    if not mismatches and not a.keep:
        subprocess.run(["rm", "-rf", tmp])
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
