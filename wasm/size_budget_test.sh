#!/usr/bin/env bash
# Holds the freestanding module's code size (bytes above an empty module, as //wasm:figures
# prints it) to its budget, so that a change that makes it larger is seen where it is made:
#   size_budget_test.sh EMPTY MALLOC_FREE MALLOC_FREE_BUDGET FAMILY FAMILY_BUDGET
# The budgets are the sizes of today's module (benchmarks/results/wasm32.md), not the
# targets; lower them with every change that makes the module smaller.
set -euo pipefail
empty=$(stat -L -c %s "$1")
failed=0
check() {
  local name="$1" bytes=$(( $(stat -L -c %s "$2") - empty )) budget="$3"
  if (( bytes > budget )); then
    echo "FAIL: $name is $bytes B above an empty module, over its budget of $budget B"
    failed=$((failed + 1))
  else
    echo "ok: $name is $bytes B above an empty module (budget $budget B)"
  fi
}
check "malloc + free" "$2" "$3"
check "the family" "$4" "$5"
echo "$(( 2 - failed )) passed, $failed failed"
(( failed == 0 ))
