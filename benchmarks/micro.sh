#!/usr/bin/env bash
# Runs the microbenchmarks: the core, libfreebump's malloc (linked in), glibc's malloc.
#   ./bazelw run //benchmarks:micro [-- --benchmark_filter=Pair]
# Extra arguments go to every Google Benchmark binary. Times are per malloc/free pair
# (per block for the burst and cross-thread benchmarks). Figures, not assertions; on a busy
# machine, prefer --benchmark_repetitions=5 --benchmark_report_aggregates_only=true.
set -euo pipefail
core="$1" freebump="$2" glibc="$3"
shift 3
for pair in "core (FreeingBumpHeap, no lock, no TLS)|$core" \
            "libfreebump malloc (//preload:malloc_overrides linked in)|$freebump" \
            "glibc malloc|$glibc"; do
  echo "== ${pair%%|*}"
  "${pair#*|}" --benchmark_min_time=0.2 "$@" 2>&1 | grep -v '^\*\*\*WARNING'
  echo
done
