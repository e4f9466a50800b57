#include "preload/central_pool.h"

#include "lib/bits.h"

namespace freebump {
namespace {

// Bump space handed out again: a free region of at least this much when there is one, and
// never less than kSmallestRecycledRegion, so that a heap bumps through it for a while
// instead of coming straight back.
constexpr uint64_t kRecycledRegionBytes = uint64_t{1} << 20;
constexpr uint64_t kSmallestRecycledRegion = uint64_t{64} << 10;
// A retiring heap's bump region smaller than this is cut into free blocks instead of being
// kept whole: too small to be worth handing out as bump space.
constexpr uint64_t kSmallestSpareRegion = uint64_t{4} << 10;
// How many of the newest spare regions a request looks at for one that fits.
constexpr size_t kSpareRegionsSearched = 8;
// Merging is due when the pool holds at least kMergeMinFreeBytes and at least as much, and
// half of what it held after the last merge, has come in since: the merge's cost, linear in
// the pool's blocks, is then paid for by the blocks that came in.
constexpr uint64_t kMergeMinFreeBytes = uint64_t{4} << 20;
// Idle blocks too small to hold a whole page give their pages back only after a merge has
// joined them; it runs once this much of them has gone idle.
constexpr uint64_t kSmallIdleMergeBytes = uint64_t{1} << 20;
// The merge's bitmap covers up to 8 GiB of heap, and is used while it has at most this many
// words (of 1 KiB of heap each) per free block to merge, or is small anyway.
constexpr uint64_t kMaxMergeBitmapBytes = uint64_t{64} << 20;
constexpr uint64_t kMergeBitmapWordsPerBlock = 64;
constexpr uint64_t kSmallMergeBitmapBytes = uint64_t{64} << 10;

// A list that ran dry is refilled by splitting a free block of the reserve up to this many
// orders larger (16 times the size): freed memory of one size serves the sizes below it
// before a merge, and the smallest block that serves is cut, so larger ones stay whole.
constexpr unsigned kSplitOrders = 4 * kClassesPerDoubling;

// The smallest order whose blocks hold `pages` whole pages' worth of payload: from
// pages = 1 a block may hold a whole page, from pages = 2 it always does, wherever it starts.
constexpr unsigned first_order_spanning(uint64_t pages) {
  unsigned order = 0;
  while (block_bytes(order) < kHeaderBytes + pages * kPageBytes) ++order;
  return order;
}
constexpr unsigned kFirstPageSizedOrder = first_order_spanning(1);
constexpr unsigned kFirstPagedOrder = first_order_spanning(2);

uint64_t chain_bytes(unsigned order, const FreeChain& chain) { return chain.count * block_bytes(order); }
uint64_t span_bytes(Span span) { return span.end - span.begin; }

}  // namespace

// ---- Bump space ------------------------------------------------------------------------------

Span CentralPool::grow(uint64_t min_bytes) {
  const uint64_t now = platform_->now_ms();
  LockGuard guard(reserve_lock_);
  // First, so that idle memory joins the reserve (and goes back) before a merge folds it in
  // with the rest.
  return_idle_memory_locked(now);
  Span span = take_spare_region_locked(min_bytes);
  if (span.empty()) span = take_reserve_region_locked(min_bytes);
  if (span.empty() && merge_due_locked()) {
    merge_locked(true, now);
    span = take_reserve_region_locked(min_bytes);
  }
  if (!span.empty()) {
    recycled_bytes_ += span_bytes(span);
  } else {
    span = platform_->grow(min_bytes);
    if (!span.empty()) {
      // The platform's first run ends at its high water; a span beyond it (another range)
      // is known to heaps through owner_of().
      raise_high_water(platform_->high_water());
      fresh_bytes_ += span_bytes(span);
    }
  }
  return span;
}

// The newest spare region that surely holds a block of min_bytes after aligning.
Span CentralPool::take_spare_region_locked(uint64_t min_bytes) {
  MetadataRing<StampedSpan>* rings[] = {&spare_regions_, &clean_regions_};
  for (MetadataRing<StampedSpan>* ring : rings) {
    const size_t searched = ring->size() < kSpareRegionsSearched ? ring->size() : kSpareRegionsSearched;
    for (size_t i = 0; i < searched; ++i) {
      const Span span = ring->from_newest(i).span;
      if (span_bytes(span) < min_bytes + kPayloadAlignment) continue;
      ring->take_from_newest(i);
      spare_bytes_ -= span_bytes(span);
      count_free_bytes(-static_cast<int64_t>(span_bytes(span)));
      return span;
    }
  }
  return Span{};
}

Span CentralPool::take_reserve_region_locked(uint64_t min_bytes) {
  const uint64_t least = min_bytes > kSmallestRecycledRegion ? min_bytes : kSmallestRecycledRegion;
  const uint64_t preferred = least > kRecycledRegionBytes ? least : kRecycledRegionBytes;
  Span span = reserve_.take_free_region(least, preferred, false);
  if (span.empty()) return span;
  // The span starts 8 bytes before the block, at the 16-byte boundary heaps bump from.
  count_free_bytes(-static_cast<int64_t>(span_bytes(span) - kHeaderBytes));
  note_reserve_counts_locked();
  // A block much bigger than asked for (merged runs are cut into the largest blocks they
  // form) is cut again: a heap keeps its bump region for as long as it lives, out of reach of
  // the pool's idle return, so it gets what it asked for and the rest stays in the reserve.
  // The cut falls on a header position, as between two blocks: the span handed out ends
  // there (its last block may end there), and the rest starts 8 bytes before it, as every
  // span does. Cut at a 16-byte boundary instead, the 16 bytes around it would be in no block.
  const uint64_t keep = round_up(preferred, kPageBytes);
  if (span_bytes(span) >= 2 * keep + kRecycledRegionBytes) {
    const uintptr_t cut = span.begin + static_cast<uintptr_t>(keep) - kHeaderBytes;
    add_region_to_reserve_locked(Span{cut - kHeaderBytes, span.end}, kClean);
    span.end = cut;
  }
  return span;
}

bool CentralPool::merge_due() {
  LockGuard guard(reserve_lock_);
  return merge_due_locked();
}

bool CentralPool::merge_due_locked() const {
  const uint64_t arrived = __atomic_load_n(&arrived_since_merge_, __ATOMIC_RELAXED);
  return __atomic_load_n(&free_bytes_, __ATOMIC_RELAXED) >= kMergeMinFreeBytes &&
         arrived >= kMergeMinFreeBytes && arrived >= free_after_merge_ / 2;
}

// Merges the reserve's free blocks, with every chain and spare region first if asked (they
// were in use until now_ms, so the merged memory counts as dirty from then on).
void CentralPool::merge_locked(bool every_chain, uint64_t now_ms) {
  if (every_chain) {
    for (unsigned order = 0; order < kNumOrders; ++order) {
      Shelf& shelf = shelves_[order];
      LockGuard shelf_guard(shelf.lock);
      while (!shelf.chains.empty()) add_to_reserve_locked(order, shelf.chains.pop_newest().chain, now_ms);
      __atomic_store_n(&shelf.blocks, 0, __ATOMIC_RELAXED);
    }
    while (!spare_regions_.empty()) add_spare_to_reserve_locked(spare_regions_.pop_newest().span, now_ms);
    while (!clean_regions_.empty()) add_spare_to_reserve_locked(clean_regions_.pop_newest().span, kClean);
  }
  // A bitmap of the heap puts the blocks in address order (1/128 of the heap; the merge
  // scans the words between its lowest and highest block). Where that is large next to the
  // number of free blocks (a big heap with a small pool), the merge sorts a list instead.
  uint64_t blocks = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) blocks += reserve_.free_count(order);
  const size_t words = merge_bitmap_words(high_water() - base());
  const bool by_bitmap = words * 8 <= kMaxMergeBitmapBytes &&
                         (words <= kMergeBitmapWordsPerBlock * blocks || words * 8 <= kSmallMergeBitmapBytes);
  void* pages = by_bitmap ? platform_->map_metadata(words * 8) : nullptr;
  MergeScratch scratch;
  if (pages != nullptr) scratch = MergeScratch{static_cast<uint64_t*>(pages), words};
  reserve_.coalesce_free_blocks(scratch);
  if (pages != nullptr) platform_->unmap_metadata(pages, words * 8);
  note_reserve_counts_locked();
  free_after_merge_ = __atomic_load_n(&free_bytes_, __ATOMIC_RELAXED);
  __atomic_store_n(&arrived_since_merge_, 0, __ATOMIC_RELAXED);
  small_dirty_bytes_ = 0;  // joined into larger blocks, which a discard of the reserve reaches
  merges_++;
}

