#!/usr/bin/env python3
"""Runs a Google Benchmark binary with one display format and one --benchmark_out format and checks
that each is what the library writes: stdout JSON parses whole (json module) with a "context"
object and a non-empty "benchmarks" array; stdout CSV has the library's header and rows of the same
width; console output ends with the kvscale ratio summary. The --benchmark_out file is checked the
same way. Tools such as Google Benchmark's compare.py read these outputs.

  check_output.py --format json|csv|console --out-format json|csv [--gpu] -- BINARY [ARGS...]

--gpu: without a device the binary must exit 0 (1 under KVSCALE_REQUIRE_GPU=1) with an empty stdout
and say why on stderr; that is a skip (exit 77), and a failure under KVSCALE_REQUIRE_GPU=1.
Exit: 0 pass, 1 fail, 77 skipped.
"""
import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile

CSV_HEADER = ["name", "iterations", "real_time", "cpu_time", "time_unit"]


def fail(msg, out=""):
    print("FAIL: " + msg)
    if out:
        print("---- output ----\n" + out[-3000:])
    sys.exit(1)


def check_json(text, where):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{where} is not valid JSON: {e}", text)
    if not isinstance(doc, dict) or not isinstance(doc.get("context"), dict):
        fail(f'{where}: no "context" object', text)
    runs = doc.get("benchmarks")
    if not isinstance(runs, list) or not runs:
        fail(f'{where}: no non-empty "benchmarks" array', text)
    for r in runs:
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or "real_time" not in r:
            fail(f"{where}: a benchmark entry without name/real_time: {r!r}", text)
    if not any(r.get("bytes_per_second", 0) > 0 for r in runs):
        fail(f"{where}: no run reports bytes_per_second", text)
    return len(runs)


def check_csv(text, where, skip_context=False):
    lines = text.splitlines(keepends=True)
    if skip_context:
        # A --benchmark_out CSV file starts with the run's context (date, CPU, caches, load): the
        # library's CSV reporter writes its context to its error stream, which for the file
        # reporter is the file itself (Google Benchmark 1.7.1). The table starts at the header.
        starts = [i for i, line in enumerate(lines) if line.startswith(",".join(CSV_HEADER) + ",")]
        lines = lines[starts[0]:] if starts else lines
    rows = list(csv.reader(io.StringIO("".join(lines))))
    if len(rows) < 2 or rows[0][: len(CSV_HEADER)] != CSV_HEADER:
        fail(f"{where}: no Google Benchmark CSV header ({','.join(CSV_HEADER)},...)", text)
    width = len(rows[0])
    for row in rows[1:]:
        if len(row) != width:
            fail(f"{where}: a row of {len(row)} fields under a header of {width}: {row!r}", text)
    return len(rows) - 1


def check_console(text, where):
    # bench_cpu's summary: a title, then rows such as "roundtrip 4KiB   12.34   1.05x ...".
    if "Summary" not in text or not re.search(r"\s\d+\.\d\dx(\s|$)", text.split("Summary", 1)[1]):
        fail(f"{where}: no ratio (N.NNx) in a summary after the console table", text)
    return text.count("\n")


CHECKS = {"json": check_json, "csv": check_csv, "console": check_console}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=CHECKS, required=True)
    ap.add_argument("--out-format", choices=["json", "csv"], required=True)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "out." + a.out_format)
        cmd = a.cmd + [f"--benchmark_format={a.format}", f"--benchmark_out={out_file}",
                       f"--benchmark_out_format={a.out_format}"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        if a.gpu and "no GPU device" in p.stderr:
            required = os.environ.get("KVSCALE_REQUIRE_GPU") == "1"
            want = 1 if required else 0  # the binary itself fails when a GPU is required
            if p.returncode != want or p.stdout:
                fail(f"no-GPU run: exit {p.returncode} and {len(p.stdout)} bytes on stdout (want {want} and none)",
                     p.stdout + p.stderr)
            if required:
                fail("KVSCALE_REQUIRE_GPU=1 but " + p.stderr.strip())
            print("skipped: " + p.stderr.strip())
            sys.exit(77)
        if p.returncode != 0:
            fail(f"{' '.join(cmd)} exited {p.returncode}", p.stdout + p.stderr)
        n = CHECKS[a.format](p.stdout, f"stdout ({a.format})")
        if not os.path.exists(out_file):
            fail(f"--benchmark_out={out_file} was not written")
        with open(out_file, encoding="utf-8") as f:
            text = f.read()
        if a.out_format == "csv":
            m = check_csv(text, "--benchmark_out (csv)", skip_context=True)
        else:
            m = check_json(text, "--benchmark_out (json)")
    print(f"ok: stdout {a.format} ({n} entries), --benchmark_out {a.out_format} ({m} entries)")


if __name__ == "__main__":
    main()
