#!/usr/bin/env bash
# Prints the wasm32 figures: code size of the freestanding module (bytes above an empty
# module; clang-14 -Oz, LTO, --gc-sections, stripped) and a workload on libfreebump vs
# wasi-libc's dlmalloc under node (speed and peak linear memory). Figures, not assertions.
set -euo pipefail
empty="$1" malloc_free="$2" family="$3" ours="$4" theirs="$5" runner="$6"
size() { stat -L -c %s "$1"; }
base=$(size "$empty")
echo "Code size of the freestanding module, bytes above an empty module ($base B):"
printf '  malloc + free                                           %5d B\n' $(( $(size "$malloc_free") - base ))
printf '  family (+ calloc, realloc, aligned_alloc, posix_memalign,\n'
printf '          malloc_usable_size)                             %5d B\n' $(( $(size "$family") - base ))
echo
echo "Workload (2M random malloc/free/realloc on 20000 slots, 8 B .. 64 KiB), wasm32-wasi under node:"
node --no-warnings "$runner" "$ours" libfreebump
node --no-warnings "$runner" "$theirs" dlmalloc
