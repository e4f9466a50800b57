#include "lib/heap.h"

namespace freebump {
namespace {

constexpr uintptr_t align_up(uintptr_t value, uintptr_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

// A shrinking realloc moves the block when it would then fit an order at least this many
// steps smaller, so a large buffer cut down to a few bytes goes back to its free list.
constexpr unsigned kShrinkMoveOrders = 2;

}  // namespace

// Every update of the statistics goes through this, so FREEBUMP_HEAP_STATS=0 removes them all.
#if FREEBUMP_HEAP_STATS
#define FREEBUMP_COUNT(statement) statement
#else
#define FREEBUMP_COUNT(statement) static_cast<void>(0)
#endif

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
  }
  return "unknown error";
}

void* FreeingBumpHeap::allocate(size_t size) {
  if (size > kMaxRequest) return fail(HeapError::kTooLarge);
  return allocate_order(order_for_size(size));
}

void* FreeingBumpHeap::allocate_aligned(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return fail(HeapError::kBadAlignment);
  if (alignment <= kPayloadAlignment) return allocate(size);
  // Worst case the aligned payload starts alignment - 16 bytes into the block.
  const uint64_t slack = alignment - kPayloadAlignment;
  if (alignment > kMaxRequest || size > kMaxRequest - slack) return fail(HeapError::kTooLarge);
  void* raw = allocate(static_cast<size_t>(size + slack));
  if (raw == nullptr) return nullptr;
  const uintptr_t payload = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = align_up(payload, alignment);
  // aligned - 8 >= payload + 8: the ALIGNED tag sits inside the block's own payload.
  if (aligned != payload) store_tag(aligned - 8, codec_.aligned(aligned - 8, payload - 8));
  return reinterpret_cast<void*>(aligned);
}

HeapError FreeingBumpHeap::free(void* payload) {
  if (payload == nullptr) return HeapError::kNone;
  const LiveBlock block = find_live_block(reinterpret_cast<uintptr_t>(payload));
  if (block.error != HeapError::kNone) return block.error;
  release(block.header, block.order);
  return HeapError::kNone;
}

void* FreeingBumpHeap::reallocate(void* payload, size_t size) {
  if (payload == nullptr) return allocate(size);
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  const LiveBlock block = find_live_block(address);
  if (block.error != HeapError::kNone) return fail(block.error);
  if (size > kMaxRequest) return fail(HeapError::kTooLarge);
  const uint64_t usable = block.payload_end - address;
  const bool unaligned_block = address == block.header + kHeaderBytes;
  const unsigned new_order = order_for_size(size);
  if (size <= usable) {
    if (!unaligned_block || new_order + kShrinkMoveOrders > block.order) return payload;
    void* moved = allocate_order(new_order);
    if (moved == nullptr) {  // Keeping the bigger block is a fine answer too.
      last_error_ = HeapError::kNone;
      return payload;
    }
    __builtin_memcpy(moved, payload, size);
    release(block.header, block.order);
    return moved;
  }
  if (unaligned_block && extend_at_top(block, new_order)) return payload;
  void* moved = allocate_order(new_order);
  if (moved == nullptr) return nullptr;
  __builtin_memcpy(moved, payload, static_cast<size_t>(usable));
  release(block.header, block.order);
  return moved;
}

HeapError FreeingBumpHeap::usable_size(const void* payload, size_t* size) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  const LiveBlock block = find_live_block(address);
  if (block.error == HeapError::kNone) *size = static_cast<size_t>(block.payload_end - address);
  return block.error;
}

void* FreeingBumpHeap::fail(HeapError error) {
  last_error_ = error;
  return nullptr;
}

bool FreeingBumpHeap::in_heap(uintptr_t header) const {
  return (header & (kPayloadAlignment - 1)) == kHeaderBytes &&
         header >= codec_.base() + kHeaderBytes && header < bump_;
}

FreeingBumpHeap::LiveBlock FreeingBumpHeap::find_live_block(uintptr_t payload) const {
  const uintptr_t header = payload - kHeaderBytes;
  if (!in_heap(header)) return LiveBlock{HeapError::kInvalidPointer, 0, 0, 0};
  const DecodedTag tag = codec_.decode(header, load_tag(header));
  if (tag.kind != TagKind::kAligned || !tag.check_ok) return check_used_tag(header);
  // An over-aligned payload: its tag points back to the block that holds it.
  const uintptr_t real = TagCodec::aligned_target(header, tag.value);
  if (real >= header || !in_heap(real)) return LiveBlock{HeapError::kCorruptHeader, 0, 0, 0};
  const LiveBlock block = check_used_tag(real);
  if (block.error == HeapError::kNone && payload >= block.payload_end) {
    return LiveBlock{HeapError::kCorruptHeader, 0, 0, 0};
  }
  return block;
}

FreeingBumpHeap::LiveBlock FreeingBumpHeap::check_used_tag(uintptr_t header) const {
  const DecodedTag tag = codec_.decode(header, load_tag(header));
  HeapError error = HeapError::kNone;
  if (!tag.check_ok) {
    // A well-formed kind with a wrong check is a damaged tag; anything else never was one.
    error = tag.kind == TagKind::kInvalid ? HeapError::kInvalidPointer : HeapError::kCorruptHeader;
  } else if (tag.kind == TagKind::kFree) {
    error = HeapError::kDoubleFree;
  } else if (tag.kind != TagKind::kUsed) {
    error = HeapError::kInvalidPointer;
  } else if (uint64_t{header} + block_bytes(tag.order) > bump_) {
    error = HeapError::kCorruptHeader;  // A block cannot reach past what was ever handed out.
  }
  if (error != HeapError::kNone) return LiveBlock{error, 0, 0, 0};
  return LiveBlock{HeapError::kNone, header, tag.order,
                   static_cast<uintptr_t>(header + block_bytes(tag.order))};
}

