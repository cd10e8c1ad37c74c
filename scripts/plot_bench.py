"""Plots the JSON of `kvscale bench --json-out FILE` with matplotlib (run by scripts/plot-bench).

Top panel: GB/s of the round trip against the bf16 tensor size, with the same-run baselines
(memcpy or device copy, dashed; the scalar loop). Bottom panel: the round trip's throughput as a
ratio to the copy baseline. The title names the CPU (model, ISA, threads), the GPU when one ran,
the kvscale version, the start time and the load average recorded at the start.
"""
import argparse
import json
import sys


def fail(msg):
    sys.exit("plot-bench: " + msg)


NUM = (int, float)
# What a plot needs from each "points" entry; scalar_gbps and ratio_scalar may be null.
POINT_KEYS = {"bf16_bytes": (int,), "kernel_gbps": NUM, "copy_gbps": NUM, "ratio_copy": NUM,
              "scalar_gbps": NUM + (type(None),)}


def check_side(doc, side, path):
    d = doc.get(side)
    if side == "cpu" and not (isinstance(d, dict) and all(isinstance(d.get(k), t) for k, t in
                                                          (("model", str), ("isa", str), ("threads", int)))):
        fail(f'{path}: "cpu" must hold "model", "isa" and "threads"')
    if side == "gpu" and d is not None and not (isinstance(d, dict) and isinstance(d.get("device"), str)):
        fail(f'{path}: "gpu" must be null or hold "device"')
    pts = d.get("points") if isinstance(d, dict) else None
    if not isinstance(pts, list) or not pts or not all(
            isinstance(p, dict) and all(isinstance(p.get(k, ()), t) for k, t in POINT_KEYS.items()) for p in pts):
        fail(f'{path}: "{side}.points" must be a non-empty list of {{{", ".join(POINT_KEYS)}, ...}}')


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")
    if not isinstance(doc, dict) or doc.get("tool") != "kvscale bench":
        fail(f'{path}: not the JSON of kvscale bench (no "tool": "kvscale bench")')
    check_side(doc, "cpu", path)
    if doc.get("gpu") is not None:
        check_side(doc, "gpu", path)
    return doc


def size_label(b):
    return f"{b >> 20} MiB" if b >= 1 << 20 else f"{b >> 10} KiB"


def series(pts, key):
    xs = [p["bf16_bytes"] for p in pts if isinstance(p.get(key), (int, float)) and p[key] > 0]
    ys = [p[key] for p in pts if isinstance(p.get(key), (int, float)) and p[key] > 0]
    return xs, ys


def plot(doc, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpu, gpu = doc["cpu"], doc.get("gpu")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    lines = [(cpu, "CPU round trip", "-", "tab:blue", "kernel_gbps"),
             (cpu, "CPU memcpy (same bytes)", "--", "dimgray", "copy_gbps"),
             (cpu, "CPU scalar loop", "-", "tab:red", "scalar_gbps")]
    if gpu:
        lines += [(gpu, "GPU round trip", "-", "tab:green", "kernel_gbps"),
                  (gpu, "GPU device copy (same bytes)", "--", "yellowgreen", "copy_gbps")]
    for side, label, style, color, key in lines:
        xs, ys = series(side["points"], key)
        if xs:
            top.plot(xs, ys, style, color=color, marker="o", markersize=4, label=label)
    top.set_ylabel("GB/s (log; bytes read + written once, 1 GB = 1e9 B)")
    top.set_yscale("log")  # memcpy from cache and the scalar loop are ~100x apart
    top.grid(True, alpha=0.3)
    top.legend(loc="best", fontsize=9)
    for side, label, color in [(cpu, "CPU round trip / memcpy", "tab:blue")] + (
            [(gpu, "GPU round trip / device copy", "tab:green")] if gpu else []):
        xs, ys = series(side["points"], "ratio_copy")
        if xs:
            bottom.plot(xs, ys, "-", color=color, marker="o", markersize=4, label=label)
    bottom.axhline(1.0, color="dimgray", linestyle="--", linewidth=1)
    bottom.set_ylabel("round trip / copy")
    bottom.set_ylim(bottom=0)
    bottom.grid(True, alpha=0.3)
    bottom.legend(loc="best", fontsize=9)
    xs = [p["bf16_bytes"] for p in cpu["points"]]
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(xs)
    bottom.set_xticklabels([size_label(x) for x in xs])
    bottom.set_xlabel("size of the bf16 tensor")
    cpu_line = f'CPU: {cpu.get("model", "unknown CPU")}, {cpu.get("isa", "?")}, {cpu.get("threads", "?")} threads'
    if gpu:
        cpu_line += f'; GPU: {gpu.get("device", "?")} ({gpu.get("backend", "?")})'
    load = doc.get("load_avg")
    run_line = f'kvscale {doc.get("version", "?")}, {doc.get("started", "date unknown")}'
    if isinstance(load, list) and len(load) == 3 and load[0] >= 0:
        run_line += f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    if doc.get("quick"):
        run_line += ", --quick"
    fig.suptitle(f'kvscale bf16 -> fp8 {doc.get("format", "")} -> bf16 round trip\n{cpu_line}\n{run_line}',
                 fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100, metadata={"Software": None})
    except OSError as e:
        fail(f"cannot write {out}: {e}")


def main():
    ap = argparse.ArgumentParser(prog="plot-bench", description="Plot kvscale bench --json-out FILE as a PNG.")
    ap.add_argument("json", help="the JSON written by kvscale bench --json-out")
    ap.add_argument("-o", "--out", help="PNG to write (default: the JSON's name with .png)")
    ap.add_argument("--check", action="store_true", help="only check that the JSON holds what a plot needs")
    a = ap.parse_args()
    if a.check:
        doc = load(a.json)
        print(f'plot-bench: {a.json} can be plotted ({len(doc["cpu"]["points"])} CPU sizes'
              f'{", GPU too" if doc.get("gpu") else ""})')
        return
    out = a.out or (a.json[:-5] if a.json.endswith(".json") else a.json) + ".png"
    plot(load(a.json), out)
    print(f"plot-bench: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
