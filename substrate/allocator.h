// A Substrate-compatible host allocator: sc-allocator's FreeingBumpHeapAllocator
// (paritytech/polkadot-sdk, substrate/client/allocator/src/freeing_bump.rs, the 23-order
// version on master), address for address, error for error, statistic for statistic, for C++
// hosts of Polkadot and Substrate runtimes (ext_allocator_malloc_version_1 /
// ext_allocator_free_version_1).
//
// Every host of a runtime must allocate exactly as Substrate does: a runtime that runs out of
// memory on one node and not on another splits consensus. So this is the exact mode, quirks
// included, and nothing here may change what a runtime observes:
// - allocate: the order's free list is popped if it has a block (its head must lie, with its
//   whole block, inside the memory and read as a free header), else the bump pointer moves on
//   by the block's footprint, growing the memory first if the block does not fit: to
//   max(min(2 x current pages, maximum pages), pages needed), or kAllocatorOutOfSpace when
//   the memory is at its maximum already, needs more than the maximum, or the engine refuses.
// - deallocate trusts the 8 bytes in front of the pointer: whatever reads as an occupied
//   header with an order below 23 is pushed on that order's list. Only a free header (a double
//   free), an order >= 23, a pointer below 8 or bytes out of bounds are errors.
// - Any error poisons the allocator: every later call fails with kPoisoned.
// - 32-bit arithmetic wraps as Rust's does in the release builds nodes run: the bump pointer
//   and the statistics are u32, so a block that ends exactly at 4 GiB wraps the bump pointer to
//   0 (polkadot-sdk#13144), and later blocks are placed from there.
//
// Layout and headers: layout.h. Memory: the host's LinearMemory (linear_memory.h).
//
// What is shared with libfreebump's core, and what is not (ARCHITECTURE.md says why the heap
// is not made generic over the layout): the design (one LIFO list per power-of-two order
// threaded through 8-byte headers, a bump pointer, nothing split or merged) and the per-order
// counts the core keeps (OrderStats, lib/heap.h), which the cost report uses. The core's heap
// itself is not used: it manages the memory it runs in through pointers, 16-byte aligned, with
// checked tags, and leaves the heap unchanged on an error; this allocator manages another
// instance's memory through offsets and an interface, 8-byte aligned, with Substrate's bare
// headers, and changes state before some errors exactly where sc-allocator does.
#ifndef FREEBUMP_SUBSTRATE_ALLOCATOR_H_
#define FREEBUMP_SUBSTRATE_ALLOCATOR_H_

#include <stdint.h>

#include "lib/heap.h"
#include "substrate/layout.h"
#include "substrate/linear_memory.h"

namespace freebump {
namespace substrate {

// sc-allocator's errors. Its Error enum has three variants and Other(&'static str); each
// message of Other is a value here, so a host can tell them apart and log sc-allocator's text.
enum class Error : uint8_t {
  kNone = 0,
  kRequestedAllocationTooLarge,  // size > 32 MiB
  kAllocatorOutOfSpace,          // the bump region cannot grow enough
  kMemoryShrank,                 // the memory has fewer pages than at the last call
  // Error::Other
  kPoisoned,                       // an earlier call failed
  kInvalidHeaderPointer,           // a free-list head whose block leaves the memory
  kFreeListPointsToOccupied,       // a free-list head that reads as an occupied header
  kInvalidOrder,                   // an occupied header with an order >= 23
  kReadOutOfBounds,                // a header read past byte_length()
  kWriteOutOfBounds,               // a header write past byte_length()
  kInvalidPointerForDeallocation,  // deallocate(pointer < 8)
  kFreeOfFreeHeader,               // deallocate of a block whose header reads as free
  kAllocatedBytesUnderflow,        // deallocate of more bytes than are allocated
};

// sc-allocator's Display text for the error, e.g. "Allocator ran out of space" or
// "Other: the allocator has been poisoned".
const char* message(Error error);

// sc-allocator's AllocationStats. Block bytes (header and rounding included).
struct AllocationStats {
  uint32_t bytes_allocated = 0;       // in live blocks now
  uint32_t bytes_allocated_peak = 0;  // the most bytes_allocated has been
  unsigned __int128 bytes_allocated_sum = 0;  // of every block ever handed out (a u128 there)
  uint32_t address_space_used = 0;    // the bump pointer less the heap base
};

// What the exact mode's statistics do not say, for the cost report (cost_report.h). Keeping
// it changes nothing a runtime can observe.
struct UsageCounts {
  OrderStats orders[kNumOrders] = {};  // blocks live, on the free list, and handed out so far
  uint64_t bytes_requested_sum = 0;    // the sizes allocate() was asked for, of those handed out
  // The first kAllocatorOutOfSpace: the order asked for, and the free blocks the other orders
  // held then (bytes of their blocks), which a merging allocator could have used.
  bool out_of_space = false;
  unsigned out_of_space_order = 0;
  uint64_t out_of_space_free_bytes = 0;
};

// allocate()'s result: the pointer (an offset into the instance's memory) when error is kNone.
struct Allocation {
  uint32_t pointer;
  Error error;
  bool ok() const { return error == Error::kNone; }
};

class HostAllocator {
 public:
  // `heap_base`: the instance's __heap_base, the first byte the allocator may use; rounded up
  // to 8 (in u32, as sc-allocator does).
  explicit HostAllocator(uint32_t heap_base);

  HostAllocator(const HostAllocator&) = delete;
  HostAllocator& operator=(const HostAllocator&) = delete;

  // At least `size` bytes, 8-byte aligned. The memory must be the same instance's at every
  // call (sc-allocator lets the object change, the memory must not shrink).
  Allocation allocate(LinearMemory& memory, uint32_t size);
  // Frees a pointer allocate() returned (see above for what it accepts).
  Error deallocate(LinearMemory& memory, uint32_t pointer);

  const AllocationStats& stats() const { return stats_; }
  const UsageCounts& usage() const { return usage_; }
  bool poisoned() const { return poisoned_; }

  // The allocator's state, for tests and diagnostics: the heap base after rounding, the bump
  // pointer (the next block's header), and the header an order's free list starts at
  // (kNilLink when empty).
  uint32_t heap_base() const { return heap_base_; }
  uint32_t bumper() const { return bumper_; }
  uint32_t free_list_head(unsigned order) const { return heads_[order]; }

 private:
  // Each returns the error of the step it takes; the public calls poison on any of them.
  Error observe_memory_size(const LinearMemory& memory);
  Error take_from_free_list(LinearMemory& memory, unsigned order, uint32_t* header);
  Error bump(LinearMemory& memory, unsigned order, uint32_t* header);
  Error allocate_unpoisoned(LinearMemory& memory, uint32_t size, uint32_t* pointer);
  Error deallocate_unpoisoned(LinearMemory& memory, uint32_t pointer);
  void note_out_of_space(unsigned order);

  uint32_t heap_base_;
  uint32_t bumper_;
  uint32_t heads_[kNumOrders];
  bool poisoned_ = false;
  uint64_t last_observed_memory_bytes_ = 0;
  AllocationStats stats_;
  UsageCounts usage_;
};

}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_ALLOCATOR_H_