// ---- Free blocks between heaps and the pool ----------------------------------------------------

HeapError CentralPool::take_from(FreeingBumpHeap& heap, unsigned order, uint64_t max_blocks) {
  FreeChain chain;
  const HeapError error = heap.take_free_blocks(order, max_blocks, &chain);
  if (error == HeapError::kNone && chain.count != 0) give_chain(order, chain, platform_->now_ms());
  return error;
}

void CentralPool::give_chain(unsigned order, const FreeChain& chain, uint64_t now_ms) {
  count_free_bytes(static_cast<int64_t>(chain_bytes(order, chain)));
  __atomic_fetch_add(&arrived_since_merge_, chain_bytes(order, chain), __ATOMIC_RELAXED);
  Shelf& shelf = shelves_[order];
  bool shelved;
  {
    LockGuard guard(shelf.lock);
    shelved = shelf.chains.push_newest(*platform_, StampedChain{chain, now_ms});
    if (shelved) __atomic_store_n(&shelf.blocks, shelf.blocks + chain.count, __ATOMIC_RELAXED);
  }
  if (!shelved || now_ms >= __atomic_load_n(&next_idle_check_ms_, __ATOMIC_RELAXED)) {
    LockGuard guard(reserve_lock_);
    if (!shelved) add_to_reserve_locked(order, chain, now_ms);  // no room for its record
    return_idle_memory_locked(now_ms);
  }
}

