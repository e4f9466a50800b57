// The freeing-bump heap: the allocator core.
//
// Design (after Substrate's sc-allocator, polkadot-sdk's client/allocator/src/freeing_bump.rs):
// - Size classes ("orders", 1, 2 or 4 per doubling, or "4-8": size_classes.h); every block
//   carries an 8-byte header tag (header_tag.h) naming its order while it is in use and its
//   successor while it is free.
// - One LIFO free list per order, threaded through the free blocks' tags. A freed block
//   serves its own order, or whole (its order and rounding kept) a request of a smaller one
//   whose list is empty: of up to a quarter of a doubling below, or, rather than cut fresh
//   memory when the bump region is used up, of up to a doubling below. Nothing is split or
//   merged, so allocate and free are O(1).
// - Fresh blocks are carved from a bump region that a MemorySource grows. When the source
//   hands over a span that does not follow the current one, the old region's tail is carved
//   into free blocks instead of being lost.
// - Over-aligned requests take a bigger block and put an ALIGNED tag in front of the aligned
//   payload that points back to the block's own header.
// - Requests above the source's huge threshold (if it has one) get a mapping of their own,
//   tagged HUGE with its length, unmapped when freed and resized by remapping.
// - Several heaps may share one source (one heap per thread): a block may be freed into any
//   of them, and chains of free blocks move between them (take_free_blocks /
//   give_free_blocks), because tags are measured from the source's base.
//
// One heap is single-threaded; the layers above add locking or per-thread heaps. The core
// knows nothing of symbols, errno or the OS: failures come back as HeapError values that
// those layers turn into NULL + errno or a diagnostic and abort.
#ifndef FREEBUMP_LIB_HEAP_H_
#define FREEBUMP_LIB_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include "lib/flavour.h"
#include "lib/header_tag.h"
#include "lib/memory_source.h"
#include "lib/size_classes.h"

// The core's optional parts, each 1 or 0 as lib/footprint.bzl sets them for each build (every
// one 1 but in the freestanding wasm32 module):
// Statistics (HeapStats below) cost code and four per-order arrays (4 KiB a heap with four
// classes per doubling). Without them (FREEBUMP_HEAP_STATS=0) stats() does not exist, and
// neither do free_count() and list limits, which they keep: a heap that shares blocks with
// others (the preload library's) needs them. Nothing else changes.
#ifndef FREEBUMP_HEAP_STATS
#error "FREEBUMP_HEAP_STATS comes from //lib:core (lib/footprint.bzl)"
#endif
// Merging free blocks when memory runs out (coalesce_free_blocks) costs code; without it
// (FREEBUMP_COALESCING=0) the heap keeps freeing-bump's classic behaviour.
#ifndef FREEBUMP_COALESCING
#error "FREEBUMP_COALESCING comes from //lib:core (lib/footprint.bzl)"
#endif
// Huge blocks (mappings of their own) exist only where the memory source can map them. A
// build whose source never does (the freestanding wasm32 module) compiles their code out
// (FREEBUMP_HUGE_BLOCKS=0); a HUGE tag then reads as an invalid pointer.
#ifndef FREEBUMP_HUGE_BLOCKS
#error "FREEBUMP_HUGE_BLOCKS comes from //lib:core (lib/footprint.bzl)"
#endif

// Every update of the statistics goes through this, so FREEBUMP_HEAP_STATS=0 removes them all.
#if FREEBUMP_HEAP_STATS
#define FREEBUMP_COUNT(statement) statement
#else
#define FREEBUMP_COUNT(statement) static_cast<void>(0)
#endif

// Inline fast paths (try_pop, try_free, forced inline into their callers) in front of the
// checking paths: on for speed, off where code size comes first (the freestanding wasm32
// module keeps only the checking paths).
// The failure paths stay out of line where the fast paths are inline (the callers then need
// no stack frame).
#ifndef FREEBUMP_INLINE_FAST_PATHS
#error "FREEBUMP_INLINE_FAST_PATHS comes from //lib:core (lib/footprint.bzl)"
#endif
#if FREEBUMP_INLINE_FAST_PATHS
#define FREEBUMP_FAST_PATH __attribute__((always_inline)) inline
#define FREEBUMP_COLD __attribute__((noinline, cold))
#define FREEBUMP_SLOW_PATH __attribute__((noinline))
#else
#define FREEBUMP_FAST_PATH inline
#define FREEBUMP_COLD
#define FREEBUMP_SLOW_PATH
#endif

