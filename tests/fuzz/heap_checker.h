// The heap invariant checker of the fuzz targets: given everything that holds memory of one
// source (its heaps, the free chains and spare regions of a central pool) and the blocks the
// program holds, it checks every invariant the heaps promise, and names the first that fails.
//
//   - A walk from the tag base reaches the high water: block after block, each tag decoding as
//     USED or FREE with a good check, entering each bump region (and spare region) exactly at
//     its first header; the only bytes that are no block are the 16 between a span that a heap
//     did not bump to its end and the next span (8 left over, 8 of alignment), never written.
//   - Every free list and chain is well formed: each link names a FREE block of the list's
//     order found by the walk, no block is on two lists (or twice on one), and a chain ends at
//     its tail; and every FREE block of the walk is on a list (none is lost).
//   - The USED blocks are exactly the program's blocks: each live pointer is a USED block's
//     payload (or an over-aligned payload inside one, behind a good ALIGNED tag) with at least
//     the bytes asked for, and no two live blocks overlap (the walk tiles the memory).
//   - The statistics add up: each heap's free counts are its lists' lengths; summed over the
//     heaps (one heap's counts may wrap when another frees its blocks), the live blocks and
//     bytes in use are the walk's USED blocks, and the address space is what the source handed
//     out.
//
// Written for the fuzz targets, usable by any test: it only reads.
#ifndef FREEBUMP_TESTS_FUZZ_HEAP_CHECKER_H_
#define FREEBUMP_TESTS_FUZZ_HEAP_CHECKER_H_

#include <stdint.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lib/heap.h"

namespace freebump {
namespace fuzz {

// The memory of one source as the checker sees it.
struct CheckedMemory {
  uintptr_t high_water = 0;                 // one past the last byte the source handed out
  std::vector<uintptr_t> span_begins;       // where each span the source handed out began
  uint64_t fresh_bytes = 0;                 // bytes the source handed out
  std::vector<const FreeingBumpHeap*> heaps;  // every heap on the source (at least one)
  std::vector<std::pair<unsigned, FreeChain>> chains;  // free chains held outside the heaps
  std::vector<Span> spare_regions;          // bump space held outside the heaps
};

// What the program holds: payload -> bytes it asked for.
using LiveBlocks = std::map<uintptr_t, uint64_t>;

// An empty string when every invariant holds, else the first violation found.
std::string check_heap(const CheckedMemory& memory, const LiveBlocks& live);

}  // namespace fuzz
}  // namespace freebump

#endif  // FREEBUMP_TESTS_FUZZ_HEAP_CHECKER_H_