HeapError CentralPool::give_to(FreeingBumpHeap& heap, unsigned order, uint64_t max_blocks) {
  Shelf& shelf = shelves_[order];
  StampedChain newest{};
  if (__atomic_load_n(&shelf.blocks, __ATOMIC_RELAXED) != 0) {
    LockGuard guard(shelf.lock);
    if (!shelf.chains.empty()) {
      newest = shelf.chains.pop_newest();
      __atomic_store_n(&shelf.blocks, shelf.blocks - newest.chain.count, __ATOMIC_RELAXED);
    }
  }
  if (newest.chain.count != 0) {
    // Split outside the lock (it walks the blocks that move); the rest goes back on top.
    const uint64_t count = newest.chain.count;
    const HeapError error = heap.give_free_blocks(order, &newest.chain, max_blocks);
    if (error != HeapError::kNone) return error;
    count_free_bytes(-static_cast<int64_t>((count - newest.chain.count) * block_bytes(order)));
    if (newest.chain.count != 0) {
      LockGuard guard(shelf.lock);
      if (shelf.chains.push_newest(*platform_, newest)) {
        __atomic_store_n(&shelf.blocks, shelf.blocks + newest.chain.count, __ATOMIC_RELAXED);
        return HeapError::kNone;
      }
    }
    if (newest.chain.count != 0) {
      LockGuard guard(reserve_lock_);
      add_to_reserve_locked(order, newest.chain, platform_->now_ms());
    }
    return HeapError::kNone;
  }
  if (__atomic_load_n(&reserve_blocks_[order], __ATOMIC_RELAXED) == 0) {
    const HeapError error = split_reserve_block(heap, order, max_blocks);
    if (error != HeapError::kNone || heap.free_count(order) != 0 || !move_larger_chain_to_reserve(order)) return error;
    return split_reserve_block(heap, order, max_blocks);
  }
  FreeChain chain;
  {
    LockGuard guard(reserve_lock_);
    const HeapError error = reserve_.take_free_blocks(order, max_blocks, &chain);
    note_reserve_counts_locked();
    if (error != HeapError::kNone) return error;
  }
  count_free_bytes(-static_cast<int64_t>(chain_bytes(order, chain)));
  heap.give_free_blocks(order, chain);
  return HeapError::kNone;
}

