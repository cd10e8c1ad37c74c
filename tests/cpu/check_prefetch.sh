#!/bin/sh
# check_prefetch.sh OBJDUMP LIBRARY: every batched dequantize kernel of the library (functions
# named dequantize16_runs or dequantize16_vbmi_runs) holds at least three prefetch instructions:
# the look-ahead loop of prefetch_run_ahead and its two lines kRunsAhead runs ahead
# (src/cpu/kernels.hpp). A compiler may drop prefetches without a word: GCC 12 deleted them all
# when the helper stopped being inlined early, and paged reads of 16,384 tokens ran 2x slower.
set -eu
"$1" -d --no-show-raw-insn -C "$2" | awk '
/^[0-9a-f]+ </ { f = $0; if (f ~ /dequantize16_(vbmi_)?runs/) { seen[f] = 1; c[f] += 0 } next }
/prefetch/ && (f in seen) { c[f]++ }
END {
  n = 0; bad = 0
  for (k in seen) {
    n++
    if (c[k] < 3) { printf "%d prefetch instructions (want >= 3) in %s\n", c[k], k; bad = 1 }
  }
  if (n == 0) { print "no batched dequantize kernel found"; exit 1 }
  if (!bad) printf "%d batched dequantize kernels, each with its prefetches\n", n
  exit bad
}'
