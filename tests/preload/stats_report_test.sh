#!/usr/bin/env bash
# FREEBUMP_STATS reaches its reader: with 1 the report at exit goes to the stderr the program
# started with, even when the program closes it first (coreutils do, in an atexit handler);
# with a path each process appends one report with its pid; any other value is warned about
# in one line and turns nothing on; and a program that closes the library's descriptor and
# reuses its number never finds a report in its own file.
#
# Usage (Bazel passes this): stats_report_test.sh LIBFREEBUMP_SO
set -uo pipefail
source bazel/test_cases.sh

readonly LIBRARY="$(realpath "$1")"
readonly WORK="$TEST_TMPDIR/stats_report"
readonly REPORT='^libfreebump: statistics for pid [0-9]*$'
mkdir -p "$WORK"
printf 'b\na\nc\n' >"$WORK/lines.txt"

# with_stats SETTING COMMAND...: runs the command with the library and FREEBUMP_STATS=SETTING,
# exec'd by a shell that notes its pid in $WORK/pid (the shell itself runs without them);
# stdout and stderr in $WORK/out and $WORK/err.
with_stats() {
  local setting="$1"
  shift
  bash -c 'echo $$ >"$0/pid" && LD_PRELOAD="$1" FREEBUMP_STATS="$2" exec "${@:3}"' "$WORK" "$LIBRARY" "$setting" "$@" \
    >"$WORK/out" 2>"$WORK/err"
}

# reaches_stderr COMMAND...: exactly one report on stderr, from the program itself.
reaches_stderr() {
  with_stats 1 "$@" || fail "exit $?: $(head -c 300 "$WORK/err")"
  local pid
  pid="$(cat "$WORK/pid")"
  [[ "$(grep -c "$REPORT" "$WORK/err")" -eq 1 ]] || fail "$(grep -c "$REPORT" "$WORK/err") reports: $(head -c 300 "$WORK/err")"
  grep -q "^libfreebump: statistics for pid $pid\$" "$WORK/err" || fail "the report is not from pid $pid"
}
ls_closes_stderr_first() { reaches_stderr ls -la /usr/bin; }
sort_closes_stderr_first() { reaches_stderr sort "$WORK/lines.txt"; }
head_closes_stderr_first() { reaches_stderr head -2 "$WORK/lines.txt"; }
cat_closes_stderr_first() { reaches_stderr cat "$WORK/lines.txt"; }
tar_closes_stderr_first() { reaches_stderr tar -cf "$WORK/lines.tar" -C "$WORK" lines.txt; }
python3_reports_too() { reaches_stderr /usr/bin/python3 -c 'print(42)'; }

# Where free memory is (thread caches, the pool's chains and reserve, spare regions, bump
# room), what is resident, and each order's free blocks in thread caches and in KiB.
the_report_says_where_free_memory_is() {
  reaches_stderr /usr/bin/python3 -c 'print(42)'
  grep -Eq '^  free: .* in thread caches, .* in the pool.s chains, .* in its reserve\) and .* of spare regions; .* left in thread heaps. bump regions$' "$WORK/err" ||
    fail "$(grep '^  free:' "$WORK/err")"
  grep -Eq '^  returned: .* to the kernel; resident now [1-9][0-9.]* MiB$' "$WORK/err" || fail "$(grep '^  returned:' "$WORK/err")"
  grep -Eq '^  order +usable +live +free +cached +free KiB +allocations$' "$WORK/err" || fail "$(grep '^  order' "$WORK/err")"
}

appended_to_a_file_one_report_per_process() {
  local file="$WORK/reports.txt"
  rm -f "$file"
  with_stats "$file" bash -c 'ls >/dev/null; sort "$0" >/dev/null; exec cat "$0"' "$WORK/lines.txt" ||
    fail "exit $?"
  grep -q "$REPORT" "$WORK/err" && fail "a report on stderr too"
  [[ "$(grep -c "$REPORT" "$file")" -eq 3 ]] || fail "ls, sort and cat (exec'd by bash): $(grep "$REPORT" "$file")"
  [[ "$(grep "$REPORT" "$file" | sort -u | wc -l)" -eq 3 ]] || fail "pids repeat: $(grep "$REPORT" "$file")"
  grep -q "^libfreebump: statistics for pid $(cat "$WORK/pid")\$" "$file" || fail "none from the process started"
  # Each report is whole: every one has its per-order table right after its own header.
  [[ "$(grep -c '^  order ' "$file")" -eq 3 ]] || fail "$(cat "$file")"
  # A second run appends.
  with_stats "$file" ls || fail "exit $?"
  [[ "$(grep -c "$REPORT" "$file")" -eq 4 ]] || fail "not appended: $(grep -c "$REPORT" "$file") reports"
}