// The smallest block of the reserve within kSplitOrders above `order`, cut into up to
// max_blocks blocks of `order` for the heap; the rest stays in the reserve.
HeapError CentralPool::split_reserve_block(FreeingBumpHeap& heap, unsigned order, uint64_t max_blocks) {
  const unsigned last = order + kSplitOrders < kNumOrders ? order + kSplitOrders : kNumOrders - 1;
  const auto larger_with_blocks = [&](const uint64_t* bits) {
    for (unsigned word = (order + 1) / 64; word <= last / 64; ++word) {
      uint64_t mask = __atomic_load_n(&bits[word], __ATOMIC_RELAXED);
      if (word == (order + 1) / 64) mask &= ~uint64_t{0} << ((order + 1) % 64);
      if (word == last / 64 && last % 64 != 63) mask &= (uint64_t{1} << (last % 64 + 1)) - 1;
      if (mask != 0) return word * 64 + static_cast<unsigned>(__builtin_ctzll(mask));
    }
    return kNumOrders;
  };
  if (larger_with_blocks(reserve_orders_) == kNumOrders) return HeapError::kNone;
  LockGuard guard(reserve_lock_);
  const unsigned larger = larger_with_blocks(reserve_orders_);
  if (larger == kNumOrders || reserve_.free_count(larger) == 0) return HeapError::kNone;
  FreeChain chain;
  const uint64_t before = reserve_bytes_locked();
  HeapError error = reserve_.take_free_blocks(larger, 1, &chain);
  if (error == HeapError::kNone && chain.count == 1) {
    const uint64_t fit = block_bytes(larger) / block_bytes(order);
    const uint64_t count = fit < max_blocks ? fit : max_blocks;
    const Span rest = heap.split_free_block(chain.head, larger, order, count);
    if (!rest.empty()) reserve_.add_free_region(rest);
  }
  note_reserve_counts_locked();
  count_free_bytes(static_cast<int64_t>(reserve_bytes_locked() - before));
  return error;
}

// The newest chain of the smallest larger order within kSplitOrders that has one joins the
// reserve, for split_reserve_block to cut: when no merge comes (heaps find bump space in spare
// regions), memory freed in one class still serves the classes below it before fresh memory
// does. Takes the reserve's lock, then the shelf's (the pool's lock order).
bool CentralPool::move_larger_chain_to_reserve(unsigned order) {
  const unsigned last = order + kSplitOrders < kNumOrders ? order + kSplitOrders : kNumOrders - 1;
  for (unsigned larger = order + 1; larger <= last; ++larger) {
    Shelf& shelf = shelves_[larger];
    if (__atomic_load_n(&shelf.blocks, __ATOMIC_RELAXED) == 0) continue;
    LockGuard guard(reserve_lock_);
    StampedChain newest{};
    {
      LockGuard shelf_guard(shelf.lock);
      if (shelf.chains.empty()) continue;
      newest = shelf.chains.pop_newest();
      __atomic_store_n(&shelf.blocks, shelf.blocks - newest.chain.count, __ATOMIC_RELAXED);
    }
    add_to_reserve_locked(larger, newest.chain, newest.given_ms);
    return true;
  }
  return false;
}

HeapError CentralPool::take_all_from(FreeingBumpHeap& heap) {
  const uint64_t now = platform_->now_ms();
  for (unsigned order = 0; order < kNumOrders; ++order) {
    if (heap.free_count(order) == 0) continue;
    FreeChain chain;
    const HeapError error = heap.take_free_blocks(order, ~uint64_t{0}, &chain);
    if (error != HeapError::kNone) return error;
    give_chain(order, chain, now);
  }
  const Span rest = heap.release_bump_region();
  if (rest.empty()) return HeapError::kNone;
  LockGuard guard(reserve_lock_);
  if (span_bytes(rest) >= kSmallestSpareRegion &&
      spare_regions_.push_newest(*platform_, StampedSpan{rest, now})) {
    spare_bytes_ += span_bytes(rest);
    count_free_bytes(static_cast<int64_t>(span_bytes(rest)));
    __atomic_fetch_add(&arrived_since_merge_, span_bytes(rest), __ATOMIC_RELAXED);
  } else {
    add_region_to_reserve_locked(rest, now);
  }
  return HeapError::kNone;
}

