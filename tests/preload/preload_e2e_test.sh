#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libfreebump.so: each must print exactly what it prints
# under glibc's malloc, and the preload must provably be live in the program itself: with
# FREEBUMP_STATS=1 the library reports at exit, and the report must come from the process the
# case started (its pid; a program that never loaded the library prints no report, and a
# shell around it would print its own).
#
# Usage (Bazel passes these): preload_e2e_test.sh LIBFREEBUMP_SO MT_WORKLOAD PYTHON_THREADS
# Writes one JUnit test case per program to $XML_OUTPUT_FILE when Bazel sets it.
set -u
library="$(realpath "$1")"
mt_workload="$(realpath "$2")"
python_threads="$(realpath "$3")"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/e2e.XXXXXX")"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
cases=""

# run_case NAME COMMAND...: runs the command under glibc and under libfreebump in $work/NAME,
# each as the very process the case started (exec'd by a shell that first notes its pid).
run_case() {
  local name="$1"
  shift
  local dir="$work/$name"
  mkdir -p "$dir/glibc" "$dir/freebump"
  (cd "$dir/glibc" && exec "$@" >stdout 2>stderr)
  local glibc_status=$?
  (cd "$dir/freebump" && LD_PRELOAD="$library" FREEBUMP_STATS=1 bash -c 'echo $$ >pid && exec "$@"' bash "$@" >stdout 2>stderr)
  local freebump_status=$?
  local pid
  pid="$(cat "$dir/freebump/pid")"
  local problem=""
  if [[ $glibc_status -ne 0 ]]; then
    problem="failed under glibc too (exit $glibc_status): $(head -c 300 "$dir/glibc/stderr")"
  elif [[ $freebump_status -ne 0 ]]; then
    problem="exit $freebump_status under libfreebump: $(head -c 300 "$dir/freebump/stderr")"
  elif ! cmp -s "$dir/glibc/stdout" "$dir/freebump/stdout"; then
    problem="output differs from glibc's: $(diff "$dir/glibc/stdout" "$dir/freebump/stdout" | head -5)"
  elif ! grep -q "^libfreebump: statistics for pid $pid\$" "$dir/freebump/stderr"; then
    problem="no libfreebump report from the program (pid $pid): the preload was not live in it"
  elif grep -q 'libfreebump: statistics' "$dir/glibc/stderr"; then
    problem="a report without LD_PRELOAD: the test is not comparing two allocators"
  fi
  if [[ -z "$problem" ]]; then
    echo "PASS $name"
    passed=$((passed + 1))
    cases+="<testcase name=\"$name\" classname=\"preload_e2e\"/>"
  else
    echo "FAIL $name: $problem"
    failed=$((failed + 1))
    problem="${problem//&/&amp;}"; problem="${problem//</&lt;}"; problem="${problem//>/&gt;}"
    cases+="<testcase name=\"$name\" classname=\"preload_e2e\"><failure message=\"failed\">$problem</failure></testcase>"
  fi
}

# Python running threads that build and drop dicts, lists and strings.
run_case python3_threads /usr/bin/python3 "$python_threads" 150000

# A C++ compile and link with g++, then the program it built.
cat >"$work/program.cc" <<'CC'
#include <iostream>
#include <map>
#include <string>
#include <vector>
int main() {
  std::map<std::string, std::vector<int>> index;
  for (int i = 0; i < 100000; ++i) index[std::to_string(i % 997)].push_back(i);
  long total = 0;
  for (const auto& [key, values] : index) total += key.size() * values.size();
  std::cout << index.size() << " " << total << "\n";
}
CC
run_case gxx_compile g++ -std=c++17 -O2 -o program "$work/program.cc"
# The program each compiler run built (under glibc, and under libfreebump), run the same way.
for side in glibc freebump; do
  mkdir -p "$work/gxx_program/$side"
  cp "$work/gxx_compile/$side/program" "$work/gxx_program/$side/" 2>/dev/null
done
run_case gxx_program ./program
# sort(1) of a large generated file, alone: coreutils close stderr before the library's
# report at exit, which must reach it all the same.
awk 'BEGIN { srand(7); for (i = 0; i < 400000; i++) printf "%08d %s\n", int(rand() * 1e8), i }' >"$work/unsorted.txt"
run_case sort_large_file sort "$work/unsorted.txt"
# Our own multi-threaded program (objects freed by other threads).
run_case mt_workload "$mt_workload" 4 200000

if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="preload_e2e" tests="%d" failures="%d">%s</testsuite></testsuites>\n' \
    $((passed + failed)) "$failed" "$cases" >"$XML_OUTPUT_FILE"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
