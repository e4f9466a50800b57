#!/usr/bin/env bash
# Bazel entry point of fast_path.py: finds libfreebump.so and the two loops in the runfiles.
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/libfreebump"
exec /usr/bin/python3 "$runfiles/benchmarks/fast_path.py" \
  --library "$runfiles/preload/libfreebump.so" --binary "$runfiles/benchmarks/fast_path_loop" \
  --pair-loop "$runfiles/benchmarks/pair_loop" "$@"