// Blocks whose pages were last written at dirty_since_ms (kClean: given back already).
void CentralPool::add_to_reserve_locked(unsigned order, const FreeChain& chain, uint64_t dirty_since_ms) {
  reserve_.give_free_blocks(order, chain);
  __atomic_store_n(&reserve_blocks_[order], reserve_.free_count(order), __ATOMIC_RELAXED);
  if (chain.count != 0) __atomic_fetch_or(&reserve_orders_[order / 64], uint64_t{1} << (order % 64), __ATOMIC_RELAXED);
  note_dirty_locked(dirty_since_ms, order < kFirstPagedOrder ? chain_bytes(order, chain) : 0);
}

// A region cut into free blocks; what the cut leaves over (under 16 bytes) is in no block
// and not counted.
void CentralPool::add_region_to_reserve_locked(Span region, uint64_t dirty_since_ms) {
  const uint64_t before = reserve_bytes_locked();
  reserve_.add_free_region(region);
  note_reserve_counts_locked();
  count_free_bytes(static_cast<int64_t>(reserve_bytes_locked() - before));
  note_dirty_locked(dirty_since_ms, 0);
}

void CentralPool::add_spare_to_reserve_locked(Span spare, uint64_t dirty_since_ms) {
  spare_bytes_ -= span_bytes(spare);
  count_free_bytes(-static_cast<int64_t>(span_bytes(spare)));
  add_region_to_reserve_locked(spare, dirty_since_ms);
}

// The reserve holds memory written since dirty_since_ms (the earliest such time counts), of
// which small_bytes in blocks too small to give a page back before a merge.
void CentralPool::note_dirty_locked(uint64_t dirty_since_ms, uint64_t small_bytes) {
  if (dirty_since_ms == kClean) return;
  if (dirty_since_ms < reserve_dirty_since_ms_) reserve_dirty_since_ms_ = dirty_since_ms;
  small_dirty_bytes_ += small_bytes;
}

uint64_t CentralPool::reserve_bytes_locked() const {
  uint64_t bytes = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) bytes += reserve_.free_count(order) * block_bytes(order);
  return bytes;
}

void CentralPool::note_reserve_counts_locked() {
  uint64_t orders[(kNumOrders + 63) / 64] = {};
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint64_t blocks = reserve_.free_count(order);
    __atomic_store_n(&reserve_blocks_[order], blocks, __ATOMIC_RELAXED);
    if (blocks != 0) orders[order / 64] |= uint64_t{1} << (order % 64);
  }
  for (size_t word = 0; word < (kNumOrders + 63) / 64; ++word) {
    __atomic_store_n(&reserve_orders_[word], orders[word], __ATOMIC_RELAXED);
  }
}

// ---- Giving memory back ------------------------------------------------------------------------

