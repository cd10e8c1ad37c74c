#!/usr/bin/env python3
"""Differential test: `kvscale validate CHECKPOINT [--tp-size T --tp-rank R] --json` vs spec_model.py.

    differential.py --cli PATH/TO/kvscale [--count 520] [--seed 20261126] [--keep]
    differential.py --self-check [--count 520] [--seed ...]     (no binary: generator vs model)

Generates seeded checkpoints (gen_checkpoints.py: every producer convention, single / sharded /
HF-cache symlinks / bare files, and one mutation per invalid case) in a temporary directory, runs
the CLI on each without a context and with the generated TP contexts, and compares:
  * validity (and exit status 0 / 1, `valid` in the JSON);
  * source; for a rejected checkpoint: k_scales == v_scales == {} and at least one of the model's
    primary codes among the reported diagnostics (spec_model.py documents the precedence);
    for the file-specific codes (S rules, C2-C4, config_invalid) of a directory, such a diagnostic's
    location must be FILE:POINTER with FILE the offending file relative to the checkpoint
    directory (--no-pointer-check turns this off);
  * for an accepted one: no diagnostics, producer, model_type, num_layers, num_kv_heads (when the
    model knows it), tp_size / tp_rank (with a context), granularity, and k_scales / v_scales
    entry by entry as float32 bit patterns (a number per tensor, a list per head), and the model's
    warning codes among the reported warnings.
--self-check compares the model with the generator's intent instead: same validity, the intended
code among the model's primary codes, intended warnings reported, and (for valid cases) the model's
rank-0 scales equal to the values the generator wrote.
Exit 0: no mismatch; 1: mismatches (each printed); 2: usage.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_checkpoints as gen  # noqa: E402
import spec_model as model  # noqa: E402


def bits(x):
    return struct.unpack("<I", struct.pack("<f", model.to_f32(float(x))))[0]


def same_entries(got, want):
    """got: CLI JSON rows {rank: [entry]}; want: model rows. Returns a reason or None."""
    if not isinstance(got, dict) or sorted(got) != sorted(want):
        return f"ranks {sorted(got) if isinstance(got, dict) else got!r} != {sorted(want)}"
    for r in want:
        g, w = got[r], want[r]
        if not isinstance(g, list) or len(g) != len(w):
            return f"rank {r}: {len(g) if isinstance(g, list) else g!r} entries, want {len(w)}"
        for l, (ge, we) in enumerate(zip(g, w)):
            if isinstance(we, list):
                if not isinstance(ge, list) or [bits(x) for x in ge] != [bits(x) for x in we]:
                    return f"rank {r} layer {l}: {ge!r} != {we!r}"
            else:
                if isinstance(ge, list) or isinstance(ge, bool) or not isinstance(ge, (int, float)) or bits(ge) != bits(we):
                    return f"rank {r} layer {l}: {ge!r} != {we:.9g}"
    return None


# Codes whose location names one file unambiguously: the diagnostic's FILE (before the first ':')
# must be that file, relative to the checkpoint directory (spec "Diagnostics").
FILE_CODES = {"safetensors_header_invalid", "safetensors_metadata_invalid", "safetensors_tensor_invalid",
              "safetensors_offsets_invalid", "scale_dtype_unsupported", "scale_shape_invalid", "scale_out_of_range",
              "config_invalid"}


def compare_cli(out, rc, m, ctx, check_pointers=True):
    """Mismatch reasons between the CLI's output and the model's verdict."""
    why = []
    if rc not in (0, 1):
        return [f"exit status {rc}"]
    if not isinstance(out, dict):
        return ["output is not a JSON object"]
    if out.get("valid") is not (rc == 0):
        why.append(f"valid={out.get('valid')!r} but exit {rc}")
    if out.get("valid") != m.valid:
        why.append(f"valid={out.get('valid')!r}, model says {m.valid} "
                   f"(model errors {m.codes[:4]}, CLI diagnostics {[d.get('code') for d in out.get('diagnostics', [])][:4]})")
        return why
    if out.get("source") != m.source:
        why.append(f"source {out.get('source')!r} != {m.source!r}")
    diags = out.get("diagnostics")
    warns = out.get("warnings")
    if not isinstance(diags, list) or not isinstance(warns, list):
        return why + ["diagnostics / warnings are not lists"]
    for d in diags + warns:
        if not (isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("code", "pointer", "message"))):
            why.append(f"malformed diagnostic {d!r}")
            break
    codes = {d.get("code") for d in diags if isinstance(d, dict)}
    wcodes = {d.get("code") for d in warns if isinstance(d, dict)}
    if not m.valid:
        if out.get("k_scales") != {} or out.get("v_scales") != {}:
            why.append("rejected but k_scales / v_scales are not {}")
        if not codes & m.primary:
            why.append(f"none of {sorted(m.primary)} reported (model errors {m.codes[:4]}); CLI: {sorted(codes)}")
        elif check_pointers and m.source == "checkpoint" and m.codes[0] in FILE_CODES:
            want = m.errors[0][2].split(":", 1)[0]
            got = [d.get("pointer", "") for d in diags if d.get("code") in m.primary]
            if not any(isinstance(x, str) and x.split(":", 1)[0] == want and ":" in x for x in got):
                why.append(f"{m.codes[0]}: no location in {want}: (FILE:POINTER); CLI pointers {got[:3]}")
        return why
    if diags:
        why.append(f"valid with diagnostics {sorted(codes)}")
    for key in ("producer", "model_type", "num_layers", "granularity"):
        if out.get(key) != getattr(m, key):
            why.append(f"{key} {out.get(key)!r} != {getattr(m, key)!r}")
    if m.num_kv_heads is not None and out.get("num_kv_heads") != m.num_kv_heads:
        why.append(f"num_kv_heads {out.get('num_kv_heads')!r} != {m.num_kv_heads}")
    if ctx is not None:
        for key in ("tp_size", "tp_rank"):
            if out.get(key) != ctx[key]:
                why.append(f"{key} {out.get(key)!r} != {ctx[key]}")
    for key, want in (("k_scales", m.k_scales), ("v_scales", m.v_scales)):
        r = same_entries(out.get(key), want)
        if r:
            why.append(f"{key}: {r}")
    missing = m.warnings - wcodes
    if missing:
        why.append(f"warnings {sorted(missing)} not reported (CLI: {sorted(wcodes)})")
    return why


def self_check(p, m, ctx, intended):
    why = []
    iv = intended is None and p.intent["valid"]
    icode = intended if intended is not None else p.intent["code"]
    if m.valid != iv:
        return [f"model valid={m.valid} (errors {m.as_dict()['errors'][:3]}), generator intends "
                f"{'valid' if iv else icode}"]
    if not iv:
        if icode not in m.primary:
            why.append(f"intended {icode}, model primary {sorted(m.primary)} (errors {m.codes[:4]})")
        return why
    miss = set(p.intent["warnings"]) - m.warnings
    if p.kind == "dir" and miss:
        why.append(f"warnings {sorted(miss)} intended, model has {sorted(m.warnings)}")
    if ctx is None and p.expect is not None:
        for kv, rows in (("K", m.k_scales), ("V", m.v_scales)):
            want = p.expect[kv]
            got = rows.get("0")
            if got is None or len(got) != len(want):
                why.append(f"{kv}: model rows {got!r} vs generator {want!r}")
                continue
            for l, (g, w) in enumerate(zip(got, want)):
                gl, wl = isinstance(g, list), isinstance(w, list)
                if gl != wl or ([bits(x) for x in g] if gl else bits(g)) != ([bits(x) for x in w] if wl else bits(w)):
                    why.append(f"{kv} layer {l}: model {g!r} vs generator {w!r}")
                    break
    return why


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", help="path to the kvscale binary")
    ap.add_argument("--self-check", action="store_true", help="generator vs model only (no binary)")
    ap.add_argument("--count", type=int, default=520)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--sparse-every", type=int, default=100,
                    help="every Nth case gets large sparse weights (0: none)")
    ap.add_argument("--sparse-gib", type=float, default=4.0)
    ap.add_argument("--num-layers-arg", action="store_true",
                    help="also pass --num-layers (the config's) with a context, for a CLI that wants all three")
    ap.add_argument("--keep", action="store_true", help="keep the generated checkpoints")
    ap.add_argument("--no-pointer-check", action="store_true",
                    help="do not check the FILE part of file-specific diagnostics' locations")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if not a.self_check and not a.cli:
        ap.error("give --cli PATH or --self-check")
    if a.cli and not os.access(a.cli, os.X_OK):
        print(f"checkpoint differential: {a.cli} is not an executable")
        return 2
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="kvscale-ckpt-")
    n_ckpt = n_runs = 0
    mismatches = []
    stats = {"valid": 0, "rejected": 0}
    by_code = {}
    try:
        for p in gen.generate(a.seed, a.count, sparse_every=a.sparse_every,
                              sparse_bytes=int(a.sparse_gib * (1 << 30))):
            case_dir = os.path.join(tmp, f"case_{p.case:05d}")
            path = gen.write_plan(p, case_dir, seed=p.case)
            n_ckpt += 1
            runs = [(None, None)] + [({"tp_size": T, "tp_rank": r}, code) for T, r, code in p.ctxs]
            for ctx, intended in runs:
                n_runs += 1
                m = model.evaluate(path, ctx)
                stats["valid" if m.valid else "rejected"] += 1
                if not m.valid:
                    by_code[m.codes[0]] = by_code.get(m.codes[0], 0) + 1
                label = f"case {p.case} [{p.convention}, {p.intent['mutation'] or 'valid'}] {path}" + (
                    f" --tp-size {ctx['tp_size']} --tp-rank {ctx['tp_rank']}" if ctx else "")
                if a.self_check:
                    why = self_check(p, m, ctx, intended)
                else:
                    cmd = [a.cli, "validate", path, "--json"]
                    if ctx:
                        cmd += ["--tp-size", str(ctx["tp_size"]), "--tp-rank", str(ctx["tp_rank"])]
                        if a.num_layers_arg and m.num_layers is not None:
                            cmd += ["--num-layers", str(m.num_layers)]
                    try:
                        proc = subprocess.run(cmd, capture_output=True, timeout=30)
                    except subprocess.TimeoutExpired:
                        mismatches.append((label, ["timed out after 30 s (are weights being read?)"]))
                        continue
                    try:
                        out = json.loads(proc.stdout)
                    except ValueError:
                        mismatches.append((label, [f"unparsable output (exit {proc.returncode}): "
                                                   f"{proc.stdout[:200]!r} {proc.stderr[:200]!r}"]))
                        continue
                    why = compare_cli(out, proc.returncode, m, ctx, not a.no_pointer_check)
                if why:
                    mismatches.append((label, why))
                elif a.verbose:
                    print(f"ok {label}")
    finally:
        if not a.keep and not mismatches:
            shutil.rmtree(tmp, ignore_errors=True)
    for label, why in mismatches:
        print(f"MISMATCH {label}")
        for w in why:
            print(f"    {w}")
    kind = "self-check (generator vs spec model)" if a.self_check else "differential (kvscale vs spec model)"
    codes = ", ".join(f"{k} {v}" for k, v in sorted(by_code.items()))
    print(f"checkpoint {kind}: {n_ckpt} checkpoints, {len(mismatches)} mismatches "
          f"({n_runs} runs: {stats['valid']} valid, {stats['rejected']} rejected; primary codes: {codes}) "
          f"in {time.time() - t0:.1f} s")
    if mismatches:
        print(f"checkpoints kept in {tmp}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
