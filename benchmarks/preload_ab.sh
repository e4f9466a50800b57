#!/usr/bin/env bash
# Bazel entry point for preload_ab.py: finds the built library and workload in the runfiles.
#   ./bazelw run //benchmarks:preload_ab -- --runs 5
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/libfreebump"
exec /usr/bin/python3 "$runfiles/benchmarks/preload_ab.py" \
  --library "$runfiles/preload/libfreebump.so" \
  --mt-workload "$runfiles/tests/preload/mt_workload" "$@"