concurrent_processes_append_whole_reports() {
  local file="$WORK/concurrent.txt"
  rm -f "$file"
  with_stats "$file" bash -c 'for i in 1 2 3 4 5 6 7 8; do /usr/bin/python3 -c "[str(i) * 10 for i in range(100000)]" & done; wait' ||
    fail "exit $?"
  [[ "$(grep -c "$REPORT" "$file")" -eq 9 ]] || fail "$(grep -c "$REPORT" "$file") reports, want 9 (bash and 8 python3)"
  # Reports do not interleave: each header is followed by its own lines up to the next.
  awk '/^libfreebump: statistics/ { if (seen && !table) bad = 1; seen = 1; table = 0 }
       /^  order / { table = 1 }
       END { exit bad || !table }' "$file" || fail "reports interleave: $(head -40 "$file")"
}

# warns_once SETTING: one line on stderr naming the setting, no report.
warns_once() {
  with_stats "$1" ls || fail "exit $?"
  [[ "$(wc -l <"$WORK/err")" -eq 1 ]] || fail "stderr: $(cat "$WORK/err")"
  grep -q "^libfreebump: FREEBUMP_STATS=$1: .*; no statistics report\$" "$WORK/err" || fail "stderr: $(cat "$WORK/err")"
}
unknown_values_warn() {
  local value
  for value in no false off yes on true 2 -1 stderr; do warns_once "$value"; done
  # However long, one line.
  with_stats "$(printf 'x%.0s' {1..3000})" ls || fail "exit $?"
  [[ "$(wc -l <"$WORK/err")" -eq 1 && "$(wc -c <"$WORK/err")" -lt 1300 ]] || fail "$(wc -lc <"$WORK/err")"
}
an_unwritable_path_warns() {
  warns_once "$WORK/no/such/directory/reports.txt"
  grep -q "cannot open" "$WORK/err" || fail "$(cat "$WORK/err")"
}
zero_and_empty_say_nothing() {
  local value
  for value in 0 ""; do
    with_stats "$value" ls || fail "exit $?"
    [[ ! -s "$WORK/err" ]] || fail "FREEBUMP_STATS='$value': $(cat "$WORK/err")"
  done
}

# A program that closes every descriptor but 0-2 and opens files until it holds the
# library's number again: the report must not land in any of them.
a_reused_descriptor_gets_no_report() {
  local dir="$WORK/reused"
  rm -rf "$dir"
  mkdir -p "$dir"
  with_stats 1 /usr/bin/python3 -c '
import os, sys
os.closerange(3, 4096)
for i in range(300):
    os.open(os.path.join(sys.argv[1], str(i)), os.O_WRONLY | os.O_CREAT)
' "$dir" || fail "exit $?"
  local written
  written="$(find "$dir" -type f -size +0 | head -3)"
  [[ -z "$written" ]] || fail "a report went into the program's files: $written"
  grep -q "$REPORT" "$WORK/err" && fail "a report through a descriptor the program had closed"
  return 0
}

run_case ls_closes_stderr_first
run_case sort_closes_stderr_first
run_case head_closes_stderr_first
run_case cat_closes_stderr_first
run_case tar_closes_stderr_first
run_case python3_reports_too
run_case the_report_says_where_free_memory_is
run_case appended_to_a_file_one_report_per_process
run_case concurrent_processes_append_whole_reports
run_case unknown_values_warn
run_case an_unwritable_path_warns
run_case zero_and_empty_say_nothing
run_case a_reused_descriptor_gets_no_report
finish_cases
