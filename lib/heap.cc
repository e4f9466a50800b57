#include "lib/heap.h"

#include "lib/bits.h"

namespace freebump {
namespace {

// A shrinking realloc gives the block up for one of the smaller order when that is at least
// this many steps smaller (a doubling), so that a buffer shrunk to half or less does not keep
// its memory: at the top of the bump region it is cut where it is, elsewhere it moves and
// the old block goes back to its free list whole (cutting it there would leave pieces of
// sizes nobody asks for).
constexpr unsigned kShrinkOrders = kClassesPerDoubling;

// A huge block's payload starts 16 bytes into its page-aligned mapping (tag at +8).
constexpr uint64_t kHugePayloadOffset = 16;
constexpr uintptr_t kHugeHeaderInPage = 8;
constexpr bool kHugeBlocks = FREEBUMP_HUGE_BLOCKS != 0;
constexpr bool kCoalescing = FREEBUMP_COALESCING != 0;

// Whether a request of `size` bytes is a huge block of `source` (a mapping of its own).
bool huge_request(const MemorySource& source, uint64_t size) {
  return kHugeBlocks && size > source.huge_threshold();
}

// Where a tag may be read (FreeingBumpHeap::locate).
constexpr bool readable(Ownership owner) {
  return owner == Ownership::kHeap || (kHugeBlocks && owner == Ownership::kLiveHuge);
}

// The origin a tag field names, if it names one; the default flavour records none (all 0).
constexpr Origin origin_field(uint64_t field) {
  return kChecked && field < kNumOrigins ? static_cast<Origin>(field) : Origin::kMalloc;
}

}  // namespace

const char* describe(HeapError error) {
  switch (error) {
    case HeapError::kNone: return "no error";
    case HeapError::kTooLarge: return "request too large";
    case HeapError::kOutOfMemory: return "out of memory";
    case HeapError::kBadAlignment: return "alignment is not a power of two";
    case HeapError::kDoubleFree: return "double free";
    case HeapError::kInvalidPointer: return "invalid pointer";
    case HeapError::kCorruptHeader: return "corrupted header tag";
    case HeapError::kCorruptFreeList: return "corrupted free list";
    case HeapError::kWriteAfterFree: return "write after free";
    case HeapError::kMismatchFromMalloc: return "alloc-dealloc mismatch: block from malloc()";
    case HeapError::kMismatchFromNew: return "alloc-dealloc mismatch: block from operator new";
    case HeapError::kMismatchFromNewArray: return "alloc-dealloc mismatch: block from operator new[]";
    case HeapError::kMismatchFromAlignedNew: return "alloc-dealloc mismatch: block from operator new(align_val_t)";
    case HeapError::kMismatchFromAlignedNewArray:
      return "alloc-dealloc mismatch: block from operator new[](align_val_t)";
  }
  return "unknown error";
}

// ---- Allocation ----------------------------------------------------------------------------

Allocated FreeingBumpHeap::allocate(size_t size) {
  bool zeroed;
  return allocate(size, &zeroed);
}

Allocated FreeingBumpHeap::allocate_zeroed(size_t size) {
  bool zeroed = false;
  const Allocated block = allocate(size, &zeroed);
  if (!huge_request(*source_, size)) zeroed = last_was_fresh_ && source_->spans_are_zeroed();
  if (block.payload() != nullptr && !zeroed) __builtin_memset(block.payload(), 0, size);
  return block;
}

// The one dispatch of a request: too large, a huge block (*zeroed says whether it reads as
// zero), or a block of its order.
Allocated FreeingBumpHeap::allocate(size_t size, bool* zeroed) {
  if (size > kMaxRequest) return fail(HeapError::kTooLarge);
  if (huge_request(*source_, size)) return allocate_huge(size, zeroed);
  if (size > kMaxBlockRequest) return fail(HeapError::kTooLarge);  // a source without huge blocks
  return allocate_order(order_for_size(size));
}

Allocated FreeingBumpHeap::allocate_aligned(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return fail(HeapError::kBadAlignment);
  if (alignment <= kPayloadAlignment) return allocate(size);
  // Worst case the aligned payload starts alignment - 16 bytes into the block.
  const uint64_t slack = alignment - kPayloadAlignment;
  if (alignment > kMaxRequest || size > kMaxRequest - slack) return fail(HeapError::kTooLarge);
  const Allocated raw = allocate(static_cast<size_t>(size + slack));
  if (raw.payload() == nullptr) return raw;
  const uintptr_t payload = reinterpret_cast<uintptr_t>(raw.payload());
  const uintptr_t aligned = align_up(payload, alignment);
  // aligned - 8 >= payload + 8: the ALIGNED tag sits inside the block's own payload.
  if (aligned != payload) store_tag(aligned - 8, codec_.aligned(aligned - 8, payload - 8));
  return Allocated{reinterpret_cast<void*>(aligned)};
}

Allocated FreeingBumpHeap::allocate_order(unsigned order) {
  last_was_fresh_ = false;
  refresh_known_high_water();
  // The order's own list first, then those of up to a quarter of a doubling larger (the next
  // order, where there are four classes per doubling); and when the bump region cannot serve
  // the block, those of up to a doubling larger (the next kClassesPerDoubling orders) before
  // the heap asks its source for more. A larger block's rounding is the price of not growing
  // the heap while blocks of classes whose demand has passed wait on their lists. Reaching
  // further at every empty list cost more in rounding than it saved
  // (benchmarks/results/wasm32.md).
  const uint64_t bytes = block_bytes(order);
  const bool bump_short = bump_room() < bytes;
  const unsigned reach = bump_short ? kClassesPerDoubling : kClassesPerDoubling / 4;
  for (unsigned listed = order; listed <= order + reach && listed < kNumOrders; ++listed) {
    if (free_links_[listed] != 0) return pop_free(listed);
  }
  if (bump_short && !refill(bytes)) {
#if FREEBUMP_CHECKED
    // Out of memory with blocks waiting in the quarantine: memory reused sooner than it
    // would have been is better than none.
    if (quarantine_.count != 0) {
      const HeapError error = release_quarantine();
      return error == HeapError::kNone ? allocate_order(order) : fail(error);
    }
#endif
    return fail(HeapError::kOutOfMemory);
  }
  const uintptr_t header = bump_;
  bump_ += static_cast<uintptr_t>(bytes);
  store_tag(header, codec_.used(header, order));
  note_allocated(order);
  count_held(order, 1);
  last_was_fresh_ = !bump_recycled_;
  return Allocated{reinterpret_cast<void*>(header + kHeaderBytes)};
}

Allocated FreeingBumpHeap::allocate_huge(uint64_t size, bool* zeroed) {
  init_codec();
  const Span mapping = source_->map_huge(size + kHugePayloadOffset, zeroed);
  if (mapping.empty()) return fail(HeapError::kOutOfMemory);
  const uintptr_t header = mapping.begin + kHugeHeaderInPage;
  store_tag(header, codec_.huge(header, mapping.end - mapping.begin));
  FREEBUMP_COUNT(stats_.huge_live++);
  FREEBUMP_COUNT(stats_.huge_bytes += mapping.end - mapping.begin);
  return Allocated{reinterpret_cast<void*>(mapping.begin + kHugePayloadOffset)};
}

Allocated FreeingBumpHeap::pop_free(unsigned order) {
  const uintptr_t header = head(order);
  const uint64_t tag = load_tag(header);
  const uintptr_t next = codec_.link_target(TagCodec::value_of(tag));
  // Re-encoding the tag we expect checks kind, order, link and check in one comparison.
  if (tag != codec_.free(header, order, next) || (next != 0 && !in_heap(next))) {
    // Abandon the damaged list so that the heap stays usable for whoever reports this.
    uncount_list(order);
    set_head(order, 0);
    return fail(HeapError::kCorruptFreeList);
  }
  set_head(order, next);
  FREEBUMP_COUNT(free_room_[order]++);
#if FREEBUMP_CHECKED
  // The block stays off the list (its memory is lost), the rest of the list serves on.
  if (!poison_intact(header, order)) return fail(HeapError::kWriteAfterFree);
#endif
  store_tag(header, codec_.used(header, order));
  note_allocated(order);
  return Allocated{reinterpret_cast<void*>(header + kHeaderBytes)};
}

#if FREEBUMP_HEAP_STATS
HeapStats FreeingBumpHeap::stats() const {
  HeapStats stats;
  static_cast<HeapTotals&>(stats) = stats_;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    stats.orders[order] = OrderStats{held_[order] - free_count(order), free_count(order), allocations_[order]};
  }
  return stats;
}
#endif