namespace freebump {

// The largest request any heap accepts, checked before any header or rounding arithmetic
// (glibc bug 22375: adding the header to a size near SIZE_MAX wrapped to a small block).
// With huge blocks, what the orders do not hold is a huge block, and only PTRDIFF_MAX caps
// it; without, the orders' last is the limit.
inline constexpr uint64_t kMaxRequest =
    FREEBUMP_HUGE_BLOCKS ? static_cast<uint64_t>(PTRDIFF_MAX) : kMaxBlockRequest;

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
  // Found by the checked flavour only (lib/flavour.h): a freed block's poison written over,
  // and a block freed by a function that does not match its origin (one error per origin,
  // in Origin's order, so that the report can name it).
  kWriteAfterFree,
  kMismatchFromMalloc,
  kMismatchFromNew,
  kMismatchFromNewArray,
  kMismatchFromAlignedNew,
  kMismatchFromAlignedNewArray,
};

constexpr bool is_heap_corruption(HeapError error) { return error >= HeapError::kDoubleFree; }
// A short lower-case phrase naming the problem, e.g. "double free".
const char* describe(HeapError error);
// The error of freeing a block of `origin` with a function meant for another origin.
constexpr HeapError mismatch_from(Origin origin) {
  return static_cast<HeapError>(static_cast<unsigned>(HeapError::kMismatchFromMalloc) + static_cast<unsigned>(origin));
}

// What an allocating call returns: a payload, or nullptr and why (the heap unchanged). A
// caller that wants only the block may use it as the pointer. One word, as payloads are
// 16-byte aligned: a failure is the error's number alone, below 16. So the result travels in
// one register on every target (wasm32's C ABI returns a struct of two fields through the
// stack, which costs code at every call in the freestanding module).
class Allocated {
 public:
  constexpr Allocated() = default;
  explicit Allocated(void* payload) : word_(reinterpret_cast<uintptr_t>(payload)) {}
  static constexpr Allocated failure(HeapError error) { return Allocated(static_cast<uintptr_t>(error)); }

  void* payload() const { return word_ < kPayloadAlignment ? nullptr : reinterpret_cast<void*>(word_); }
  HeapError error() const { return word_ < kPayloadAlignment ? static_cast<HeapError>(word_) : HeapError::kNone; }
  operator void*() const { return payload(); }

 private:
  constexpr explicit Allocated(uintptr_t word) : word_(word) {}
  uintptr_t word_ = 0;
};
static_assert(static_cast<unsigned>(HeapError::kMismatchFromAlignedNewArray) < kPayloadAlignment,
              "every error fits below the payload alignment");

// The checked flavour's poison and quarantine (lib/flavour.h). The first kPoisonedBytes of a
// freed payload (all of a smaller one) are set to kPoisonByte and must still hold it when the
// block is handed out again; whoever gives a free block's pages back keeps those bytes (0 in
// the default flavour, which poisons nothing). The byte makes every word of poison a
// non-canonical address on x86-64, so a stale pointer read from a freed block faults. A heap's
// quarantine holds its last kQuarantineBlocks freed blocks, at most kQuarantineBytes of them;
// blocks above kQuarantinedBlockBytes skip it (poisoned all the same): one of them would hold
// the quarantine's whole budget, and memory of that size is what a program runs short of.
inline constexpr uint64_t kPoisonedBytes = kChecked ? 1024 : 0;
inline constexpr uint8_t kPoisonByte = 0xFB;
inline constexpr uint64_t kPoisonWord = 0x0101010101010101ull * kPoisonByte;
inline constexpr unsigned kQuarantineBlocks = 256;
inline constexpr uint64_t kQuarantineBytes = uint64_t{1} << 20;
inline constexpr uint64_t kQuarantinedBlockBytes = kQuarantineBytes / 4;
// Where the pages of a free block with this header may be given back from: past its tag and
// its poison.
constexpr uintptr_t discardable_from(uintptr_t header) {
  return header + kHeaderBytes + static_cast<uintptr_t>(kPoisonedBytes);
}

