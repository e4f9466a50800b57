#!/usr/bin/env bash
# Bazel entry point of the A/B harness (ab.py): finds libfreebump.so and the workload programs
# in the runfiles and passes the user's arguments on.
#   ./bazelw run //benchmarks:main_job -- --quick
#   ./bazelw run //benchmarks:main_job -- --runs 3 -- /path/to/program args
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/libfreebump"
exec /usr/bin/python3 "$runfiles/benchmarks/ab.py" \
  --library "$runfiles/preload/libfreebump.so" \
  --measure "$runfiles/benchmarks/measure" \
  --workloads-binary "$runfiles/benchmarks/workloads" \
  --mt-workload "$runfiles/tests/preload/mt_workload" "$@"
