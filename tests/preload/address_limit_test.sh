#!/usr/bin/env bash
# Programs under an address-space limit (ulimit -v, RLIMIT_AS), side by side with glibc: a
# program that runs under glibc at a limit runs under libfreebump too, gets at least 0.9x the
# memory glibc gives at that limit (blocks allocated until malloc fails, freed, and allocated
# again), and every free succeeds (the library aborts on a free it rejects).
#
# Usage (Bazel passes these): address_limit_test.sh LIBFREEBUMP_SO FILL_TO_THE_LIMIT
set -uo pipefail
source bazel/test_cases.sh

readonly LIBRARY="$(realpath "$1")"
readonly FILL="$(realpath "$2")"
readonly WORK="$TEST_TMPDIR/address_limit"
mkdir -p "$WORK"

# under_limit KIB ALLOCATOR COMMAND...: runs the command with `ulimit -v KIB`, under glibc
# (ALLOCATOR "glibc") or libfreebump; its output goes to $WORK/<allocator>.out and .err.
under_limit() {
  local kib="$1" allocator="$2"
  shift 2
  local preload=""
  [[ "$allocator" == libfreebump ]] && preload="$LIBRARY"
  bash -c 'ulimit -v "$1" && shift && LD_PRELOAD="$0" exec "$@"' "$preload" "$kib" "$@" \
    >"$WORK/$allocator.out" 2>"$WORK/$allocator.err"
}

# runs_where_glibc_runs KIB COMMAND...: glibc must run it at that limit (else the case proves
# nothing), and libfreebump must too, printing the same.
runs_where_glibc_runs() {
  local kib="$1"
  shift
  under_limit "$kib" glibc "$@" || fail "glibc fails at $kib KiB: $(head -c 300 "$WORK/glibc.err")"
  under_limit "$kib" libfreebump "$@" ||
    fail "exit $? under libfreebump at $kib KiB (glibc runs): $(head -c 300 "$WORK/libfreebump.err")"
  cmp -s "$WORK/glibc.out" "$WORK/libfreebump.out" ||
    fail "output differs at $kib KiB: $(diff "$WORK/glibc.out" "$WORK/libfreebump.out" | head -5)"
}

python3_at_20000_kib() { runs_where_glibc_runs 20000 /usr/bin/python3 -c 'print(sum(len(str(i)) for i in range(100000)))'; }
python3_at_900000_kib() { runs_where_glibc_runs 900000 /usr/bin/python3 -c 'import json; print(len(json.dumps(list(range(100000)))))'; }
ls_at_900000_kib() { runs_where_glibc_runs 900000 ls -la /usr/bin; }
small_and_huge_blocks_at_400000_kib() { runs_where_glibc_runs 400000 "$FILL" 1000 0; }

# Near the smallest limit glibc runs a program at (found by bisection, to within 256 KiB),
# libfreebump runs it with 2 MiB more: its own mappings (the library, thread records) and
# the rounding of its size classes are all it needs beyond glibc's.
near_glibcs_smallest_limit() {
  local low=1000 high=200000 middle
  under_limit "$high" glibc "$@" || fail "glibc fails at $high KiB"
  while ((high - low > 256)); do
    middle=$(((low + high) / 2))
    if under_limit "$middle" glibc "$@"; then high=$middle; else low=$middle; fi
  done
  echo "glibc's smallest limit: $high KiB"
  runs_where_glibc_runs $((high + 2048)) "$@"
}
python3_near_glibcs_smallest_limit() {
  near_glibcs_smallest_limit /usr/bin/python3 -c 'import json; print(len(json.dumps(list(range(100000)))))'
}
ls_near_glibcs_smallest_limit() { near_glibcs_smallest_limit ls -la /usr/bin; }

# as_much_memory_as_glibc KIB BLOCK_BYTES: two rounds of filling to the limit; each round of
# libfreebump's gets at least 0.9x glibc's bytes.
as_much_memory_as_glibc() {
  local kib="$1" block="$2"
  under_limit "$kib" glibc "$FILL" "$block" 2 || fail "glibc fails at $kib KiB: $(cat "$WORK/glibc.err")"
  under_limit "$kib" libfreebump "$FILL" "$block" 2 ||
    fail "exit $? under libfreebump at $kib KiB: $(head -c 300 "$WORK/libfreebump.err") $(cat "$WORK/libfreebump.out")"
  local glibc ours round
  for round in 0 1; do
    glibc="$(sed -n "s/^round $round: \([0-9]*\) KiB$/\1/p" "$WORK/glibc.out")"
    ours="$(sed -n "s/^round $round: \([0-9]*\) KiB$/\1/p" "$WORK/libfreebump.out")"
    [[ -n "$glibc" && -n "$ours" ]] || fail "no round $round: $(cat "$WORK/glibc.out" "$WORK/libfreebump.out")"
    echo "round $round at $kib KiB, $block-byte blocks: glibc $glibc KiB, libfreebump $ours KiB"
    ((ours * 10 >= glibc * 9)) || fail "round $round: libfreebump got $ours KiB, under 0.9x glibc's $glibc KiB"
  done
}
# Sizes whose size class holds them with little to spare (a size just above a power of two
# gets a block up to twice as large: a matter of size classes, not of address space).
fill_1000_byte_blocks_at_300000_kib() { as_much_memory_as_glibc 300000 1000; }
fill_4000_byte_blocks_at_200000_kib() { as_much_memory_as_glibc 200000 4000; }
fill_1_mib_blocks_at_300000_kib() { as_much_memory_as_glibc 300000 1048576; }
fill_3_mib_blocks_at_300000_kib() { as_much_memory_as_glibc 300000 3145728; }

run_case python3_at_20000_kib
run_case python3_at_900000_kib
run_case ls_at_900000_kib
run_case small_and_huge_blocks_at_400000_kib
run_case python3_near_glibcs_smallest_limit
run_case ls_near_glibcs_smallest_limit
run_case fill_1000_byte_blocks_at_300000_kib
run_case fill_4000_byte_blocks_at_200000_kib
run_case fill_1_mib_blocks_at_300000_kib
run_case fill_3_mib_blocks_at_300000_kib
finish_cases