struct OrderStats {
  uint64_t live = 0;         // blocks in use now
  uint64_t free = 0;         // blocks on the free list now
  uint64_t allocations = 0;  // blocks handed out so far (from the list or the bump region)
};

// Substrate's figures (bytes counted as whole blocks: header and rounding included) plus
// per-order counts (HeapStats). A heap keeps these totals as they are and its per-order
// counts in arrays of its own, from which stats() assembles a snapshot.
struct HeapTotals {
  uint64_t bytes_in_use = 0;
  // The highest bytes_in_use reached, raised by every allocation but the fast pops of a
  // front end that counts its peak elsewhere (try_pop<false>: the preload library's thread
  // heaps, whose process-wide peak is counted where they publish their use).
  uint64_t peak_bytes_in_use = 0;
  uint64_t address_space = 0;  // bytes the memory source handed over
  uint64_t huge_live = 0;      // huge blocks mapped now
  uint64_t huge_bytes = 0;     // bytes of those mappings
};
struct HeapStats : HeapTotals {
  OrderStats orders[kNumOrders] = {};

  // Bytes of all the blocks ever handed out (derived, so the fast path need not count it).
  uint64_t cumulative_bytes() const {
    uint64_t bytes = 0;
    for (unsigned order = 0; order < kNumOrders; ++order) {
      bytes += orders[order].allocations * block_bytes(order);
    }
    return bytes;
  }
};
// With several heaps on one source, a block allocated by one heap may be freed into
// another: one heap's live and bytes_in_use counts may then wrap below zero, but their sums
// over the heaps are exact (unsigned arithmetic is modular).

// Room for sorting when free blocks are merged: a bitmap with one bit per 16 bytes of the
// heap, counted from its tag base (bit i stands for the header at base + 16 i + 8), all
// zero, and left all zero again. Merging marks each free block's bit and reads the blocks
// back in address order by scanning the words. Blocks beyond its reach (all of them, without
// one) are sorted as a list through their payloads instead.
struct MergeScratch {
  uint64_t* bits = nullptr;
  size_t words = 0;
};
// Words of a bitmap that covers `heap_bytes` from the tag base.
constexpr size_t merge_bitmap_words(uint64_t heap_bytes) {
  return static_cast<size_t>(heap_bytes / (kPayloadAlignment * 64) + 1);
}

// A run of free blocks of one order, linked through their FREE tags from head to tail
// (whose link is 0), detached from a heap's free list.
struct FreeChain {
  uintptr_t head = 0;
  uintptr_t tail = 0;
  uint64_t count = 0;
};

class FreeingBumpHeap {
 public:
  // Constant-initialisable, so a heap can be a global that is ready before any constructor
  // runs. Its tags' check is keyed only in the checked flavour, by its source's tag_key();
  // the default flavour's tags are the same bytes on every target and in every run.
  // `list_limits` (with statistics only; nullptr: none), a table that outlives the heap,
  // bounds each order's free list for the fast free: a free that would put more blocks on
  // it declines (try_free), so that the owner's slow path frees the block and trims the list.
  constexpr explicit FreeingBumpHeap(MemorySource* source, const uint64_t* list_limits = nullptr)
      : source_(source), list_limits_(list_limits) {}
  // A heap whose source is bound on first use: all its bytes start as zero, so a global one
  // costs no space in a wasm module's data segment.
  constexpr FreeingBumpHeap() : source_(nullptr), list_limits_(nullptr) {}
  bool bound() const { return source_ != nullptr; }
  void bind(MemorySource* source) { source_ = source; }

  FreeingBumpHeap(const FreeingBumpHeap&) = delete;
  FreeingBumpHeap& operator=(const FreeingBumpHeap&) = delete;

