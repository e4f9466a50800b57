#!/usr/bin/env bash
# Prints the wasm32 figures: code size of the freestanding module (bytes above an empty
# module; clang-14 -Oz, LTO, --gc-sections, stripped) and workloads on libfreebump vs
# wasi-libc's dlmalloc under node (speed, peak linear memory, heap efficiency), each with the
# ratio libfreebump / dlmalloc. Figures, not assertions. Pass a number to change the runs per
# speed figure (median; default 3).
set -euo pipefail
empty="$1" malloc_free="$2" family="$3" ours="$4" theirs="$5" runner="$6"
runs="${7:-3}"
size() { stat -L -c %s "$1"; }
run() { node --no-warnings "$runner" "$@"; }
base=$(size "$empty")
echo "Code size of the freestanding module, bytes above an empty module ($base B):"
printf '  malloc + free                                           %5d B\n' $(( $(size "$malloc_free") - base ))
printf '  family (+ calloc, realloc, aligned_alloc, posix_memalign,\n'
printf '          malloc_usable_size)                             %5d B\n' $(( $(size "$family") - base ))

# speed MODE: median ops/us over $runs runs per allocator (interleaved), peak pages, ratios.
speed() {
  local mode="$1" ours_ops=() theirs_ops=() ours_line theirs_line
  for ((i = 0; i < runs; i++)); do
    ours_line=$(run "$ours" libfreebump "$mode"); ours_ops+=("$(awk '{print $2}' <<<"$ours_line")")
    theirs_line=$(run "$theirs" dlmalloc "$mode"); theirs_ops+=("$(awk '{print $2}' <<<"$theirs_line")")
  done
  local a b pa pb
  a=$(printf '%s\n' "${ours_ops[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  b=$(printf '%s\n' "${theirs_ops[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  # Peak pages above __heap_base (the allocator's own; static data is the same for both).
  pa=$(awk '{print $11}' <<<"$ours_line"); pb=$(awk '{print $11}' <<<"$theirs_line")
  printf '  %-12s %8s ops/us (runs: %s)   peak %4s pages above __heap_base (%s in all)\n' \
    libfreebump "$a" "${ours_ops[*]}" "$pa" "$(awk '{print $7}' <<<"$ours_line")"
  printf '  %-12s %8s ops/us (runs: %s)   peak %4s pages above __heap_base (%s in all)\n' \
    dlmalloc "$b" "${theirs_ops[*]}" "$pb" "$(awk '{print $7}' <<<"$theirs_line")"
  awk -v a="$a" -v b="$b" -v pa="$pa" -v pb="$pb" 'BEGIN {
    printf "  libfreebump / dlmalloc: speed %.2fx (target >= 2), peak memory %.2fx (target <= 1.3)\n", a / b, pa / pb }'
}

echo
echo "Workload mix (2M random malloc/free/realloc on 20000 slots, 8 B .. 64 KiB), wasm32-wasi under node, median of $runs:"
speed mix
echo
echo "Random actions, Talc's method (2M steps on 10000 slots, sizes biased small 1 B .. 8 KiB, 1 in 5 aligned 32 .. 256 B):"
speed random
echo
echo "Heap efficiency, Talc's method (64 MiB maximum; live bytes requested / (maximum - __heap_base) at the first failure):"
for who in "libfreebump:$ours" "dlmalloc:$theirs"; do
  values=()
  for seed in 1 2 3 4 5; do
    values+=("$(run "${who#*:}" "${who%%:*}" efficiency "$seed" | awk '{print $3}')")
  done
  printf '  %-12s median %s %%   (seeds 1-5: %s)\n' "${who%%:*}" \
    "$(printf '%s\n' "${values[@]}" | sort -g | sed -n 3p)" "${values[*]}"
done