// ---- Free, realloc, usable size ------------------------------------------------------------

HeapError FreeingBumpHeap::free(void* payload, Origin origin) {
  unsigned freed_order;
  return free(payload, &freed_order, origin);
}

// The checking path for every block: what try_free leaves (NULL, over-aligned payloads, huge
// blocks, a full list, blocks above the known heap, every misuse, and in the checked flavour
// every block) and everything freed without it.
HeapError FreeingBumpHeap::free(void* pointer, unsigned* freed_order, Origin origin) {
  const uintptr_t payload = reinterpret_cast<uintptr_t>(pointer);
  *freed_order = kNumOrders;
  if (payload == 0) return HeapError::kNone;
  refresh_known_high_water();
  LiveBlock block;
  const HeapError error = find_live_block(payload, &block);
  if (error != HeapError::kNone) return error;
  if (kChecked && block.origin != origin) return mismatch_from(block.origin);
  return release_block(block, freed_order);
}

HeapError FreeingBumpHeap::release_block(const LiveBlock& block, unsigned* listed_order) {
  *listed_order = kNumOrders;
  if (!kHugeBlocks || !block.huge) {
    const HeapError error = release(block.header, block.order, listed_order);
#if FREEBUMP_CHECKED
    // The poison covered an over-aligned payload's ALIGNED tag: put it back, so that the
    // pointer freed again is a double free, not a damaged tag (poison_intact allows it).
    if (block.inner != 0) store_tag(block.inner - kHeaderBytes, codec_.aligned(block.inner - kHeaderBytes, block.header));
#endif
    return error;
  }
  const Span mapping{block.header - kHugeHeaderInPage, block.payload_end};
  FREEBUMP_COUNT(stats_.huge_live--);
  FREEBUMP_COUNT(stats_.huge_bytes -= mapping.end - mapping.begin);
  // The source remembers the mapping as freed: a second free is a double free, found without
  // reading the mapping, which may be gone.
  source_->unmap_huge(mapping);
  return HeapError::kNone;
}

