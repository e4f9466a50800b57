// The central pool: where free memory goes between thread heaps, and from where it goes back
// to the kernel. It sits between the thread heaps and the platform:
//
//   thread heaps ──chains of free blocks (a list over its bound)──▶ ┌ central pool ──────────┐
//   thread heaps ◀──the newest chain of an order (a list ran dry)── │ per order: a ring of    │
//                                                                   │  chains, newest on top  │
//   a heap that retires ──its bump region, whole──────────────────▶ │ spare regions           │
//   a heap that needs bump space ◀──grow(): a spare region, else a  │ the reserve: idle and   │
//     free region of the reserve, else (merging first when due)     │  merged free blocks     │
//     fresh memory from the platform                                └──────────┬─────────────┘
//                                                       discard() of idle pages ▼ platform.h
//
// - Chains and spare regions move in O(1) under one lock per order (chains) or the reserve's
//   lock (regions). Blocks taken back are the most recently given (their cache lines are the
//   likeliest to be warm); an order with no chain left is served from the reserve's lists,
//   else by cutting the smallest larger block of the reserve (up to 16 times the size): merged
//   runs and idle blocks of sizes nobody asks for serve the sizes below theirs.
// - Memory freed in one size class serves another through merging: when a heap needs bump
//   space that neither a spare region nor the reserve can give, and enough memory has come
//   into the pool since the last merge, every chain joins the reserve, whose free blocks are
//   put in address order and joined into the largest blocks they form (lib/heap_merge.cc).
//   The merge's cost is paid for by the blocks that came in.
// - Memory comes back with hysteresis (jemalloc's decay in its simplest form: jemalloc(3),
//   opt.dirty_decay_ms): a chain or spare region that nobody has taken for kIdleMs goes to
//   the reserve and its whole pages to the kernel, at once for blocks that span pages, after
//   a merge for small ones. Memory reused within that time never leaves, so a steady program
//   does not fault the same pages in again and again. return_free_pages() (malloc_trim)
//   gives back everything free in the pool at once.
// - The pool is a MemorySource for the heaps above it and calls only down (the platform).
#ifndef FREEBUMP_PRELOAD_CENTRAL_POOL_H_
#define FREEBUMP_PRELOAD_CENTRAL_POOL_H_

#include <stdint.h>

#include "lib/heap.h"
#include "preload/lock.h"
#include "preload/metadata_ring.h"
#include "preload/platform.h"

// The pool, and the thread heaps above it, need the full core (lib/footprint.bzl): the heaps'
// lists bounded by list limits and counted by free_count() (statistics), the pool's merging,
// huge blocks. The small footprint is the freestanding wasm32 module's, where nothing of this
// library builds.
static_assert(FREEBUMP_HEAP_STATS && FREEBUMP_COALESCING && FREEBUMP_HUGE_BLOCKS,
              "the preload library needs the full core (lib/footprint.bzl)");

namespace freebump {

struct PoolStats {
  uint64_t chained_blocks[kNumOrders];  // free blocks in chains, per order
  uint64_t reserve_blocks[kNumOrders];  // free blocks in the reserve, per order
  uint64_t spare_bytes;                 // bytes in spare regions
  uint64_t fresh_bytes;                 // bump space asked of the platform, in total
  uint64_t recycled_bytes;              // bump space handed out again, in total
  uint64_t merges;                      // merges of the reserve
  uint64_t returned_bytes;              // pages given back, in total
};

class CentralPool final : public MemorySource {
 public:
  // Memory idle for this long is given back; the pool looks for it at most every
  // kIdleCheckMs, on its own operations (it has no thread of its own).
  static constexpr uint64_t kIdleMs = 1000;
  static constexpr uint64_t kIdleCheckMs = 100;

  constexpr CentralPool(Platform* platform, uint64_t huge_threshold, bool spans_are_zeroed)
      : MemorySource(huge_threshold, spans_are_zeroed), platform_(platform), reserve_(this) {}
  CentralPool(const CentralPool&) = delete;
  CentralPool& operator=(const CentralPool&) = delete;

  // ---- MemorySource: bump space for the heaps above, huge mappings straight from below.
  Span grow(uint64_t min_bytes) override;
  uintptr_t base() const override { return platform_->base(); }
  Span map_huge(uint64_t bytes, bool* zeroed) override { return platform_->map_huge(bytes, zeroed); }
  void unmap_huge(Span mapping) override { platform_->unmap_huge(mapping); }
  Span remap_huge(Span mapping, uint64_t bytes) override { return platform_->remap_huge(mapping, bytes); }
  Ownership owner_of(uintptr_t address, uint64_t bytes) const override {
    return platform_->owner_of(address, bytes);
  }
#if FREEBUMP_CHECKED
  uint64_t tag_key() const override { return platform_->tag_key(); }
#endif

  // ---- Free blocks between a heap (any heap on this pool) and the pool. Each returns
  // kCorruptFreeList if a damaged tag turns up (the damaged list is dropped).
  // Moves up to `max_blocks` blocks from the front of the heap's list of `order`.
  HeapError take_from(FreeingBumpHeap& heap, unsigned order, uint64_t max_blocks);
  // Gives the heap the newest chain of `order`, else up to `max_blocks` from the reserve;
  // nothing if the pool has no block of that order.
  HeapError give_to(FreeingBumpHeap& heap, unsigned order, uint64_t max_blocks);
  // Everything a heap holds that is free: every list, and its bump region as a spare region
  // (a thread that exits; a heap answering a trim).
  HeapError take_all_from(FreeingBumpHeap& heap);

