#!/usr/bin/env bash
# Valgrind as a first-class tool. memcheck on top of libfreebump (LD_PRELOAD, with
# --soname-synonyms=somalloc=nouserintercepts so that memcheck leaves our malloc in place)
# reports a buggy program's leaks, overruns, uses after free and uninitialised reads exactly
# as memcheck reports them under its own allocator; a double free gets memcheck's report and
# then our diagnostic; and correct programs (our API tests, python3, threads) run with zero
# errors.
#
# Usage (Bazel passes these): valgrind_test.sh LIBFREEBUMP_SO MEMCHECK_CASES MALLOC_API_TEST MT_WORKLOAD
set -uo pipefail
source bazel/test_cases.sh

readonly LIBRARY="$(realpath "$1")"
readonly CASES="$(realpath "$2")"
readonly API_TEST="$(realpath "$3")"
readonly MT_WORKLOAD="$(realpath "$4")"
readonly WORK="$TEST_TMPDIR/valgrind"
readonly ON_TOP=(--soname-synonyms=somalloc=nouserintercepts)
mkdir -p "$WORK"

# What memcheck found, without addresses and pids: each error's kind and the block it names,
# and each leak record with its size.
findings() {
  grep -E '^==[0-9]+== (Invalid|Conditional| Address|[0-9,]+ bytes in [0-9,]+ blocks)' "$1" |
    sed -E 's/^==[0-9]+== +//; s/0x[0-9A-Fa-f]+/0x/g'
}

# on_top_of_libfreebump NAME ARGS...: runs valgrind ARGS with the library preloaded and
# FREEBUMP_STATS=1, exec'd by a shell that notes the program's pid: $WORK/NAME.log (valgrind),
# .out, .err, .pid.
on_top_of_libfreebump() {
  local name="$1"
  shift
  bash -c 'echo $$ >"$0.pid" && LD_PRELOAD="$1" FREEBUMP_STATS=1 exec valgrind --log-file="$0.log" "${@:2}"' \
    "$WORK/$name" "$LIBRARY" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}

# Our library served the program: its report at exit, from that very process.
library_was_live() {
  grep -q "^libfreebump: statistics for pid $(cat "$WORK/$1.pid")\$" "$WORK/$1.err" ||
    fail "no libfreebump report from the program: $(head -c 300 "$WORK/$1.err")"
}

buggy_program_reported_as_under_memchecks_allocator() {
  valgrind --log-file="$WORK/own.log" --leak-check=full "$CASES" bugs >"$WORK/own.out" 2>&1 ||
    fail "under memcheck's allocator: exit $?"
  on_top_of_libfreebump buggy "${ON_TOP[@]}" --leak-check=full "$CASES" bugs || fail "exit $?: $(cat "$WORK/buggy.err")"
  library_was_live buggy
  findings "$WORK/own.log" >"$WORK/own.findings"
  findings "$WORK/buggy.log" >"$WORK/buggy.findings"
  echo "memcheck's own allocator:"
  cat "$WORK/own.findings"
  # The program's bugs, each found (so that two empty reports cannot agree).
  local expected
  for expected in "Address 0x is 0 bytes after a block of size 100 alloc'd" \
      "Address 0x is 4 bytes after a block of size 100 alloc'd" \
      "Address 0x is 0 bytes after a block of size 136 alloc'd" \
      "Address 0x is 10 bytes inside a block of size 64 free'd" \
      "Address 0x is 5 bytes inside a block of size 64 free'd" \
      "Conditional jump or move depends on uninitialised value(s)" \
      "Address 0x is 5 bytes after a block of size 20 alloc'd" \
      "Address 0x is 0 bytes after a block of size 3,145,728 alloc'd" \
      "1,000 bytes in 1 blocks are definitely lost in loss record 2 of 2" \
      "72 bytes in 3 blocks are definitely lost in loss record 1 of 2"; do
    grep -q -F -x "$expected" "$WORK/buggy.findings" || fail "on libfreebump, missing: $expected"
  done
  diff "$WORK/own.findings" "$WORK/buggy.findings" || fail "memcheck's findings differ (above: < its own allocator, > libfreebump)"
  grep -q "ERROR SUMMARY: 11 errors from 11 contexts" "$WORK/buggy.log" || fail "$(grep 'ERROR SUMMARY' "$WORK/buggy.log")"
}