Allocated FreeingBumpHeap::reallocate(void* payload, size_t size) {
  unsigned freed_order;
  return reallocate(payload, size, &freed_order);
}

Allocated FreeingBumpHeap::reallocate(void* payload, size_t size, unsigned* freed_order) {
  *freed_order = kNumOrders;
  if (payload == nullptr) return allocate(size);
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  LiveBlock block;
  const HeapError error = find_live_block(address, &block);
  if (error != HeapError::kNone) return fail(error);
  if (kChecked && block.origin != Origin::kMalloc) return fail(mismatch_from(block.origin));
  if (size > kMaxRequest) return fail(HeapError::kTooLarge);
  const uint64_t usable = block.payload_end - address;
  const bool unaligned_block = address == block.header + kHeaderBytes;
  const bool stays_huge = huge_request(*source_, size);
  if (kHugeBlocks && block.huge) {
    if (stays_huge && unaligned_block) return reallocate_huge(block, size);
    if (stays_huge && size <= usable) return Allocated{payload};
  } else if (!stays_huge && size <= kMaxBlockRequest) {
    const unsigned new_order = order_for_size(size);
    if (size <= usable) {
      if (!unaligned_block || new_order + kShrinkOrders > block.order) return Allocated{payload};
      if (block.payload_end == bump_) {
        cut_at_top(block, new_order);
        return Allocated{payload};
      }
      const Allocated moved = allocate_order(new_order);
      // Keeping the bigger block is a fine answer too.
      if (moved.payload() == nullptr) return Allocated{payload};
      __builtin_memcpy(moved.payload(), payload, size);
      const HeapError released = release(block.header, block.order, freed_order);
      return released == HeapError::kNone ? moved : fail(released);
    }
    if (unaligned_block && extend_at_top(block, new_order)) return Allocated{payload};
  }
  const Allocated moved = allocate(size);
  if (moved.payload() == nullptr) return moved;
  __builtin_memcpy(moved.payload(), payload, static_cast<size_t>(size < usable ? size : usable));
  const HeapError released = release_block(block, freed_order);
  return released == HeapError::kNone ? moved : fail(released);
}