// Chains and spare regions nobody has taken for kIdleMs give their pages back: chains of
// blocks that hold whole pages at once, small blocks once a merge has joined them; then
// they join the reserve. Memory that has lain dirty in the reserve for as long goes back too.
void CentralPool::return_idle_memory_locked(uint64_t now_ms) {
  if (now_ms < next_idle_check_ms_) return;
  __atomic_store_n(&next_idle_check_ms_, now_ms + kIdleCheckMs, __ATOMIC_RELAXED);
  for (unsigned order = 0; order < kNumOrders; ++order) {
    Shelf& shelf = shelves_[order];
    for (;;) {
      StampedChain idle;
      {
        LockGuard guard(shelf.lock);
        if (shelf.chains.empty() || shelf.chains.oldest().given_ms + kIdleMs > now_ms) break;
        idle = shelf.chains.pop_oldest();
        __atomic_store_n(&shelf.blocks, shelf.blocks - idle.chain.count, __ATOMIC_RELAXED);
      }
      if (order >= kFirstPagedOrder) {
        returned_bytes_ += discard_chain(order, idle.chain);
        add_to_reserve_locked(order, idle.chain, kClean);
      } else {
        add_to_reserve_locked(order, idle.chain, idle.given_ms);
      }
    }
  }
  while (!spare_regions_.empty() && spare_regions_.oldest().given_ms + kIdleMs <= now_ms) {
    const StampedSpan idle = spare_regions_.pop_oldest();
    returned_bytes_ += discard_span(idle.span);
    if (!clean_regions_.push_newest(*platform_, idle)) add_spare_to_reserve_locked(idle.span, kClean);
  }
  if (now_ms >= kIdleMs) platform_->release_idle(now_ms - kIdleMs);
  if (reserve_dirty_since_ms_ != kClean && reserve_dirty_since_ms_ + kIdleMs <= now_ms) {
    if (small_dirty_bytes_ >= kSmallIdleMergeBytes) merge_locked(false, now_ms);
    returned_bytes_ += discard_reserve_blocks_locked(kFirstPageSizedOrder);
    reserve_dirty_since_ms_ = kClean;
  }
}

uint64_t CentralPool::return_free_pages() {
  const uint64_t now = platform_->now_ms();
  LockGuard guard(reserve_lock_);
  merge_locked(true, now);
  const uint64_t returned = discard_reserve_blocks_locked(kFirstPageSizedOrder);
  reserve_dirty_since_ms_ = kClean;
  returned_bytes_ += returned;
  return returned;
}

// The pages inside a span, past the first header position (which a heap adopting the span
// writes first).
uint64_t CentralPool::discard_span(Span span) { return platform_->discard(span.begin + kPayloadAlignment, span.end); }

// The pages inside each block of a chain just taken from a shelf, checking each tag before
// following its link: a damaged chain is left for the heap that takes it to report.
uint64_t CentralPool::discard_chain(unsigned order, const FreeChain& chain) {
  const TagCodec& codec = reserve_.codec();
  uint64_t returned = 0;
  uintptr_t header = chain.head;
  for (uint64_t i = 0; i < chain.count; ++i) {
    const uint64_t tag = load_tag(header);
    const uintptr_t next = codec.link_target(TagCodec::value_of(tag));
    if (tag != codec.free(header, order, next)) break;
    returned += platform_->discard(discardable_from(header), header + static_cast<uintptr_t>(block_bytes(order)));
    if (next == 0) break;
    if ((next < base() || next >= high_water()) && owner_of(next, kHeaderBytes) != Ownership::kHeap) break;
    header = next;
  }
  return returned;
}

uint64_t CentralPool::discard_reserve_blocks_locked(unsigned first_order) {
  uint64_t returned = 0;
  for (unsigned order = first_order; order < kNumOrders; ++order) {
    reserve_.for_each_free_block(order, [&](uintptr_t header) {
      returned += platform_->discard(discardable_from(header), header + static_cast<uintptr_t>(block_bytes(order)));
    });
  }
  return returned;
}

// ---- Figures and fork --------------------------------------------------------------------------

PoolStats CentralPool::stats() {
  PoolStats stats{};
  LockGuard guard(reserve_lock_);
  for (unsigned order = 0; order < kNumOrders; ++order) {
    LockGuard shelf_guard(shelves_[order].lock);
    stats.chained_blocks[order] = shelves_[order].blocks;
    stats.reserve_blocks[order] = reserve_.free_count(order);
  }
  stats.spare_bytes = spare_bytes_;
  stats.fresh_bytes = fresh_bytes_;
  stats.recycled_bytes = recycled_bytes_;
  stats.merges = merges_;
  stats.returned_bytes = returned_bytes_;
  return stats;
}

void CentralPool::lock_all() {
  reserve_lock_.lock();
  for (Shelf& shelf : shelves_) shelf.lock.lock();
}

void CentralPool::unlock_all() {
  for (unsigned order = kNumOrders; order-- > 0;) shelves_[order].lock.unlock();
  reserve_lock_.unlock();
}

}  // namespace freebump