  // The slow paths: each is the whole operation, one entry that does not run the fast paths
  // (try_pop, try_free) again, and returns its error with its result.
  // A 16-byte-aligned block of at least `size` bytes, or nullptr and the error.
  Allocated allocate(size_t size);
  // As allocate, with the first `size` bytes zeroed (skipping memory known to be fresh).
  Allocated allocate_zeroed(size_t size);
  // As allocate, aligned to `alignment` (a power of two).
  Allocated allocate_aligned(size_t alignment, size_t size);
  // Frees a block from allocate*, reallocate or nullptr (a no-op). On an error the heap is
  // unchanged. The checked flavour requires the block's origin to be `origin` (set_origin).
  HeapError free(void* payload, Origin origin = Origin::kMalloc);
  // As free, and says which order's free list grew (kNumOrders for none: a huge block, or in
  // the checked flavour a block that joined the quarantine and pushed none out), so that a
  // caller can keep its lists bounded.
  HeapError free(void* payload, unsigned* freed_order, Origin origin = Origin::kMalloc);
  // Resizes in place when the block still fits (or sits at the top of the bump region);
  // otherwise moves it. nullptr and the error on failure, the old block intact.
  Allocated reallocate(void* payload, size_t size);
  // As reallocate, and says which order's free list the old block joined if it moved
  // (kNumOrders if none did).
  Allocated reallocate(void* payload, size_t size, unsigned* freed_order);
  // The usable size behind a live pointer.
  HeapError usable_size(const void* payload, size_t* size) const;
#if FREEBUMP_CHECKED
  // Records a live block's origin in its tag (operator new and friends call it after
  // allocating), so that free() of it must name the same origin.
  HeapError set_origin(void* payload, Origin origin);
  // Puts every block of the quarantine onto its free list (a heap that runs out of memory, or
  // gives everything it holds away); kCorruptFreeList if a waiting block's tag was damaged.
  HeapError release_quarantine();
  // For heap checkers: calls visit(header) for each block in the quarantine, oldest first.
  template <class Visitor>
  void for_each_quarantined(Visitor visit) const {
    for (unsigned i = 0; i < quarantine_.count; ++i) visit(quarantine_.headers[(quarantine_.oldest + i) % kQuarantineBlocks]);
  }
#endif

  // ---- Fast paths, inline so that a front end (one heap per thread) runs them without a
  // call. A freed block's USED tag is checked by encoding the tag it must be and comparing
  // all 64 bits; a popped FREE tag by the xor of its 16-bit lanes against where and one
  // comparison of its kind, order and link (the same test as re-encoding it).
  // They repeat pop_free and release on purpose: here the address part of the check
  // (codec_.where) is computed once for the tag read and the tag written, while the
  // out-of-line versions stay compact for size-optimised builds (sharing the code cost the
  // wasm module 160 bytes).

  // The head of an order's free list, or nullptr when the list is empty or its head does
  // not check out (allocate() then bumps, or reports the damage).
  // kCountPeak false leaves stats().peak_bytes_in_use alone (three instructions: a front
  // end that counts its peak elsewhere).
  template <bool kCountPeak = true>
  FREEBUMP_FAST_PATH void* try_pop(unsigned order) {
    // Callers pass orders from a table or order_for_size; saying so spares the masks that
    // keep an order inside its tag field.
    if (order >= kNumOrders) __builtin_unreachable();
    const uint64_t link = free_links_[order];
    if (link == 0) return nullptr;
    const uintptr_t header = codec_.base() + static_cast<uintptr_t>(link * kLinkUnitBytes);
    const uint64_t tag = load_tag(header);
    const uint64_t where = codec_.where_of_slot<kChecked>(link >> 1);
    if (__builtin_expect(!TagCodec::check_holds(tag, where), 0)) return nullptr;
    // The kind and order fields, and the next link, which need only lie below the known heap
    // for its tag to be readable (its alignment is the check's business: a misaligned link
    // never decodes), in one comparison. Read after the check, so that it needs no register
    // during it (one callee-saved push fewer).
    const uint64_t next = TagCodec::free_link(tag, order);
    if (__builtin_expect(next >= known_links_, 0)) return nullptr;
    if constexpr (kChecked) {
      if (!poison_intact(header, order)) return nullptr;
    }
    free_links_[order] = next;
    FREEBUMP_COUNT(free_room_[order]++);
    store_tag(header, TagCodec::used_at(where, order));
    note_allocated(order, kCountPeak);
    // Heap headers lie far below the top of the address space: the payload is never null,
    // which spares the caller's null check.
    if (header + kHeaderBytes == 0) __builtin_unreachable();
    return reinterpret_cast<void*>(header + kHeaderBytes);
  }

