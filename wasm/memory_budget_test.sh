#!/usr/bin/env bash
# Holds the wasm32 heap's memory figures, as //wasm:figures prints them, to their budgets: the
# peak pages above __heap_base of the mix and random-actions workloads, and the heap efficiency
# of seed 1. Each is deterministic (seeded workloads, a fixed __heap_base), so a change that
# costs memory is seen where it is made:
#   memory_budget_test.sh RUNNER WORKLOAD MIX_PAGES RANDOM_PAGES MIN_EFFICIENCY_PERCENT
# The budgets are today's figures (benchmarks/results/wasm32.md), not the targets; tighten them
# with every change that lowers the peaks or raises the efficiency.
set -euo pipefail
runner="$1" workload="$2"
node="$(command -v node || command -v nodejs || true)"
[[ -n "$node" ]] || { echo "memory_budget_test.sh: no node on PATH: install Debian's nodejs" >&2; exit 127; }
run() { "$node" --no-warnings "$runner" "$workload" libfreebump "$@"; }
failed=0
verdict() {  # NAME VALUE BUDGET OK(0/1) WHICH-WAY
  if (( $4 )); then
    echo "ok: $1 is $2 ($5 $3)"
  else
    echo "FAIL: $1 is $2, outside its budget ($5 $3)"
    failed=$((failed + 1))
  fi
}
for workload_and_budget in "mix:$3" "random:$4"; do
  mode="${workload_and_budget%%:*}" budget="${workload_and_budget#*:}"
  line=$(run "$mode")
  pages=$(awk '{print $11}' <<<"$line")
  [[ "$pages" =~ ^[0-9]+$ ]] || { echo "FAIL: no peak in the $mode workload's line: $line"; exit 1; }
  verdict "the $mode workload's peak (pages above __heap_base)" "$pages" "$budget" $(( pages <= budget )) "budget <="
done
line=$(run efficiency 1)
efficiency=$(awk '{print $3}' <<<"$line")
[[ "$efficiency" =~ ^[0-9]+\.[0-9]+$ ]] || { echo "FAIL: no efficiency in: $line"; exit 1; }
within=$(awk -v e="$efficiency" -v min="$5" 'BEGIN { print (e >= min) ? 1 : 0 }')
verdict "the heap efficiency of seed 1 (%)" "$efficiency" "$5" "$within" "budget >="
echo "$(( 3 - failed )) passed, $failed failed"
(( failed == 0 ))
