#!/usr/bin/env bash
# Bazel entry point of the A/B harness (ab.py): finds libfreebump.so and the workload programs
# in the runfiles and passes the user's arguments on (after the BUILD file's, the targets).
#   ./bazelw run //benchmarks:main_job -- --quick
#   ./bazelw run //benchmarks:main_job -- --runs 3 -- /path/to/program args
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/libfreebump"
exec /usr/bin/python3 "$runfiles/benchmarks/ab.py" \
  --library "$runfiles/preload/libfreebump.so" \
  --measure "$runfiles/benchmarks/measure" \
  --workloads-binary "$runfiles/benchmarks/workloads" \
  --mt-workload "$runfiles/tests/preload/mt_workload" \
  --gxx-input "$runfiles/benchmarks/gxx_input.cc" \
  --python-threads "$runfiles/tests/preload/python_threads.py" \
  --sqlite-workload "$runfiles/benchmarks/sqlite_workload.py" \
  --python-objects "$runfiles/benchmarks/python_objects.py" "$@"