double_free_reported_then_diagnosed() {
  on_top_of_libfreebump double_free "${ON_TOP[@]}" "$CASES" double-free
  local status=$?
  [[ $status -eq 134 ]] || fail "exit $status, want 134 (abort): $(cat "$WORK/double_free.err")"
  grep -q "Invalid free() / delete / delete\[\] / realloc()" "$WORK/double_free.log" || fail "no memcheck report: $(cat "$WORK/double_free.log")"
  findings "$WORK/double_free.log" | grep -q -F -x "Address 0x is 0 bytes inside a block of size 300 free'd" ||
    fail "memcheck does not name the freed block: $(findings "$WORK/double_free.log")"
  grep -q -E '^libfreebump: free\(\): double free \(pointer 0x[0-9a-f]+\)$' "$WORK/double_free.err" ||
    fail "no diagnostic: $(cat "$WORK/double_free.err")"
  grep -q "double free survived" "$WORK/double_free.out" && fail "the program went on after the double free"
  return 0
}

# zero_errors NAME: memcheck counted no error in the process started (its log).
zero_errors() {
  grep -q "ERROR SUMMARY: 0 errors from 0 contexts" "$1" || fail "$(grep -B30 'ERROR SUMMARY' "$1" | head -60)"
}

api_tests_run_clean_under_memcheck() {
  # Linked with the library (no preload): GoogleTest's own allocations go through it too. The
  # death tests' children misuse the heap on purpose, each with a log of its own.
  mkdir -p "$WORK/api"
  bash -c 'echo $$ >"$0/pid" && exec valgrind --soname-synonyms=somalloc=nouserintercepts --log-file="$0/memcheck.%p" "$1"' \
    "$WORK/api" "$API_TEST" >"$WORK/api/out" 2>&1 || fail "exit $?: $(tail -30 "$WORK/api/out")"
  grep -q "PASSED" "$WORK/api/out" || fail "$(tail -30 "$WORK/api/out")"
  grep -q -E "^\[  PASSED  \] [0-9]+ tests\.$" "$WORK/api/out" || fail "$(tail -30 "$WORK/api/out")"
  grep -q "FAILED" "$WORK/api/out" && fail "$(grep FAILED "$WORK/api/out")"
  zero_errors "$WORK/api/memcheck.$(cat "$WORK/api/pid")"
}

python3_runs_clean_under_memcheck() {
  on_top_of_libfreebump python3 "${ON_TOP[@]}" /usr/bin/python3 -c \
    'import json; print(len(json.dumps({str(i): [i] * (i % 7) for i in range(20000)})))' ||
    fail "exit $?: $(head -c 300 "$WORK/python3.err")"
  library_was_live python3
  zero_errors "$WORK/python3.log"
}

threads_run_clean_under_memcheck() {
  on_top_of_libfreebump threads "${ON_TOP[@]}" --leak-check=full "$MT_WORKLOAD" 4 20000 ||
    fail "exit $?: $(head -c 300 "$WORK/threads.err")"
  library_was_live threads
  zero_errors "$WORK/threads.log"
  grep -q "All heap blocks were freed -- no leaks are possible" "$WORK/threads.log" || fail "$(grep -A6 'HEAP SUMMARY' "$WORK/threads.log")"
}

freed_blocks_wait_in_the_quarantine() {
  on_top_of_libfreebump churn "${ON_TOP[@]}" --leak-check=full "$CASES" churn ||
    fail "exit $?: $(head -c 300 "$WORK/churn.err")"
  library_was_live churn
  zero_errors "$WORK/churn.log"
  grep -q "All heap blocks were freed -- no leaks are possible" "$WORK/churn.log" || fail "$(grep -A6 'HEAP SUMMARY' "$WORK/churn.log")"
  grep -q "^churn done; the first freed block came back after 19 MB of frees" "$WORK/churn.out" || fail "$(cat "$WORK/churn.out")"
}

# Tools that only count or time what runs profile the real allocator (thread heaps and all);
# memcheck gets the describing heap, which no thread heap serves.
callgrind_profiles_the_real_allocator() {
  on_top_of_libfreebump counted --tool=callgrind --callgrind-out-file=/dev/null "$CASES" churn ||
    fail "exit $?: $(head -c 300 "$WORK/counted.err")"
  library_was_live counted
  grep -q "^  thread heaps:    1$" "$WORK/counted.err" || fail "not the thread heaps: $(grep 'thread heaps' "$WORK/counted.err")"
  on_top_of_libfreebump checked "${ON_TOP[@]}" "$CASES" churn || fail "exit $?"
  grep -q "^  thread heaps:    0$" "$WORK/checked.err" || fail "memcheck on thread heaps: $(grep 'thread heaps' "$WORK/checked.err")"
}

run_case buggy_program_reported_as_under_memchecks_allocator
run_case double_free_reported_then_diagnosed
run_case api_tests_run_clean_under_memcheck
run_case python3_runs_clean_under_memcheck
run_case threads_run_clean_under_memcheck
run_case freed_blocks_wait_in_the_quarantine
run_case callgrind_profiles_the_real_allocator
finish_cases