  // Frees a plain heap block whose USED tag is intact and says which order's list it
  // joined; false (nothing done) for everything else, which free() handles, and when the
  // order's list already holds as many blocks as the heap's list limits allow (the owner's
  // slow path then frees and trims the list). The checked flavour frees every block there
  // (the poison and the quarantine).
  FREEBUMP_FAST_PATH bool try_free(void* payload, unsigned* freed_order) {
    if constexpr (kChecked) return false;
    const uintptr_t header = reinterpret_cast<uintptr_t>(payload) - kHeaderBytes;
    uint64_t slot;
    if (!in_known_heap(reinterpret_cast<uintptr_t>(payload), &slot)) return false;
    const uint64_t tag = load_tag(header);
    const uint64_t where = codec_.where_of_slot<kChecked>(slot);
    // The USED tag the block must have, built from the tag's order field in place: shifting
    // the order out and back in costs three instructions more.
    const uint64_t order_field = TagCodec::order_field_of(tag);
    if (tag != TagCodec::used_with_order_field(where, order_field)) return false;
    const size_t order = static_cast<size_t>(order_field >> kTagOrderShift);
#if FREEBUMP_HEAP_STATS
    // The list's room goes below zero when it was full: one subtraction in memory and a
    // branch on its sign, where comparing the count with a limit and counting took four
    // instructions. The room is given back on the way out, through a volatile access so that
    // the compiler keeps no copy of the old room for it on the common path.
    if (__builtin_expect(--free_room_[order] < 0, 0)) {
      *const_cast<volatile int64_t*>(&free_room_[order]) += 1;
      return false;
    }
#endif
    *freed_order = order;
    FREEBUMP_COUNT(stats_.bytes_in_use -= block_bytes_[order]);
    // Into an empty list the FREE tag links to nothing, and its fold is its kind and order
    // alone: nine instructions fewer where a class has one block in circulation (each free
    // finds its list empty), two more (the test) where the list is not empty.
    const uint64_t link = free_links_[order];
    store_tag(header, link == 0 ? TagCodec::free_at_link(where, order, 0) : TagCodec::free_at_link(where, order, link));
    free_links_[order] = TagCodec::link_of_slot(slot);
    return true;
  }

  // The fast paths as the C layer (c_api.h) calls them: nullptr or false when the request
  // needs allocate() or free().
  FREEBUMP_FAST_PATH void* try_allocate(size_t size) {
    return size <= kMaxBlockRequest ? try_pop(fast_order_for_size(size)) : nullptr;
  }
  FREEBUMP_FAST_PATH bool try_free(void* payload) {
    unsigned order;
    return try_free(payload, &order);
  }

  // Detaches up to `max_count` blocks from the front of an order's free list, checking each
  // tag; kCorruptFreeList (and the list dropped) if one is damaged.
  HeapError take_free_blocks(unsigned order, uint64_t max_count, FreeChain* chain);
  // Puts a chain (from any heap on the same source) in front of an order's free list.
  void give_free_blocks(unsigned order, const FreeChain& chain);
  // Puts up to `max_count` blocks from the front of a chain in front of an order's free list,
  // checking the tags it walks past; the rest stays in `chain`. kCorruptFreeList (nothing
  // moved, the chain dropped) if one is damaged.
  HeapError give_free_blocks(unsigned order, FreeChain* chain, uint64_t max_count);
#if FREEBUMP_HEAP_STATS
  // Blocks on an order's free list (kept by the statistics; heaps that exchange chains with
  // others need them).
  // Derived from the list's room, which is set with the codec: before that no list holds a
  // block.
  uint64_t free_count(unsigned order) const {
    return codec_.base() == 0 ? 0 : list_limit(order) - static_cast<uint64_t>(free_room_[order]);
  }
#endif
  // Calls visit(header) for each block on an order's free list, most recently freed first.
  template <class Visitor>
  void for_each_free_block(unsigned order, Visitor visit) const {
    for (uintptr_t header = head(order); header != 0;) {
      const DecodedTag tag = codec_.decode(header, load_tag(header));
      if (!tag.check_ok || tag.kind != TagKind::kFree) return;
      visit(header);
      header = codec_.link_target(tag.value);
    }
  }
  // Bytes left in the bump region: a request whose list is empty and whose block is bigger
  // than this asks the source to grow.
  uint64_t bump_room() const { return bump_end_ > bump_ ? bump_end_ - bump_ : 0; }
  // For heap checkers and dumps (tests/fuzz/heap_checker.h): the header at the front of an
  // order's free list (0: empty), and the bump region, from the header of the next block it
  // cuts (0: none yet) to the end of its span.
  uintptr_t free_list_head(unsigned order) const { return head(order); }
  uintptr_t bump_pointer() const { return bump_; }
  uintptr_t bump_end() const { return bump_end_; }
  // Carves what is left of the bump region into free blocks (a heap about to be abandoned).
  void retire_bump_region() { retire_bump_tail(); }
  // Detaches what is left of the bump region, whole, as a recycled span that another heap on
  // the same source can bump through (adopt it from its source's grow()); empty if nothing
  // is left. The heap asks its source again at its next bump.
  Span release_bump_region();
  // Carves a span of this source's memory (a region another heap gave up) into free blocks
  // on this heap's lists, largest first; less than the smallest block may be left over.
  void add_free_region(Span span);