// The block ends at the bump pointer: its tail is bumped through again. It has been written,
// so it no longer counts as fresh (zeroed) memory.
void FreeingBumpHeap::cut_at_top(const LiveBlock& block, unsigned new_order) {
  count_held(block.order, ~uint64_t{0});
  count_held(new_order, 1);
  FREEBUMP_COUNT(stats_.bytes_in_use -= block_bytes(block.order) - block_bytes(new_order));
  store_tag(block.header, codec_.used(block.header, new_order));
  bump_ = block.header + static_cast<uintptr_t>(block_bytes(new_order));
  bump_recycled_ = true;
}

Allocated FreeingBumpHeap::reallocate_huge(const LiveBlock& block, size_t size) {
  const Span old_mapping{block.header - kHugeHeaderInPage, block.payload_end};
  const Span mapping = source_->remap_huge(old_mapping, size + kHugePayloadOffset);
  if (mapping.empty()) return fail(HeapError::kOutOfMemory);
  const uintptr_t header = mapping.begin + kHugeHeaderInPage;
  store_tag(header, codec_.huge(header, mapping.end - mapping.begin));
  FREEBUMP_COUNT(stats_.huge_bytes += (mapping.end - mapping.begin) - (old_mapping.end - old_mapping.begin));
  return Allocated{reinterpret_cast<void*>(mapping.begin + kHugePayloadOffset)};
}

HeapError FreeingBumpHeap::usable_size(const void* payload, size_t* size) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  LiveBlock block;
  const HeapError error = find_live_block(address, &block);
  if (error == HeapError::kNone) *size = static_cast<size_t>(block.payload_end - address);
  return error;
}

// ---- Finding and checking blocks -----------------------------------------------------------

// Where the 8 bytes at `header` (a header position) lie: in the heap, in a live huge mapping
// (both readable), or elsewhere, which is never read: a huge block's freed mapping (its
// pointer freed again is a double free) or memory that is not the source's.
Ownership FreeingBumpHeap::locate(uintptr_t header) const {
  if ((header & (kPayloadAlignment - 1)) != kHeaderBytes) return Ownership::kNotOurs;
  const bool above_base = header >= codec_.base() + kHeaderBytes;
  if (above_base && header < source_->high_water()) return Ownership::kHeap;
  if (!kHugeBlocks || codec_.base() == 0) return Ownership::kNotOurs;
  const Ownership owner = source_->owner_of(header, kHeaderBytes);
  return owner == Ownership::kHeap && !above_base ? Ownership::kNotOurs : owner;
}

// Each tag is checked by encoding the tag it should be and comparing all 64 bits.
HeapError FreeingBumpHeap::find_live_block(uintptr_t payload, LiveBlock* block) const {
  init_codec();
  uintptr_t header = payload - kHeaderBytes;
  if ((payload & (kPayloadAlignment - 1)) != 0) return HeapError::kInvalidPointer;
  Ownership owner = locate(header);
  if (kHugeBlocks && owner == Ownership::kFreedHuge) return HeapError::kDoubleFree;
  if (!readable(owner)) return HeapError::kInvalidPointer;
  uint64_t tag = load_tag(header);
  uintptr_t inner = 0;  // an over-aligned payload, which must lie inside its block
  const uintptr_t real = TagCodec::aligned_target(header, TagCodec::value_of(tag));
  if (tag == codec_.aligned(header, real)) {
    if (real >= header) return HeapError::kCorruptHeader;
    owner = locate(real);
    if (!readable(owner)) return HeapError::kCorruptHeader;
    inner = payload;
    header = real;
    tag = load_tag(header);
  }
  const unsigned order = TagCodec::order_of(tag);
  const uint64_t huge_bytes = TagCodec::value_of(tag) * kHugeUnitBytes;
  const uint64_t bytes = block_bytes(order);
  // The origin a USED tag (value) or a HUGE tag (order) would hold; the tag's check decides.
  const Origin used_origin = origin_field(TagCodec::value_of(tag));
  const Origin huge_origin = origin_field(order);
  if (owner == Ownership::kHeap && tag == codec_.used(header, order, used_origin) &&
      (uint64_t{header} + bytes <= source_->high_water() ||
       (header >= source_->high_water() && in_other_range(header, bytes)))) {
    *block = LiveBlock{header, order, header + static_cast<uintptr_t>(bytes), false, used_origin, inner};
  } else if (kHugeBlocks && owner == Ownership::kLiveHuge &&
             (header & (kHugeUnitBytes - 1)) == kHugeHeaderInPage &&
             tag == codec_.huge(header, huge_bytes, huge_origin) &&
             source_->owner_of(header - kHugeHeaderInPage, huge_bytes) == Ownership::kLiveHuge) {
    *block = LiveBlock{header, 0, header - kHugeHeaderInPage + static_cast<uintptr_t>(huge_bytes),
                       true, huge_origin, inner};
  } else {
    return classify_bad_tag(header, tag);
  }
  return block->payload_end > inner ? HeapError::kNone : HeapError::kCorruptHeader;
}

