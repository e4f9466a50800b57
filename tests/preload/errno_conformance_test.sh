#!/usr/bin/env bash
# errno as glibc sets it: every case of errno_cases (one line each: a call's result and errno)
# must print the same under libfreebump as under this machine's glibc.
#
# Usage (Bazel passes these): errno_conformance_test.sh LIBFREEBUMP_SO ERRNO_CASES
set -uo pipefail
source bazel/test_cases.sh

readonly LIBRARY="$(realpath "$1")"
readonly CASES="$(realpath "$2")"
readonly GLIBC_LINES="$TEST_TMPDIR/glibc.txt"
readonly OURS_LINES="$TEST_TMPDIR/libfreebump.txt"

"$CASES" >"$GLIBC_LINES" || { echo "errno_cases failed under glibc"; exit 1; }
LD_PRELOAD="$LIBRARY" "$CASES" >"$OURS_LINES"
readonly OURS_STATUS=$?

runs_to_the_end() {
  [[ $OURS_STATUS -eq 0 ]] || fail "exit status $OURS_STATUS under libfreebump"
  [[ $(wc -l <"$OURS_LINES") -eq $(wc -l <"$GLIBC_LINES") ]] ||
    fail "$(wc -l <"$OURS_LINES") lines under libfreebump, $(wc -l <"$GLIBC_LINES") under glibc"
}
run_case runs_to_the_end

# One case per line of glibc's, named after the call: libfreebump must print the same line.
same_line_as_glibc() {
  grep -q -F -x -- "$expected" "$OURS_LINES" ||
    fail "glibc: $expected; libfreebump: $(grep -F -- "$call:" "$OURS_LINES")"
}
while IFS= read -r expected; do
  call="${expected%%:*}"
  name="$(printf '%s' "$call" | tr -c 'A-Za-z0-9' '_' | sed 's/__*/_/g; s/_$//')"
  eval "$name() { same_line_as_glibc; }"
  run_case "$name"
done <"$GLIBC_LINES"
finish_cases
