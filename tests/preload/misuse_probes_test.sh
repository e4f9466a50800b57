#!/usr/bin/env bash
# README.md's table of misuse results, held to what happens: every probe of misuse_probes runs
# under each flavour of libfreebump (LD_PRELOAD), and its outcome must be the table's cell.
# The table must name every probe the program has, and nothing else.
#
# Outcome of a run: "aborts: <function>(): <problem>" when it ends in SIGABRT with
# libfreebump's one-line diagnostic as the whole of its standard error, else the last line the
# program printed (it exits 0 only when it went on).
#
# usage: misuse_probes_test.sh README.md PROBES DEFAULT_LIB CHECKED_LIB
set -u
source bazel/test_cases.sh

readme="$1"
probes="$2"
default_lib="$3"
checked_lib="$4"

# The table's rows: "probe|default|checked", backquotes dropped. The table lies between the
# two markers, so that no other table of the README is read.
table_rows() {
  sed -n '/<!-- misuse-probes: begin -->/,/<!-- misuse-probes: end -->/p' "$readme" |
    grep '^| `' | tr -d '`' |
    awk -F'|' '{ for (i = 2; i <= 5; ++i) gsub(/^ +| +$/, "", $i); print $2 "|" $4 "|" $5 }'
}

# outcome LIB PROBE: the probe's outcome under LIB (see above).
outcome() {
  local lib="$1" probe="$2" out err status
  out="$(mktemp "${TEST_TMPDIR:-/tmp}/out.XXXXXX")"
  err="$(mktemp "${TEST_TMPDIR:-/tmp}/err.XXXXXX")"
  LD_PRELOAD="$lib" "$probes" "$probe" >"$out" 2>"$err"
  status=$?
  if ((status == 134)) && [[ "$(wc -l <"$err")" == 1 ]] &&
    grep -Eq '^libfreebump: .+\(\): .+ \(pointer 0x[0-9a-f]+\)$' "$err"; then
    echo "aborts: $(sed -E 's/^libfreebump: //; s/ \(pointer 0x[0-9a-f]+\)$//' "$err")"
  elif ((status == 0)); then
    tail -n 1 "$out"
  else
    echo "exit status $status: $(head -c 200 "$err")"
  fi
  rm -f "$out" "$err"
}

# A probe name "name-A..B" stands for name-A, ..., name-B, all with the same outcome.
expand() {
  if [[ "$1" =~ ^(.*-)([0-9]+)\.\.([0-9]+)$ ]]; then
    local i
    for ((i = BASH_REMATCH[2]; i <= BASH_REMATCH[3]; ++i)); do echo "${BASH_REMATCH[1]}$i"; done
  else
    echo "$1"
  fi
}

table_names_every_probe() {
  local in_table in_program
  in_table="$(table_rows | cut -d'|' -f1 | sort)"
  in_program="$("$probes" --list | sort)"
  [[ -n "$in_table" ]] || fail "no table of misuse results in $readme"
  [[ "$in_table" == "$in_program" ]] || fail "the table's probes differ from the program's:
$(diff <(echo "$in_table") <(echo "$in_program"))"
}

# check_probe PROBE FLAVOUR LIB EXPECTED
check_probe() {
  local probe="$1" flavour="$2" lib="$3" expected="$4" name got
  for name in $(expand "$probe"); do
    got="$(outcome "$lib" "$name")"
    [[ "$got" == "$expected" ]] || fail "$name, $flavour flavour: '$got', the table says '$expected'"
  done
}

# The two libraries must be the two flavours: the checked one records origins.
the_libraries_differ() {
  [[ "$(outcome "$default_lib" free-of-new)" == unnoticed ]] || fail "$default_lib is not the default flavour"
  [[ "$(outcome "$checked_lib" free-of-new)" == aborts:* ]] || fail "$checked_lib is not the checked flavour"
}

# One case per probe and flavour, named after both; the cells are read by index, so that
# nothing of the table's text becomes code.
mapfile -t rows < <(table_rows)
check_row() {
  local probe default checked
  IFS='|' read -r probe default checked <<<"${rows[$1]}"
  if [[ "$2" == default ]]; then
    check_probe "$probe" default "$default_lib" "$default"
  else
    check_probe "$probe" checked "$checked_lib" "$checked"
  fi
}

run_case table_names_every_probe
run_case the_libraries_differ
for i in "${!rows[@]}"; do
  probe="${rows[$i]%%|*}"
  for flavour in default checked; do
    eval "${probe//[-.]/_}_$flavour() { check_row $i $flavour; }"
    run_case "${probe//[-.]/_}_$flavour"
  done
done
finish_cases
