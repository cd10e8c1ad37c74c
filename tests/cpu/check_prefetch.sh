#!/bin/sh
# check_prefetch.sh OBJDUMP LIBRARY: the paged ops' look-aheads are in the built library
# (src/cpu/kernels.hpp). A compiler may drop prefetches without a word: GCC 12 deleted them all
# when the helper stopped being inlined early, and paged reads of 16,384 tokens ran 2x slower.
# - every batched dequantize kernel (dequantize16_runs, dequantize16_vbmi_runs) holds at least
#   three prefetch instructions: the look-ahead loop of prefetch_run_ahead and its two lines
#   kRunsAhead runs ahead;
# - every batched bf16 quantize kernel of the paged writes (quantize_bf16_step_runs instantiated
#   for quantize_step_runs (AVX2), quantize_step_runs_avx512 and quantize_step_runs_vbmi; the
#   contiguous quantize's instantiations never prefetch the output) holds a prefetch of the lines
#   it writes (prefetch_out): one whose displacement is under 4 KiB, unlike the in-row
#   look-ahead's (4 KiB past the inputs it reads). At least 4 of them: a kernel renamed out of
#   the pattern fails the check rather than leaving it;
# - every instantiation of paged_chunk (a write and a read) holds a prefetch: the look-ahead over
#   the rows of the tokens that the tile path moves next (RowLookAhead in src/cpu/paged.cpp).
set -eu
"$1" -d --no-show-raw-insn -C "$2" | awk '
/^[0-9a-f]+ </ {
  f = $0
  # A [clone .cold] part holds the paths GCC moved out of the function (the asan build has them);
  # the function itself is what is checked.
  if (f ~ /\[clone \.cold\]/) { f = ""; next }
  if (f ~ /dequantize16_(vbmi_)?runs/) { kind[f] = "d"; c[f] += 0 }
  else if (f ~ /quantize_bf16_step_runs/ && f ~ /quantize_step_runs(_avx512|_vbmi)?\(/ && f !~ /quantize_bf16_by_table/) {
    kind[f] = "q"; c[f] += 0
  }
  else if (f ~ /paged_chunk</) { kind[f] = "p"; c[f] += 0 }
  next
}
/prefetch/ && (f in kind) {
  if (kind[f] == "d" || kind[f] == "p") c[f]++
  else if ($3 ~ /^\(/ || $3 ~ /^0x[0-9a-f]?[0-9a-f]?[0-9a-f]\(/) c[f]++
}
END {
  nd = 0; nq = 0; np = 0; bad = 0
  for (k in kind) {
    if (kind[k] == "d") { nd++; want = 3; what = "prefetch instructions" }
    else if (kind[k] == "p") { np++; want = 1; what = "prefetches of the rows" }
    else { nq++; want = 1; what = "prefetches of the output" }
    if (c[k] < want) { printf "%d %s (want >= %d) in %s\n", c[k], what, want, k; bad = 1 }
  }
  if (nd == 0) { print "no batched dequantize kernel found"; bad = 1 }
  if (nq < 4) { printf "%d batched bf16 quantize kernels found (want the AVX2 and AVX-512 ones, e4m3fn and e4m3fnuz: 4, or 6 with VBMI)\n", nq; bad = 1 }
  if (np != 2) { printf "%d instantiations of paged_chunk found (want 2)\n", np; bad = 1 }
  if (!bad) printf "%d batched dequantize and %d batched quantize kernels and %d paged_chunk, each with its prefetches\n", nd, nq, np
  exit bad
}'