// Names what is wrong with a tag that is not a live block's.
HeapError FreeingBumpHeap::classify_bad_tag(uintptr_t header, uint64_t tag) const {
  const DecodedTag decoded = codec_.decode(header, tag);
  if (decoded.check_ok) {
    if (decoded.kind == TagKind::kFree) return HeapError::kDoubleFree;
    // A USED tag with an origin no allocation writes is damage that passed the check: eight
    // equal bytes do wherever the check's address term is 0 (the heap's first slot).
    const uint64_t origins = kChecked ? kNumOrigins : 1;
    return decoded.kind == TagKind::kUsed && decoded.value >= origins ? HeapError::kCorruptHeader
                                                                      : HeapError::kInvalidPointer;
  }
  // A well-formed kind with a wrong check is a damaged tag; anything else never was one.
  return decoded.kind == TagKind::kInvalid ? HeapError::kInvalidPointer
                                           : HeapError::kCorruptHeader;
}

// ---- Chains of free blocks between heaps ---------------------------------------------------

HeapError FreeingBumpHeap::take_free_blocks(unsigned order, uint64_t max_count,
                                            FreeChain* chain) {
  init_codec();
  *chain = FreeChain{};
  uintptr_t header = head(order);
  uintptr_t tail = 0;
  uint64_t count = 0;
  while (header != 0 && count < max_count) {
    const uint64_t tag = load_tag(header);
    const uintptr_t next = codec_.link_target(TagCodec::value_of(tag));
    if (tag != codec_.free(header, order, next) || (next != 0 && !in_heap(next))) {
      uncount_list(order);
      set_head(order, 0);
      return HeapError::kCorruptFreeList;
    }
    tail = header;
    header = next;
    count++;
  }
  if (count == 0) return HeapError::kNone;
  *chain = FreeChain{head(order), tail, count};
  store_tag(tail, codec_.free(tail, order, 0));
  set_head(order, header);
  FREEBUMP_COUNT(free_room_[order] += static_cast<int64_t>(count));
  count_held(order, 0 - count);
  return HeapError::kNone;
}

void FreeingBumpHeap::give_free_blocks(unsigned order, const FreeChain& chain) {
  if (chain.count == 0) return;
  init_codec();
  store_tag(chain.tail, codec_.free(chain.tail, order, head(order)));
  set_head(order, chain.head);
  FREEBUMP_COUNT(free_room_[order] -= static_cast<int64_t>(chain.count));
  count_held(order, chain.count);
}

