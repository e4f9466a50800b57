// Beyond Substrate, apart from the exact mode: what the exact mode costs a runtime, in a form
// a host can log (at the end of a call, or when an allocation fails).
//
// The freeing-bump design never splits, merges or gives back a block: a freed block waits on
// its own order's list, and the bump pointer only rises. So a runtime's memory is its peak
// address space, not its live bytes; this report says how far apart they are and where the
// difference sits, from the counts the allocator keeps beside sc-allocator's statistics
// (allocator.h, UsageCounts; they change nothing a runtime observes).
#ifndef FREEBUMP_SUBSTRATE_COST_REPORT_H_
#define FREEBUMP_SUBSTRATE_COST_REPORT_H_

#include <stdint.h>

#include <string>

#include "substrate/allocator.h"

namespace freebump {
namespace substrate {

struct ExactModeCost {
  uint64_t live_bytes;       // in live blocks (headers and rounding included)
  uint64_t live_blocks;
  uint64_t peak_live_bytes;  // the most live bytes at once
  uint64_t address_space;    // bytes the bump pointer has passed: what the runtime's heap takes
  // Bytes in blocks on the free lists, each usable only by a request of its own order, and the
  // order holding the most of them.
  uint64_t free_list_bytes;
  unsigned largest_free_order;
  uint64_t largest_free_order_bytes;
  // Of every block handed out so far: its bytes, and the bytes the runtime asked for; the
  // difference is headers and rounding up to a power of two.
  uint64_t handed_out_bytes;
  uint64_t requested_bytes;
  // The first time the allocator ran out of space: the order asked for, and the bytes then
  // free in other orders, which an allocator that merges free blocks could have used.
  bool out_of_space;
  unsigned out_of_space_order;
  uint64_t out_of_space_free_bytes;
};

ExactModeCost measure_cost(const HostAllocator& allocator);

// A few lines of plain text, e.g.
//   exact mode: 1048 live blocks, 1250304 B live, peak 3412992 B, address space 8388608 B (2.46x the peak)
//   free lists: 4718592 B, each block for its own order only; most in order 12 (32 KiB blocks): 2097152 B
//   headers and rounding: 2428928 B of 10590208 B handed out (22.9 %)
//   out of space: a block of order 17 (1 MiB) failed with 4718592 B free in other orders
std::string format_cost_report(const ExactModeCost& cost);

}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_COST_REPORT_H_
