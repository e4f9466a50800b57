#!/usr/bin/env bash
# Prints the wasm32 figures: code size of the freestanding module (bytes above an empty module;
# clang-14 -Oz, LTO, --gc-sections, stripped, then wasm-opt -Oz), with what each part costs (the
# module built without it: //lib:size_probe, or exports left out), and workloads on libfreebump
# vs wasi-libc's dlmalloc under node (speed, peak linear memory, heap efficiency), each with the
# ratio libfreebump / dlmalloc. Figures, not assertions. Pass a number to change the runs per
# speed figure (median; default 3).
set -euo pipefail
ours="$1" theirs="$2" runner="$3"
empty="$4" malloc_free="$5" family="$6" without_realloc="$7" without_aligned="$8"
without_calloc="$9" without_usable_size="${10}" no_tag_check="${11}" no_growth="${12}"
inline_fast_paths="${13}"
runs="${14:-3}"
size() { stat -L -c %s "$1"; }
run() { node --no-warnings "$runner" "$@"; }
base=$(size "$empty")
above() { echo $(( $(size "$1") - base )); }
mf=$(above "$malloc_free") fam=$(above "$family")
echo "Code size of the freestanding module, bytes above an empty module ($base B):"
printf '  malloc + free                                           %5d B   (target <= 1000)\n' "$mf"
printf '    of which the tag check (built without it)             %5d B\n' $(( mf - $(above "$no_tag_check") ))
printf '    of which growth, memory.grow (built without it)       %5d B\n' $(( mf - $(above "$no_growth") ))
printf '    inline fast paths, left out here (built with them)    %+5d B\n' $(( $(above "$inline_fast_paths") - mf ))
printf '  family (+ calloc, realloc, aligned_alloc, posix_memalign,\n'
printf '          malloc_usable_size)                             %5d B   (target <= 1500)\n' "$fam"
printf '    of which realloc (built without it)                   %5d B\n' $(( fam - $(above "$without_realloc") ))
printf '    of which the aligned path (aligned_alloc, posix_memalign) %d B\n' $(( fam - $(above "$without_aligned") ))
printf '    of which calloc                                       %5d B\n' $(( fam - $(above "$without_calloc") ))
printf '    of which malloc_usable_size                           %5d B\n' $(( fam - $(above "$without_usable_size") ))

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
    printf "  libfreebump / dlmalloc: speed %.2fx (target >= 1.75), peak memory %.2fx (target <= 1.15)\n", a / b, pa / pb }'
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