  // Cuts a free block of `from_order` (taken off a list of any heap on this source) into
  // `count` blocks of the smaller `order` at its start, put on this heap's list, and returns
  // the rest as a span (empty if none) for add_free_region.
  Span split_free_block(uintptr_t header, unsigned from_order, unsigned order, uint64_t count);

  // Merges address-adjacent blocks on the free lists into the largest blocks they form
  // (heap_merge.cc explains how). The heap runs it itself when its source is out of memory.
  // With a scratch bitmap the blocks are put in address order in linear time, without the
  // list sort's scattered reads and writes through the blocks.
  void coalesce_free_blocks(MergeScratch scratch = MergeScratch{});
  // Takes the smallest free block of at least `preferred_bytes` (else of at least
  // `min_bytes`) off the lists, merging first if asked, as a recycled span that another
  // heap on the same source can bump through; empty if there is none.
  Span take_free_region(uint64_t min_bytes, uint64_t preferred_bytes, bool coalesce_first,
                        MergeScratch scratch = MergeScratch{});

#if FREEBUMP_HEAP_STATS
  // A snapshot: the totals and each order's counts as they are now.
  HeapStats stats() const;
  // The totals alone, without assembling the per-order counts (slow paths that publish
  // the bytes in use read them at every call).
  const HeapTotals& totals() const { return stats_; }
#endif
  const TagCodec& codec() const {
    init_codec();
    return codec_;
  }

 private:
  // A live block found behind a payload pointer.
  struct LiveBlock {
    uintptr_t header;       // the real block's header (not the ALIGNED tag's)
    unsigned order;         // heap blocks only
    uintptr_t payload_end;  // one past the block's last usable byte
    bool huge;              // a mapping of its own: [header - 8, payload_end)
    Origin origin;          // always kMalloc in the default flavour
    uintptr_t inner;        // an over-aligned payload inside the block, else 0
  };