  // Whether the next grow() that finds no spare or reserve region merges first. A heap about
  // to ask should give its own free blocks first (take_all_from): scattered through the
  // pool's runs, they would cut them short.
  bool merge_due();

  // Gives back the pages of everything free in the pool (merging first); returns the bytes.
  uint64_t return_free_pages();

  PoolStats stats();

  // For heap checkers (tests/fuzz/heap_checker.h), under the pool's locks: visit_chain(order,
  // chain) for every chain on the shelves, visit_spare(span) for every spare region, and
  // visit_reserve(heap) for the reserve's heap (its free lists).
  template <class ChainVisitor, class SpareVisitor, class ReserveVisitor>
  void inspect(ChainVisitor visit_chain, SpareVisitor visit_spare, ReserveVisitor visit_reserve) {
    LockGuard guard(reserve_lock_);
    for (unsigned order = 0; order < kNumOrders; ++order) {
      LockGuard shelf_guard(shelves_[order].lock);
      MetadataRing<StampedChain>& chains = shelves_[order].chains;
      for (size_t i = 0; i < chains.size(); ++i) visit_chain(order, chains.from_newest(i).chain);
    }
    MetadataRing<StampedSpan>* rings[] = {&spare_regions_, &clean_regions_};
    for (MetadataRing<StampedSpan>* ring : rings) {
      for (size_t i = 0; i < ring->size(); ++i) visit_spare(ring->from_newest(i).span);
    }
    visit_reserve(static_cast<const FreeingBumpHeap&>(reserve_));
  }

  // fork(): held across it, so that the child inherits a consistent pool.
  void lock_all();
  void unlock_all();

 private:
  struct StampedChain {
    FreeChain chain;
    uint64_t given_ms;
  };
  struct StampedSpan {
    Span span;
    uint64_t given_ms;
  };
  struct Shelf {  // one order's chains
    Lock lock;
    MetadataRing<StampedChain> chains;
    uint64_t blocks = 0;  // in `chains`; read without the lock as a hint
  };

  void give_chain(unsigned order, const FreeChain& chain, uint64_t now_ms);
  HeapError split_reserve_block(FreeingBumpHeap& heap, unsigned order, uint64_t max_blocks);
  bool move_larger_chain_to_reserve(unsigned order);
  Span take_spare_region_locked(uint64_t min_bytes);
  Span take_reserve_region_locked(uint64_t min_bytes);
  bool merge_due_locked() const;
  void merge_locked(bool every_chain, uint64_t now_ms);
  void return_idle_memory_locked(uint64_t now_ms);
  uint64_t discard_span(Span span);
  uint64_t discard_reserve_blocks_locked(unsigned first_order);
  uint64_t discard_chain(unsigned order, const FreeChain& chain);
  void add_to_reserve_locked(unsigned order, const FreeChain& chain, uint64_t dirty_since_ms);
  void add_region_to_reserve_locked(Span region, uint64_t dirty_since_ms);
  void add_spare_to_reserve_locked(Span spare, uint64_t dirty_since_ms);
  void note_dirty_locked(uint64_t dirty_since_ms, uint64_t small_bytes);
  uint64_t reserve_bytes_locked() const;
  void note_reserve_counts_locked();
  void count_free_bytes(int64_t delta) {
    __atomic_fetch_add(&free_bytes_, static_cast<uint64_t>(delta), __ATOMIC_RELAXED);
  }

  Platform* platform_;
  Shelf shelves_[kNumOrders];
  // The reserve's lock guards everything below it. Lock order: the reserve's lock, then
  // shelves' locks (never the other way round), then the platform's.
  Lock reserve_lock_;
  FreeingBumpHeap reserve_;  // never bumps: blocks come in as chains and regions
  uint64_t reserve_blocks_[kNumOrders] = {};  // a copy of the reserve's counts, read as hints
  uint64_t reserve_orders_[(kNumOrders + 63) / 64] = {};  // bit per order with blocks, a hint
  // Bump regions of retired heaps, kept whole for the next heap that needs bump space; once
  // idle, their pages go back and they move to the clean ring.
  MetadataRing<StampedSpan> spare_regions_;
  MetadataRing<StampedSpan> clean_regions_;
  uint64_t spare_bytes_ = 0;  // in both rings
  uint64_t free_bytes_ = 0;  // in chains, spare regions and the reserve; a hint (atomic)
  uint64_t arrived_since_merge_ = 0;  // bytes given to the pool since the last merge (atomic)
  uint64_t free_after_merge_ = 0;
  // The reserve's memory written since (kClean: all given back), and how much of it is in
  // blocks too small to hold a page until a merge joins them.
  static constexpr uint64_t kClean = ~uint64_t{0};
  uint64_t reserve_dirty_since_ms_ = kClean;
  uint64_t small_dirty_bytes_ = 0;
  uint64_t next_idle_check_ms_ = 0;
  uint64_t fresh_bytes_ = 0;
  uint64_t recycled_bytes_ = 0;
  uint64_t merges_ = 0;
  uint64_t returned_bytes_ = 0;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_CENTRAL_POOL_H_
