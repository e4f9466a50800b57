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
# Python with every object a malloc block (PYTHONMALLOC=malloc: no pymalloc arenas between).
run_case python3_objects env PYTHONMALLOC=malloc /usr/bin/python3 -c '
import json
records = [{"id": i, "name": "n%d" % i, "tags": [str(i % 7)] * (i % 5)} for i in range(60000)]
for i in range(0, 60000, 3):
    records[i] = None
text = json.dumps([r for r in records if r])
print(len(text), sum(len(r["tags"]) for r in json.loads(text)))'
# Perl's hashes and strings: a table that churns, then sorted.
run_case perl_hashes perl -e '
my %h;
for my $i (1 .. 300000) { $h{"k$i"} = "v" x ($i % 40); delete $h{"k" . ($i - 500)} if $i > 500 }
my $n = 0; $n += length($h{$_}) for sort keys %h; print scalar(keys %h), " $n\n";'
# The sqlite3 shell: an in-memory table built by inserts, an index, queries.
run_case sqlite3_shell sqlite3 :memory: "
create table t(a integer, b text);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 100000)
insert into t select x, printf('%08x-%d', x * 2654435761 % 4294967296, x % 97) from c;
create index tb on t(b);
delete from t where a % 3 = 0;
select count(*), sum(length(b)), min(b), max(b) from t;"
# git: a repository with commits (fixed dates and names, so the same hashes), packed by gc,
# checked by fsck. The process the case starts is the shell that runs them (its report is the
# one checked); every git command, and the children git runs (pack-objects), inherit the
# preload.
run_case git_repository bash -c '
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
export GIT_CONFIG_NOSYSTEM=1 HOME="$PWD"
git init -q -b main repo && cd repo || exit 1
for round in 1 2 3 4 5; do
  awk -v r="$round" "BEGIN { for (f = 1; f <= 200; f++) { s = r; for (k = 1; k <= f % 50; k++) s = s \" \" k * r; print s > (\"f\" f \".txt\") } }"
  git add -A && git commit -q -m "round $round" || exit 1
done
git gc -q && git fsck --no-progress && git log --format="%H %s" && git count-objects -v | grep -v size'
# node: objects, strings and maps in V8's heap, and its own mallocs around them.
if command -v node >/dev/null 2>&1; then node_binary=node; else node_binary=nodejs; fi
run_case node_objects "$node_binary" -e '
const m = new Map();
for (let i = 0; i < 200000; i++) { m.set("k" + i, { i, s: "v".repeat(i % 30) }); if (i > 1000) m.delete("k" + (i - 1000)); }
let n = 0; for (const v of m.values()) n += v.s.length;
console.log(m.size, n, JSON.stringify([...m.keys()].slice(0, 3)));'

if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="preload_e2e" tests="%d" failures="%d">%s</testsuite></testsuites>\n' \
    $((passed + failed)) "$failed" "$cases" >"$XML_OUTPUT_FILE"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
