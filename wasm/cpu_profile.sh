#!/usr/bin/env bash
# Where the wasm workloads' time goes: each workload under node --cpu-prof, libfreebump and
# dlmalloc interleaved run by run, the profiles split into allocator, workload and outside
# wasm (cpu_profile_split.py), summed over the runs. A measurement, not an assertion.
#   ./bazelw run //wasm:cpu_profile [-- RUNS]   (default 5)
set -euo pipefail
ours="$1" theirs="$2" runner="$3" splitter="$4"
runs="${5:-5}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for mode in mix random; do
  for ((i = 0; i < runs; i++)); do
    for who in libfreebump dlmalloc; do
      program="$ours"
      [[ "$who" == dlmalloc ]] && program="$theirs"
      node --no-warnings --cpu-prof --cpu-prof-interval 200 --cpu-prof-dir "$dir/$mode-$who" \
        "$runner" "$program" "$who" "$mode" >> "$dir/$mode-$who.txt"
    done
  done
  echo "Workload $mode, $runs runs each under node --cpu-prof (200 us sampling):"
  for who in libfreebump dlmalloc; do
    python3 "$splitter" "$who" "$dir/$mode-$who"/*.cpuprofile
  done
  for who in libfreebump dlmalloc; do
    printf '  %-12s ops/us per run (profiled): %s\n' "$who" "$(awk '{printf "%s ", $2}' "$dir/$mode-$who.txt")"
  done
done
