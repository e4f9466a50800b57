// The freeing-bump heap: the allocator core.
//
// Design (after Substrate's sc-allocator, see ../shared/ANCHORS.md):
// - Power-of-two orders (size_classes.h); every block carries an 8-byte header tag
//   (header_tag.h) naming its order while it is in use and its successor while it is free.
// - One LIFO free list per order, threaded through the free blocks' tags. A freed block only
//   ever serves its own order: nothing is split or merged, so allocate and free are O(1).
// - Fresh blocks are carved from a bump region that a MemorySource grows. When the source
//   hands over a span that does not follow the current one, the old region's tail is carved
//   into free blocks instead of being lost.
// - Over-aligned requests take a bigger block and put an ALIGNED tag in front of the aligned
//   payload that points back to the block's own header.
//
// One heap is single-threaded; the layers above add locking or per-thread heaps. The core
// knows nothing of symbols, errno or the OS: failures come back as HeapError values that
// those layers turn into NULL + errno or a diagnostic and abort.
#ifndef FREEBUMP_LIB_HEAP_H_
#define FREEBUMP_LIB_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include "lib/header_tag.h"
#include "lib/memory_source.h"
#include "lib/size_classes.h"

// Statistics (HeapStats below) cost code and about 800 bytes of state per heap. A build where
// every byte counts (the freestanding wasm32 module) compiles them out with
// -DFREEBUMP_HEAP_STATS=0; stats() then does not exist. Nothing else changes.
#ifndef FREEBUMP_HEAP_STATS
#define FREEBUMP_HEAP_STATS 1
#endif

namespace freebump {

enum class HeapError : uint8_t {
  kNone = 0,
  // The request cannot be served; the heap is unchanged and usable (C: ENOMEM / EINVAL).
  kTooLarge,
  kOutOfMemory,
  kBadAlignment,
  // Heap corruption or misuse by the caller (C: diagnostic and abort).
  kDoubleFree,
  kInvalidPointer,
  kCorruptHeader,
  kCorruptFreeList,
};

constexpr bool is_heap_corruption(HeapError error) { return error >= HeapError::kDoubleFree; }
// A short lower-case phrase naming the problem, e.g. "double free".
const char* describe(HeapError error);

struct OrderStats {
  uint64_t live = 0;         // blocks in use now
  uint64_t free = 0;         // blocks on the free list now
  uint64_t allocations = 0;  // blocks handed out so far (from the list or the bump region)
};

// Substrate's figures (bytes counted as whole blocks: header and rounding included) plus
// per-order counts.
struct HeapStats {
  uint64_t bytes_in_use = 0;
  uint64_t peak_bytes_in_use = 0;
  uint64_t cumulative_bytes = 0;
  uint64_t address_space = 0;  // bytes the memory source handed over
  OrderStats orders[kNumOrders] = {};
};

class FreeingBumpHeap {
 public:
  // Constant-initialisable, so a heap can be a global that is ready before any constructor
  // runs. `check_key` salts the header-tag check (0 keeps tags reproducible across targets).
  constexpr explicit FreeingBumpHeap(MemorySource* source, uint64_t check_key = 0)
      : source_(source), check_key_(check_key) {}

  FreeingBumpHeap(const FreeingBumpHeap&) = delete;
  FreeingBumpHeap& operator=(const FreeingBumpHeap&) = delete;

  // A 16-byte-aligned block of at least `size` bytes, or nullptr (see last_error()).
  void* allocate(size_t size);
  // As allocate, aligned to `alignment` (a power of two).
  void* allocate_aligned(size_t alignment, size_t size);
  // Frees a block from allocate*, reallocate or nullptr (a no-op). On an error the heap is
  // unchanged.
  HeapError free(void* payload);
  // Resizes in place when the block still fits (or sits at the top of the bump region);
  // otherwise moves it. nullptr with last_error() on failure, the old block intact.
  void* reallocate(void* payload, size_t size);
  // The usable size behind a live pointer.
  HeapError usable_size(const void* payload, size_t* size) const;

  // Why the last allocate*/reallocate returned nullptr.
  HeapError last_error() const { return last_error_; }
#if FREEBUMP_HEAP_STATS
  const HeapStats& stats() const { return stats_; }
#endif
  const TagCodec& codec() const { return codec_; }

 private:
  // A live block found behind a payload pointer.
  struct LiveBlock {
    HeapError error;
    uintptr_t header;       // the real block's header (not the ALIGNED tag's)
    unsigned order;
    uintptr_t payload_end;  // one past the block's last usable byte
  };

  void* fail(HeapError error);
  LiveBlock find_live_block(uintptr_t payload) const;
  LiveBlock check_used_tag(uintptr_t header) const;
  bool in_heap(uintptr_t header) const;
  void* allocate_order(unsigned order);
  void* pop_free(unsigned order);
  void push_free(uintptr_t header, unsigned order);
  void release(uintptr_t header, unsigned order);
  void note_allocated(unsigned order);
  bool refill(uint64_t bytes);
  bool adopt_span(Span span);
  void retire_bump_tail();
  bool extend_at_top(const LiveBlock& block, unsigned new_order);

  MemorySource* source_;
  uint64_t check_key_;
  TagCodec codec_{};
  uintptr_t bump_ = 0;      // next block's header (≡ 8 mod 16)
  uintptr_t bump_end_ = 0;  // end of the current span
  uintptr_t free_heads_[kNumOrders] = {};
  HeapError last_error_ = HeapError::kNone;
#if FREEBUMP_HEAP_STATS
  HeapStats stats_{};
#endif
};

}  // namespace freebump

#endif  // FREEBUMP_LIB_HEAP_H_