  static Allocated fail(HeapError error) { return Allocated::failure(error); }
  HeapError find_live_block(uintptr_t payload, LiveBlock* block) const;
  HeapError classify_bad_tag(uintptr_t header, uint64_t tag) const;
  bool in_heap(uintptr_t header) const {
    return (header & (kPayloadAlignment - 1)) == kHeaderBytes &&
           header >= codec_.base() + kHeaderBytes &&
           (header < source_->high_water() || in_other_range(header, kHeaderBytes));
  }
  // Whether the `bytes` at `address` (at or above the high water) lie in one of the source's
  // other heap ranges. Only sources that map memory of their own have those, and builds
  // without huge blocks have no such source.
  bool in_other_range(uintptr_t address, uint64_t bytes) const {
#if FREEBUMP_HUGE_BLOCKS
    return source_->owner_of(address, bytes) == Ownership::kHeap;
#else
    static_cast<void>(address);
    static_cast<void>(bytes);
    return false;
#endif
  }
  // As in_heap for the block of a payload, against this heap's snapshot of the high water
  // (no reach through source_); a block above the snapshot takes the slow path, which
  // refreshes it. Also gives the block's slot (header = base + 16 slot + 8). One comparison
  // covers both ends and the alignment: the offset from the first payload, rotated right by
  // 4, is the slot when the payload is aligned and has its low bits on top (far beyond any
  // extent) when it is not.
  bool in_known_heap(uintptr_t payload, uint64_t* slot) const {
    const uint64_t offset = payload + known_first_payload_negated_;
    *slot = (offset >> kSlotShift) | (offset << (64 - kSlotShift));
    return *slot < known_slots_;
  }
  void refresh_known_high_water() {
#if FREEBUMP_INLINE_FAST_PATHS  // only the fast paths read it
    const uintptr_t high_water = source_->high_water();
    const bool known = codec_.base() != 0 && high_water > codec_.base();
    known_first_payload_negated_ = 0 - (codec_.base() + kHeaderBytes + kHeaderBytes);
    known_slots_ = known ? (high_water - codec_.base()) >> kSlotShift : 0;
    known_links_ = known ? (high_water - codec_.base()) / kLinkUnitBytes : 0;
#endif
  }
  Ownership locate(uintptr_t header) const;
  void init_codec() const;
  // allocate(), saying whether a huge block is known to read as zero.
  Allocated allocate(size_t size, bool* zeroed);
  Allocated allocate_huge(uint64_t size, bool* zeroed);
  Allocated reallocate_huge(const LiveBlock& block, size_t size);
  HeapError release_block(const LiveBlock& block, unsigned* listed_order);
  Allocated allocate_order(unsigned order);
  Allocated pop_free(unsigned order);
  void push_free(uintptr_t header, unsigned order) {
    store_tag(header, codec_.free(header, order, head(order)));
    set_head(order, header);
    FREEBUMP_COUNT(free_room_[order]--);
  }
  // Counts `count` blocks of an order as joining (positive) or leaving (negative, modular)
  // the blocks this heap accounts for, live or on its list.
  void count_held(unsigned order, uint64_t count) {
#if FREEBUMP_HEAP_STATS
    held_[order] += count;
#else
    static_cast<void>(order);
    static_cast<void>(count);
#endif
  }
#if FREEBUMP_HEAP_STATS
  static constexpr uint64_t kNoListLimit = uint64_t{1} << 62;
  uint64_t list_limit(unsigned order) const { return list_limits_ != nullptr ? list_limits_[order] : kNoListLimit; }
#endif
  // An order's whole list leaves the counts: dropped as damaged (its blocks are lost), or
  // gathered for merging (they come back as carved blocks).
  void uncount_list(unsigned order) {
#if FREEBUMP_HEAP_STATS
    held_[order] -= free_count(order);
    free_room_[order] = static_cast<int64_t>(list_limit(order));
#else
    static_cast<void>(order);
#endif
  }
  // A block no longer in use: onto its free list, or in the checked flavour into the
  // quarantine, poisoned, pushing the oldest waiting block onto its list. Says which order's
  // list grew (kNumOrders: none).
  HeapError release(uintptr_t header, unsigned order, unsigned* listed_order) {
    FREEBUMP_COUNT(stats_.bytes_in_use -= block_bytes(order));
#if FREEBUMP_CHECKED
    // In the quarantine the block is neither live nor listed; it joins the counts again
    // when it goes onto its list.
    count_held(order, ~uint64_t{0});
    return quarantine(header, order, listed_order);
#else
    push_free(header, order);
    *listed_order = order;
    return HeapError::kNone;
#endif
  }
#if FREEBUMP_CHECKED
  HeapError quarantine(uintptr_t header, unsigned order, unsigned* listed_order);
  HeapError list_oldest_quarantined(unsigned* listed_order);
  // The poisoned bytes of a free block of `order`.
  static constexpr uint64_t poisoned_bytes(unsigned order) {
    return usable_bytes(order) < kPoisonedBytes ? usable_bytes(order) : kPoisonedBytes;
  }
  static void poison(uintptr_t header, unsigned order) {
    __builtin_memset(reinterpret_cast<void*>(header + kHeaderBytes), kPoisonByte,
                     static_cast<size_t>(poisoned_bytes(order)));
  }
#endif
  // Defined in the checked flavour only, where it is called (heap_checked.cc).
  bool poison_intact(uintptr_t header, unsigned order) const;
  void note_allocated(unsigned order, bool count_peak = true) {
#if FREEBUMP_HEAP_STATS
    allocations_[order]++;
    stats_.bytes_in_use += block_bytes_[order];
    if (count_peak && stats_.bytes_in_use > stats_.peak_bytes_in_use) {
      stats_.peak_bytes_in_use = stats_.bytes_in_use;
    }
#else
    static_cast<void>(order);
    static_cast<void>(count_peak);
#endif
  }
  bool refill(uint64_t bytes);
  bool adopt_span(Span span);
  void retire_bump_tail();
  uintptr_t carve_free_region(uintptr_t begin, uintptr_t end);
  // A free block cut from memory that was not a freed block (the checked flavour poisons it,
  // as if freed).
  void push_carved(uintptr_t header, unsigned order) {
#if FREEBUMP_CHECKED
    poison(header, order);
#endif
    push_free(header, order);
    count_held(order, 1);
  }
  bool extend_at_top(const LiveBlock& block, unsigned new_order);
  void cut_at_top(const LiveBlock& block, unsigned new_order);