HeapError FreeingBumpHeap::give_free_blocks(unsigned order, FreeChain* chain, uint64_t max_count) {
  if (chain->count <= max_count) {
    give_free_blocks(order, *chain);
    *chain = FreeChain{};
    return HeapError::kNone;
  }
  if (max_count == 0) return HeapError::kNone;
  init_codec();
  // Walk to the last block that moves; its link is where the rest of the chain starts.
  uintptr_t last = chain->head;
  for (uint64_t walked = 1;; ++walked) {
    const uint64_t tag = load_tag(last);
    const uintptr_t next = codec_.link_target(TagCodec::value_of(tag));
    if (tag != codec_.free(last, order, next) || next == 0 || !in_heap(next)) {
      *chain = FreeChain{};
      return HeapError::kCorruptFreeList;
    }
    if (walked == max_count) {
      give_free_blocks(order, FreeChain{chain->head, last, max_count});
      chain->head = next;
      chain->count -= max_count;
      return HeapError::kNone;
    }
    last = next;
  }
}

// ---- Growing the bump region ---------------------------------------------------------------

void FreeingBumpHeap::init_codec() const {
  if (codec_.base() == 0) {
#if FREEBUMP_CHECKED
    const uint64_t key = source_->tag_key();
#else
    const uint64_t key = 0;
#endif
    codec_ = TagCodec(align_up(source_->base(), kPayloadAlignment), key);
#if FREEBUMP_HEAP_STATS
    for (unsigned order = 0; order < kNumOrders; ++order) {
      block_bytes_[order] = kBlockBytes.bytes[order];
      free_room_[order] = static_cast<int64_t>(list_limit(order));
    }
#endif
  }
}

bool FreeingBumpHeap::refill(uint64_t bytes) {
  // Ask for the shortfall while spans follow one another (the usual case, and the one that
  // wastes nothing); a span that starts elsewhere must hold the whole block after aligning.
  const uint64_t whole = bytes + kPayloadAlignment;
  uint64_t want = bump_end_ == 0 ? whole : bytes - bump_room();
  for (;;) {
    Span span = source_->grow(want);
    // Out of memory: merge this heap's free blocks, the bump region's tail among them (it
    // may border on free blocks), and bump through the smallest region that holds the block
    // (freed memory then serves any size, not only its own).
    if (span.empty() && kCoalescing) {
      retire_bump_tail();
      span = take_free_region(bytes, bytes, true);
    }
    if (span.empty() || !adopt_span(span)) return false;
    if (bump_room() >= bytes) return true;
    want = whole;
  }
}

bool FreeingBumpHeap::adopt_span(Span span) {
  // Fresh spans never go down; recycled ones come from below by nature.
  if (span.end < span.begin || (span.begin < bump_end_ && !span.recycled)) return false;
  init_codec();
  if (span.begin < codec_.base()) return false;
  if (!span.recycled) FREEBUMP_COUNT(stats_.address_space += span.end - span.begin);
  if (span.begin == bump_end_ && bump_end_ != 0) {
    bump_end_ = span.end;
    bump_recycled_ |= span.recycled;
    return true;
  }
  retire_bump_tail();
  // bump_ may sit past a tiny span's end; the next contiguous span then makes it usable.
  bump_ = align_up(span.begin, kPayloadAlignment) + kHeaderBytes;
  bump_end_ = span.end;
  bump_recycled_ = span.recycled;
  return true;
}

Span FreeingBumpHeap::release_bump_region() {
  const Span rest = bump_end_ > bump_ ? Span{bump_ - static_cast<uintptr_t>(kHeaderBytes), bump_end_, true} : Span{};
  bump_ = 0;
  bump_end_ = 0;
  bump_recycled_ = false;
  return rest;
}

void FreeingBumpHeap::add_free_region(Span span) {
  init_codec();
  carve_free_region(align_up(span.begin, kPayloadAlignment) + kHeaderBytes, span.end);
}

void FreeingBumpHeap::retire_bump_tail() {
  // Less than a block (8 bytes at most) may be left: bump_ stays a header position, so a
  // span that follows this one continues from there.
  if (bump_end_ > bump_) bump_ = carve_free_region(bump_, bump_end_);
}

// Cuts [begin, end) (begin a header position) into free blocks, largest first; returns
// where the carving stopped.
uintptr_t FreeingBumpHeap::carve_free_region(uintptr_t begin, uintptr_t end) {
  for (unsigned order = kNumOrders; order-- > 0;) {
    while (end > begin && end - begin >= block_bytes(order)) {
      push_carved(begin, order);
      begin += static_cast<uintptr_t>(block_bytes(order));
    }
  }
  return begin;
}

}  // namespace freebump
