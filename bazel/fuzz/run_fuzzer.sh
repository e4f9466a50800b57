#!/usr/bin/env bash
# Runs a libFuzzer target (bazel/fuzz/fuzz_rules.bzl):
#
#   run_fuzzer.sh FUZZER SECONDS CORPUS_DIR REGRESSIONS_DIR [--seconds N] [-- LIBFUZZER_FLAGS]
#
# Under `bazel test`: replays every seed of the two folders (runfiles), then fuzzes for SECONDS
# from them; an input that fails is written to the test's undeclared outputs
# (bazel-testlogs/.../test.outputs/), to be copied into REGRESSIONS_DIR.
# Under `bazel run` (BUILD_WORKSPACE_DIRECTORY set): fuzzes for `--seconds N` (default 600) and
# writes into the repository: a failing input into REGRESSIONS_DIR, then the inputs of the run
# that reach code the corpus does not into CORPUS_DIR (libFuzzer's -merge=1, on edges only:
# -use_counters=0 keeps the corpus to a few dozen files). Flags after `--` go to libFuzzer
# (e.g. -jobs=2 -workers=2).
set -uo pipefail

fuzzer="$1" test_seconds="$2" corpus_dir="$3" regressions_dir="$4"
shift 4

# Per input: a time-out (an input that hangs the heap is a failure too) and a memory bound
# (the fuzz targets' heaps are at most a few MiB each). Inputs up to 4 KiB: hundreds of
# operations, each followed by the heap check.
common_flags=(-timeout=30 -rss_limit_mb=3072 -max_len=4096 -print_final_stats=1)

seed_folders=()
for folder in "$corpus_dir" "$regressions_dir"; do
  [[ -d "$folder" ]] && seed_folders+=("$folder")
done

if [[ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]]; then
  seconds=600
  extra_flags=()
  while (($#)); do
    case "$1" in
      --seconds) seconds="$2"; shift 2 ;;
      --) shift; extra_flags=("$@"); break ;;
      *) echo "run_fuzzer: unknown argument $1 (--seconds N, -- LIBFUZZER_FLAGS)" >&2; exit 2 ;;
    esac
  done
  repo_corpus="$BUILD_WORKSPACE_DIRECTORY/$corpus_dir"
  repo_regressions="$BUILD_WORKSPACE_DIRECTORY/$regressions_dir"
  mkdir -p "$repo_corpus" "$repo_regressions"
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-corpus.XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
  echo "run_fuzzer: fuzzing for $seconds s; failing inputs go to $repo_regressions" >&2
  "$fuzzer" "${common_flags[@]}" -max_total_time="$seconds" -artifact_prefix="$repo_regressions/" \
    "${extra_flags[@]}" "$scratch" "$repo_corpus" "$repo_regressions"
  status=$?
  echo "run_fuzzer: adding the inputs that add coverage to $repo_corpus" >&2
  "$fuzzer" -merge=1 -use_counters=0 "$repo_corpus" "$scratch" >/dev/null 2>&1 ||
    echo "run_fuzzer: the merge failed (an input of the run fails: see above)" >&2
  exit "$status"
fi

# A test leg may run shorter (setting_test passes its arguments on).
if [[ "${1:-}" == "--seconds" ]]; then
  test_seconds="$2"
fi

source bazel/test_cases.sh

replays_every_seed() {
  local seeds=()
  local folder
  for folder in "${seed_folders[@]}"; do
    seeds+=("$folder"/*)
  done
  ((${#seeds[@]} > 0)) || fail "no seeds in $corpus_dir or $regressions_dir"
  "$fuzzer" "${common_flags[@]}" "${seeds[@]}" 2>&1 | tail -n 40
  local status=${PIPESTATUS[0]}
  ((status == 0)) || fail "a seed fails (exit $status): see above"
  echo "replayed ${#seeds[@]} seeds"
}

fuzzes_without_failure() {
  local outputs="${TEST_UNDECLARED_OUTPUTS_DIR:-$TEST_TMPDIR}"
  local scratch="$TEST_TMPDIR/corpus"
  mkdir -p "$scratch"
  "$fuzzer" "${common_flags[@]}" -max_total_time="$test_seconds" -artifact_prefix="$outputs/" \
    "$scratch" "${seed_folders[@]}" >"$outputs/fuzzer.log" 2>&1
  local status=$?
  tail -n 80 "$outputs/fuzzer.log"
  ((status == 0)) || fail "fuzzing found a failing input (exit $status), kept in $outputs: copy it into $regressions_dir"
}

run_case replays_every_seed
run_case fuzzes_without_failure
finish_cases