  // Each order's free list as its first block's link, (header - base) / 8: the form a FREE
  // tag's value holds (0: empty). The fast paths move links between the lists and the tags
  // without converting them to addresses and back. First in the heap, so that an order
  // indexes the array without an offset (one instruction a path).
  uint64_t free_links_[kNumOrders] = {};
  MemorySource* source_;
  const uint64_t* list_limits_;
  // Filled in on first use: a source may learn its base only at run time (Linux reserves
  // its address space lazily), and the constructor must stay constexpr.
  mutable TagCodec codec_{};
  uintptr_t bump_ = 0;      // next block's header (≡ 8 mod 16)
  uintptr_t bump_end_ = 0;  // end of the current span
  uintptr_t head(unsigned order) const { return codec_.link_target(free_links_[order]); }
  void set_head(unsigned order, uintptr_t header) { free_links_[order] = codec_.link_of(header); }
  // source_->high_water() as last seen, in slots from the first header (whose tags lie
  // wholly below it) and in links below it (0 before the codec knows the base), and the
  // first payload. It only
  // rises, so everything below this snapshot is readable heap memory; the fast paths check
  // against it.
  // -(base + 16), a copy so that free adds once; negated so that no word of the heap points at
  // its first block (memcheck would count that block, leaked, as still reachable).
  uintptr_t known_first_payload_negated_ = 0;
  uint64_t known_slots_ = 0;
  uint64_t known_links_ = 0;
  bool last_was_fresh_ = false;  // the last block came from never-written bump memory
  bool bump_recycled_ = false;   // the bump region is recycled memory (not zero)
#if FREEBUMP_HEAP_STATS
  HeapTotals stats_{};
  // The per-order counts the fast paths keep, in arrays of their own (an order indexes them
  // as it indexes free_links_, without the multiply by three a row of OrderStats needs).
  // Each list's room: its limit (kNoListLimit without one) less the blocks on it, below zero
  // when a slow path has put more there (it trims the list at once). Set with the codec, before
  // any block is listed, so that an unbound heap's bytes stay zero; free_count() derives the
  // count.
  mutable int64_t free_room_[kNumOrders] = {};
  uint64_t allocations_[kNumOrders] = {};  // blocks handed out so far
  // Blocks of each order this heap accounts for, live or on its list. A pop or a free moves
  // a block from one to the other and leaves this alone: live = held - free, so no fast path
  // counts live blocks. It changes where blocks come from elsewhere (the bump region,
  // carving, other heaps' chains, a resize in place) or leave (chains, dropped lists).
  uint64_t held_[kNumOrders] = {};
  // kBlockBytes, copied in with the codec (so an unbound heap's bytes stay zero): beside the
  // other arrays an order indexes it from the same register as them, where the global
  // table costs each fast path an address computation and, in malloc, the register that
  // pushed a callee-saved one (four instructions a pair). Only the fast paths and
  // note_allocated read it, after the codec is known.
  mutable uint64_t block_bytes_[kNumOrders] = {};
#endif
#if FREEBUMP_CHECKED
  // A ring of the blocks waiting to be reused (header and order), oldest first.
  struct Quarantine {
    uintptr_t headers[kQuarantineBlocks] = {};
    uint8_t orders[kQuarantineBlocks] = {};
    unsigned oldest = 0;
    unsigned count = 0;
    uint64_t bytes = 0;
  };
  Quarantine quarantine_{};
#endif
};

}  // namespace freebump

#endif  // FREEBUMP_LIB_HEAP_H_