void* FreeingBumpHeap::allocate_order(unsigned order) {
  if (free_heads_[order] != 0) return pop_free(order);
  const uint64_t bytes = block_bytes(order);
  if ((bump_end_ > bump_ ? bump_end_ - bump_ : 0) < bytes && !refill(bytes)) {
    return fail(HeapError::kOutOfMemory);
  }
  const uintptr_t header = bump_;
  bump_ += static_cast<uintptr_t>(bytes);
  store_tag(header, codec_.used(header, order));
  note_allocated(order);
  return reinterpret_cast<void*>(header + kHeaderBytes);
}

void* FreeingBumpHeap::pop_free(unsigned order) {
  const uintptr_t header = free_heads_[order];
  const DecodedTag tag = codec_.decode(header, load_tag(header));
  const uintptr_t next = codec_.link_target(tag.value);
  if (!tag.check_ok || tag.kind != TagKind::kFree || tag.order != order ||
      (next != 0 && !in_heap(next))) {
    // Abandon the damaged list so that the heap stays usable for whoever reports this.
    free_heads_[order] = 0;
    FREEBUMP_COUNT(stats_.orders[order].free = 0);
    return fail(HeapError::kCorruptFreeList);
  }
  free_heads_[order] = next;
  FREEBUMP_COUNT(stats_.orders[order].free--);
  store_tag(header, codec_.used(header, order));
  note_allocated(order);
  return reinterpret_cast<void*>(header + kHeaderBytes);
}

void FreeingBumpHeap::push_free(uintptr_t header, unsigned order) {
  store_tag(header, codec_.free(header, order, free_heads_[order]));
  free_heads_[order] = header;
  FREEBUMP_COUNT(stats_.orders[order].free++);
}

void FreeingBumpHeap::release(uintptr_t header, unsigned order) {
  FREEBUMP_COUNT(stats_.orders[order].live--);
  FREEBUMP_COUNT(stats_.bytes_in_use -= block_bytes(order));
  push_free(header, order);
}

void FreeingBumpHeap::note_allocated(unsigned order) {
#if FREEBUMP_HEAP_STATS
  OrderStats& counts = stats_.orders[order];
  counts.live++;
  counts.allocations++;
  stats_.bytes_in_use += block_bytes(order);
  stats_.cumulative_bytes += block_bytes(order);
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) {
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }
#else
  static_cast<void>(order);
#endif
}

bool FreeingBumpHeap::refill(uint64_t bytes) {
  // Ask for the shortfall while spans follow one another (the usual case, and the one that
  // wastes nothing); a span that starts elsewhere must hold the whole block after aligning.
  const uint64_t whole = bytes + kPayloadAlignment;
  uint64_t want = bump_end_ == 0 ? whole : bytes - (bump_end_ > bump_ ? bump_end_ - bump_ : 0);
  for (;;) {
    const Span span = source_->grow(want);
    if (span.empty() || !adopt_span(span)) return false;
    if ((bump_end_ > bump_ ? bump_end_ - bump_ : 0) >= bytes) return true;
    want = whole;
  }
}

bool FreeingBumpHeap::adopt_span(Span span) {
  if (span.end < span.begin || span.begin < bump_end_) return false;  // Spans never go down.
  if (codec_.base() == 0) {
    codec_ = TagCodec(align_up(source_->base(), kPayloadAlignment), check_key_);
  }
  if (span.begin < codec_.base()) return false;
  FREEBUMP_COUNT(stats_.address_space += span.end - span.begin);
  if (span.begin == bump_end_ && bump_end_ != 0) {
    bump_end_ = span.end;
    return true;
  }
  retire_bump_tail();
  // bump_ may sit past a tiny span's end; the next contiguous span then makes it usable.
  bump_ = align_up(span.begin, kPayloadAlignment) + kHeaderBytes;
  bump_end_ = span.end;
  return true;
}

void FreeingBumpHeap::retire_bump_tail() {
  for (unsigned order = kNumOrders; order-- > 0;) {
    while (bump_end_ > bump_ && bump_end_ - bump_ >= block_bytes(order)) {
      push_free(bump_, order);
      bump_ += static_cast<uintptr_t>(block_bytes(order));
    }
  }
}

bool FreeingBumpHeap::extend_at_top(const LiveBlock& block, unsigned new_order) {
  if (block.payload_end != bump_) return false;
  const uint64_t bytes = block_bytes(new_order);
  while (bump_end_ - block.header < bytes) {
    const Span span = source_->grow(bytes - (bump_end_ - block.header));
    if (span.empty() || !adopt_span(span)) return false;
    if (block.payload_end != bump_) return false;  // The span did not follow: move instead.
  }
  FREEBUMP_COUNT(stats_.orders[block.order].live--);
  FREEBUMP_COUNT(stats_.bytes_in_use -= block_bytes(block.order));
  note_allocated(new_order);
  store_tag(block.header, codec_.used(block.header, new_order));
  bump_ = block.header + static_cast<uintptr_t>(bytes);
  return true;
}

}  // namespace freebump
