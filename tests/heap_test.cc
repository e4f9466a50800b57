// The freeing-bump core on fixed buffers: exact addresses, reuse, growth, alignment,
// failures and statistics. Shared between targets: no exceptions, no threads.
#include "lib/heap.h"

#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_heap.h"

namespace freebump {
namespace {

using testing::BufferHeap;
using testing::GappySource;
using testing::fill_pattern;
using testing::pattern_intact;
using testing::refusal;

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// A result is a payload or an error, never both, and each error comes back as itself.
TEST(Heap, ResultsCarryTheirPayloadOrTheirError) {
  alignas(16) static uint8_t block[32];
  const Allocated served(block);
  EXPECT_EQ(served.payload(), block);
  EXPECT_EQ(served.error(), HeapError::kNone);
  for (unsigned e = 1; e <= static_cast<unsigned>(HeapError::kMismatchFromAlignedNewArray); ++e) {
    const Allocated failed = Allocated::failure(static_cast<HeapError>(e));
    EXPECT_EQ(failed.payload(), nullptr) << e;
    EXPECT_EQ(failed.error(), static_cast<HeapError>(e)) << e;
  }
  EXPECT_EQ(Allocated().payload(), nullptr);
}

// The slow paths are whole operations: free() frees a plain block that the fast path would
// take, and allocate() pops a listed block, each without the fast path having run.
TEST(Heap, SlowPathsServeWhatTheFastPathsServe) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(4096);
  void* p = h.heap().allocate(40);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(h.heap().free(p), HeapError::kNone);
  EXPECT_EQ(h.heap().allocate(40), p);
  EXPECT_EQ(h.heap().free(p), HeapError::kNone);
  EXPECT_EQ(h.heap().free(p), HeapError::kDoubleFree);
}

// Substrate's tests pin exact addresses; ours do too, relative to the buffer. The first
// header sits 8 bytes in, so every payload is 16-byte aligned.
TEST(Heap, FirstAllocationsLandAtExactOffsets) {
  BufferHeap h(4096);
  EXPECT_EQ(h.heap().allocate(1), h.at(16));    // order 0: block 16, header at +8
  EXPECT_EQ(h.heap().allocate(9), h.at(32));    // order 1: block 32, header at +24
  EXPECT_EQ(h.heap().allocate(1), h.at(64));    // order 0: header at +56
  EXPECT_EQ(h.heap().allocate(25), h.at(80));   // order 2: block 48, header at +72
  EXPECT_EQ(h.heap().allocate(0), h.at(128));   // malloc(0) is a real, unique block
}

TEST(Heap, FreedBlocksAreReusedLastInFirstOut) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(4096);
  void* a = h.heap().allocate(8);
  void* b = h.heap().allocate(8);
  void* c = h.heap().allocate(8);
  ASSERT_EQ(h.heap().free(a), HeapError::kNone);
  ASSERT_EQ(h.heap().free(c), HeapError::kNone);
  EXPECT_EQ(h.heap().allocate(3), c);
  EXPECT_EQ(h.heap().allocate(8), a);
  EXPECT_EQ(h.heap().allocate(8), h.at(64));  // the list is empty again: bump
  EXPECT_EQ(h.heap().free(b), HeapError::kNone);
}

// A request whose list is empty takes a free block of up to a quarter of a doubling larger
// (the next order with four classes per doubling, none with fewer), which keeps its order and
// usable size; while the bump region can serve the request, no larger block.
TEST(Heap, AnEmptyListTakesAFreeBlockOfUpToAQuarterOfADoublingLarger) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(1 << 20);
  const unsigned order = order_for_size(100);
  const bool next_in_reach = kClassesPerDoubling / 4 >= 1;
  void* next = h.heap().allocate(static_cast<size_t>(usable_bytes(order + 1)));
  void* further = h.heap().allocate(static_cast<size_t>(usable_bytes(order + 2)));
  ASSERT_EQ(h.heap().free(further), HeapError::kNone);
  ASSERT_EQ(h.heap().free(next), HeapError::kNone);
  void* first = h.heap().allocate(100);
  if (next_in_reach) {
    EXPECT_EQ(first, next);
    size_t usable = 0;
    ASSERT_EQ(h.heap().usable_size(first, &usable), HeapError::kNone);
    EXPECT_EQ(usable, static_cast<size_t>(usable_bytes(order + 1)));
  } else {
    EXPECT_GT(addr(first), addr(further));  // cut from the bump region
  }
  EXPECT_GT(addr(h.heap().allocate(100).payload()), addr(further));
  const HeapStats stats = h.heap().stats();
  EXPECT_EQ(stats.orders[order].live, next_in_reach ? 1u : 2u);
  EXPECT_EQ(stats.orders[order + 1].live, next_in_reach ? 1u : 0u);
  EXPECT_EQ(stats.orders[order + 2].free, 1u);
}

// When the bump region cannot serve the block either, a free block of up to a doubling larger
// (the next kClassesPerDoubling orders) serves before memory grows, and nothing larger does.
TEST(Heap, BeforeMemoryGrowsAFreeBlockUpToADoublingLargerServes) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(1 << 20, 4096);  // spans of 4 KiB
  const unsigned order = order_for_size(100);
  const unsigned within = order + kClassesPerDoubling;
  ASSERT_LE(block_bytes(within), 2 * block_bytes(order));
  void* near = h.heap().allocate(static_cast<size_t>(usable_bytes(within)));
  void* far = h.heap().allocate(static_cast<size_t>(usable_bytes(within + 1)));
  while (h.heap().bump_room() >= block_bytes(order)) ASSERT_NE(h.heap().allocate(8), nullptr);
  ASSERT_EQ(h.heap().free(far), HeapError::kNone);
  ASSERT_EQ(h.heap().free(near), HeapError::kNone);
  const uint64_t address_space = h.heap().stats().address_space;
  EXPECT_EQ(h.heap().allocate(100), near);
  EXPECT_EQ(h.heap().stats().address_space, address_space);  // memory did not grow
  void* grown = h.heap().allocate(100);
  EXPECT_GT(addr(grown), addr(far));
  EXPECT_GT(h.heap().stats().address_space, address_space);
  EXPECT_EQ(h.heap().stats().orders[within + 1].free, 1u);
}

TEST(Heap, EveryOrderIsAlignedAndFullyUsable) {
  // Orders up to 4 MiB: the sum of their blocks is 8 MiB with one class per doubling, 25 MiB
  // with four, 47 MiB with eight from 4 KiB ("4-8").
  BufferHeap h(64u << 20);
  const unsigned last = order_for_size(4u << 20);
  for (unsigned order = 0; order <= last; ++order) {
    const size_t usable = static_cast<size_t>(usable_bytes(order));
    void* p = h.heap().allocate(usable);
    ASSERT_NE(p, nullptr) << "order " << order;
    EXPECT_EQ(addr(p) % 16, 0u) << "order " << order;
    size_t reported = 0;
    ASSERT_EQ(h.heap().usable_size(p, &reported), HeapError::kNone);
    EXPECT_EQ(reported, usable);
    memset(p, 0xA5, usable);
    // One byte more moves to the next order.
    void* q = h.heap().allocate(usable + 1);
    if (q != nullptr) {
      ASSERT_EQ(h.heap().usable_size(q, &reported), HeapError::kNone);
      EXPECT_EQ(reported, static_cast<size_t>(usable_bytes(order + 1)));
      EXPECT_EQ(h.heap().free(q), HeapError::kNone);
    }
  }
  EXPECT_EQ(h.heap().stats().orders[last].live, 1u);
}

TEST(Heap, AbsurdSizesFailBeforeAnyArithmetic) {
  BufferHeap h(4096);
  const size_t absurd[] = {SIZE_MAX, SIZE_MAX - 7, SIZE_MAX - 15, SIZE_MAX / 2 + 1,
                           static_cast<size_t>(PTRDIFF_MAX) + 1};
  for (size_t size : absurd) {
    EXPECT_EQ(refusal(h.heap().allocate(size)), HeapError::kTooLarge) << size;
    EXPECT_EQ(refusal(h.heap().allocate_aligned(64, size)), HeapError::kTooLarge) << size;
  }
  // The largest size a block holds fails honestly on a small buffer; one byte more is too large
  // for a source without huge blocks (where the orders end below PTRDIFF_MAX: on wasm32,
  // PTRDIFF_MAX comes first and the absurd sizes above cover one byte more).
  EXPECT_EQ(refusal(h.heap().allocate(static_cast<size_t>(kMaxBlockRequest))), HeapError::kOutOfMemory);
  if (kMaxBlockRequest < static_cast<uint64_t>(PTRDIFF_MAX)) {
    EXPECT_EQ(refusal(h.heap().allocate(static_cast<size_t>(kMaxBlockRequest + 1))), HeapError::kTooLarge);
    EXPECT_EQ(refusal(h.heap().allocate_zeroed(static_cast<size_t>(kMaxBlockRequest + 1))), HeapError::kTooLarge);
  }
  EXPECT_EQ(h.heap().stats().bytes_in_use, 0u);
  EXPECT_NE(h.heap().allocate(100), nullptr);
}

TEST(Heap, AlignedRequestsAreAlignedAndFreeable) {
  BufferHeap h(8u << 20);
  const size_t sizes[] = {0, 1, 16, 17, 100, 4096, 5000};
  for (size_t alignment = 1; alignment <= (size_t{1} << 16); alignment <<= 1) {
    for (size_t size : sizes) {
      void* p = h.heap().allocate_aligned(alignment, size);
      ASSERT_NE(p, nullptr) << alignment << " " << size;
      EXPECT_EQ(addr(p) % alignment, 0u) << alignment << " " << size;
      EXPECT_EQ(addr(p) % 16, 0u);
      size_t usable = 0;
      ASSERT_EQ(h.heap().usable_size(p, &usable), HeapError::kNone);
      EXPECT_GE(usable, size);
      fill_pattern(p, usable, alignment + size);
      // A neighbour allocated now must not disturb the block.
      void* neighbour = h.heap().allocate(size);
      fill_pattern(neighbour, size, 7);
      EXPECT_EQ(pattern_intact(p, usable, alignment + size), usable);
      EXPECT_EQ(h.heap().free(p), HeapError::kNone) << alignment << " " << size;
      EXPECT_EQ(h.heap().free(neighbour), HeapError::kNone);
    }
  }
  EXPECT_EQ(h.heap().stats().bytes_in_use, 0u);
}

TEST(Heap, BadAlignmentsAreRejected) {
  BufferHeap h(4096);
  const size_t bad[] = {0, 3, 24, 48, 1000, SIZE_MAX};
  for (size_t alignment : bad) {
    EXPECT_EQ(refusal(h.heap().allocate_aligned(alignment, 8)), HeapError::kBadAlignment) << alignment;
  }
  const size_t too_big = size_t{1} << (sizeof(size_t) * 8 - 1);
  EXPECT_EQ(refusal(h.heap().allocate_aligned(too_big, 8)), HeapError::kTooLarge);
}

TEST(Heap, OutOfMemoryLeavesTheHeapUsable) {
  BufferHeap h(4096);
  EXPECT_EQ(refusal(h.heap().allocate(8192)), HeapError::kOutOfMemory);
  std::vector<void*> blocks;
  for (;;) {
    const Allocated p = h.heap().allocate(40);
    if (p.payload() == nullptr) {
      EXPECT_EQ(p.error(), HeapError::kOutOfMemory);
      break;
    }
    blocks.push_back(p);
  }
  EXPECT_EQ(blocks.size(), (4096u - 8) / 48);  // every block of 48 that fits
  EXPECT_EQ(h.heap().allocate(8), nullptr);    // 8 bytes are left: not even order 0 fits
  for (void* p : blocks) ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  for (size_t i = 0; i < blocks.size(); ++i) ASSERT_NE(h.heap().allocate(33), nullptr);
  EXPECT_EQ(h.heap().allocate(33), nullptr);
}

TEST(Heap, DoubleFreeIsDetected) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(4096);
  void* p = h.heap().allocate(24);
  void* q = h.heap().allocate(24);
  ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  EXPECT_EQ(h.heap().free(p), HeapError::kDoubleFree);
  // The free list survived the attempt.
  EXPECT_EQ(h.heap().allocate(24), p);
  EXPECT_EQ(h.heap().free(q), HeapError::kNone);
  void* aligned = h.heap().allocate_aligned(256, 10);
  ASSERT_NE(aligned, nullptr);
  ASSERT_EQ(h.heap().free(aligned), HeapError::kNone);
  EXPECT_EQ(h.heap().free(aligned), HeapError::kDoubleFree);
}

TEST(Heap, ForeignAndInteriorPointersAreRejected) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(4096);
  alignas(16) uint8_t on_stack[64] = {};
  void* p = h.heap().allocate(100);
  memset(p, 0, 100);
  EXPECT_EQ(h.heap().free(on_stack + 16), HeapError::kInvalidPointer);
  EXPECT_EQ(h.heap().free(static_cast<uint8_t*>(p) + 1), HeapError::kInvalidPointer);
  EXPECT_EQ(h.heap().free(static_cast<uint8_t*>(p) + 16), HeapError::kInvalidPointer);
  EXPECT_EQ(h.heap().free(h.at(2048)), HeapError::kInvalidPointer);  // never handed out
  size_t usable = 0;
  EXPECT_EQ(h.heap().usable_size(on_stack + 16, &usable), HeapError::kInvalidPointer);
  EXPECT_EQ(refusal(h.heap().reallocate(on_stack + 16, 10)), HeapError::kInvalidPointer);
  // An interior pointer whose preceding bytes hold garbage.
  memset(p, 0x5C, 100);
  const HeapError interior = h.heap().free(static_cast<uint8_t*>(p) + 32);
  EXPECT_TRUE(is_heap_corruption(interior)) << describe(interior);
  EXPECT_EQ(h.heap().free(p), HeapError::kNone);
}

// Eight equal bytes over the first block's header (an underflow, a memset from below): at
// the heap's first slot the check's address term is 0, so the check itself passes for any
// such pattern, and the tag decodes as USED with an origin no allocation writes.
TEST(Heap, EqualBytesOverTheFirstHeaderAreACorruptedHeader) {
  for (const uint8_t byte : {0x41, 0x09, 0xF9}) {
    BufferHeap h(4096);
    void* p = h.heap().allocate(64);
    ASSERT_EQ(addr(p) - 8, h.base() + 8);  // the first slot
    memset(reinterpret_cast<void*>(addr(p) - 8), byte, 8);
    EXPECT_EQ(h.heap().free(p), HeapError::kCorruptHeader) << "byte " << int{byte};
  }
}

TEST(Heap, EveryBitFlipInAUsedHeaderIsDetected) {
  BufferHeap h(4096);
  void* p = h.heap().allocate(50);
  const uintptr_t header = addr(p) - 8;
  const uint64_t good = load_tag(header);
  for (unsigned bit = 0; bit < 64; ++bit) {
    store_tag(header, good ^ (uint64_t{1} << bit));
    const HeapError error = h.heap().free(p);
    EXPECT_TRUE(is_heap_corruption(error)) << "bit " << bit << ": " << describe(error);
  }
  store_tag(header, good);
  EXPECT_EQ(h.heap().free(p), HeapError::kNone);
}

TEST(Heap, ACorruptedFreeListIsDetectedAndAbandoned) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(4096);
  void* a = h.heap().allocate(8);
  void* b = h.heap().allocate(8);
  ASSERT_EQ(h.heap().free(a), HeapError::kNone);
  ASSERT_EQ(h.heap().free(b), HeapError::kNone);
  // A heap overflow from the block before b rewrites b's free tag.
  store_tag(addr(b) - 8, load_tag(addr(b) - 8) ^ 0x100);
  EXPECT_EQ(refusal(h.heap().allocate(8)), HeapError::kCorruptFreeList);
  // The heap stays usable: the order bumps afresh, other orders are untouched.
  void* c = h.heap().allocate(8);
  EXPECT_NE(c, nullptr);
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_NE(h.heap().allocate(30), nullptr);
}

TEST(Heap, ReallocKeepsContentsInPlaceAndWhenMoving) {
  BufferHeap h(1u << 20);
  void* p = h.heap().allocate(20);
  fill_pattern(p, 20, 1);
  EXPECT_EQ(h.heap().reallocate(p, 24), p);  // still fits order 1
  EXPECT_EQ(pattern_intact(p, 20, 1), 20u);
  void* blocker = h.heap().allocate(8);      // p is no longer at the top
  void* moved = h.heap().reallocate(p, 100);
  ASSERT_NE(moved, nullptr);
  EXPECT_NE(moved, p);
  EXPECT_EQ(pattern_intact(moved, 20, 1), 20u);
  EXPECT_EQ(h.heap().free(p), HeapError::kDoubleFree);  // the old block was freed
  // At the top of the bump region the block grows where it is.
  fill_pattern(moved, 100, 2);
  void* grown = h.heap().reallocate(moved, 5000);
  EXPECT_EQ(grown, moved);
  EXPECT_EQ(pattern_intact(grown, 100, 2), 100u);
  size_t usable = 0;
  ASSERT_EQ(h.heap().usable_size(grown, &usable), HeapError::kNone);
  EXPECT_EQ(usable, static_cast<size_t>(usable_bytes(order_for_size(5000))));
  // Shrinking by a doubling or more cuts the block where it is (at the top of the bump
  // region, the bump pointer comes back).
  void* shrunk = h.heap().reallocate(grown, 10);
  EXPECT_EQ(shrunk, grown);
  EXPECT_EQ(pattern_intact(shrunk, 10, 2), 10u);
  ASSERT_EQ(h.heap().usable_size(shrunk, &usable), HeapError::kNone);
  EXPECT_EQ(usable, static_cast<size_t>(usable_bytes(order_for_size(10))));
  // (A request that no free block serves: p's old block, of order 1, would serve order 0.)
  EXPECT_EQ(h.heap().allocate(200), static_cast<uint8_t*>(shrunk) + block_bytes(order_for_size(10)));
  // realloc(NULL, n) allocates.
  void* fresh = h.heap().reallocate(nullptr, 64);
  EXPECT_NE(fresh, nullptr);
  EXPECT_EQ(h.heap().free(blocker), HeapError::kNone);
}

// Elsewhere a block shrunk by a doubling or more moves to a block of the smaller order and
// goes back to its free list whole, for the next request of its size; a small trim (less
// than a doubling) keeps the block.
TEST(Heap, ShrinkingByADoublingMovesTheBlockAndFreesItWhole) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(1u << 20);
  void* big = h.heap().allocate(4000);
  void* after = h.heap().allocate(8);  // big is no longer at the top of the bump region
  fill_pattern(big, 4000, 5);
  const unsigned big_order = order_for_size(4000);
  EXPECT_EQ(h.heap().reallocate(big, 2100), big);  // less than a doubling: kept
  size_t usable = 0;
  ASSERT_EQ(h.heap().usable_size(big, &usable), HeapError::kNone);
  EXPECT_EQ(usable, static_cast<size_t>(usable_bytes(big_order)));
  void* small = h.heap().reallocate(big, 1000);
  EXPECT_NE(small, big);
  EXPECT_EQ(pattern_intact(small, 1000, 5), 1000u);
  ASSERT_EQ(h.heap().usable_size(small, &usable), HeapError::kNone);
  EXPECT_EQ(usable, static_cast<size_t>(usable_bytes(order_for_size(1000))));
  EXPECT_EQ(h.heap().stats().orders[big_order].free, 1u);
  EXPECT_EQ(h.heap().allocate(4000), big);  // the whole block serves its order again
  for (void* p : {small, after, big}) EXPECT_EQ(h.heap().free(p), HeapError::kNone);
}

// A source whose spans are known to be zero (as fresh wasm pages are), so that the heap skips
// clearing fresh memory.
class ZeroedSource final : public MemorySource {
 public:
  ZeroedSource(uint8_t* buffer, uint64_t bytes)
      : MemorySource(kNoHugeBlocks, true), begin_(addr(buffer)), end_(addr(buffer) + bytes) {}
  Span grow(uint64_t min_bytes) override {
    if (given_ || end_ - begin_ < min_bytes) return Span{};
    given_ = true;
    raise_high_water(end_);
    return Span{begin_, end_};
  }
  uintptr_t base() const override { return begin_; }

 private:
  uintptr_t begin_;
  uintptr_t end_;
  bool given_ = false;
};

// Memory the bump pointer returns to after a cut has been written: calloc must clear it.
TEST(Heap, ZeroedAllocationAfterACutAtTheTopIsZero) {
  alignas(16) static uint8_t buffer[64 << 10];  // zero, as static storage starts
  ZeroedSource source(buffer, sizeof buffer);
  FreeingBumpHeap heap(&source);
  void* big = heap.allocate(4000);
  memset(big, 0xEE, 4000);
  ASSERT_EQ(heap.reallocate(big, 16), big);
  auto* zeroed = static_cast<uint8_t*>(heap.allocate_zeroed(2000).payload());
  ASSERT_NE(zeroed, nullptr);
  EXPECT_LT(addr(zeroed), addr(big) + 4000);  // it reuses the cut memory
  for (size_t i = 0; i < 2000; ++i) ASSERT_EQ(zeroed[i], 0) << i;
}

TEST(Heap, AFailedReallocLeavesTheBlockIntact) {
  BufferHeap h(4096);
  void* p = h.heap().allocate(100);
  fill_pattern(p, 100, 3);
  void* blocker = h.heap().allocate(8);
  EXPECT_EQ(refusal(h.heap().reallocate(p, 8192)), HeapError::kOutOfMemory);
  EXPECT_EQ(refusal(h.heap().reallocate(p, SIZE_MAX)), HeapError::kTooLarge);
  EXPECT_EQ(pattern_intact(p, 100, 3), 100u);
  EXPECT_EQ(h.heap().free(p), HeapError::kNone);
  EXPECT_EQ(h.heap().free(blocker), HeapError::kNone);
}

TEST(Heap, ReallocOfAnAlignedBlockKeepsItsContents) {
  BufferHeap h(1u << 20);
  void* p = h.heap().allocate_aligned(4096, 64);
  fill_pattern(p, 64, 4);
  size_t usable = 0;
  ASSERT_EQ(h.heap().usable_size(p, &usable), HeapError::kNone);
  EXPECT_EQ(h.heap().reallocate(p, usable), p);
  void* moved = h.heap().reallocate(p, usable + 1);
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(pattern_intact(moved, 64, 4), 64u);
  EXPECT_EQ(h.heap().free(moved), HeapError::kNone);
  EXPECT_EQ(h.heap().stats().bytes_in_use, 0u);
}

TEST(Heap, StatisticsAddUp) {
  SKIP_IF_QUARANTINED();
  BufferHeap h(1u << 20);
  void* a = h.heap().allocate(8);     // 16
  void* b = h.heap().allocate(24);    // 32
  void* c = h.heap().allocate(1000);
  const unsigned c_order = order_for_size(1000);
  const uint64_t c_bytes = block_bytes(c_order);
  // stats() is a snapshot: read again after every change.
  HeapStats stats = h.heap().stats();
  EXPECT_EQ(stats.bytes_in_use, 16u + 32u + c_bytes);
  EXPECT_EQ(stats.address_space, 1u << 20);
  EXPECT_EQ(h.heap().free(c), HeapError::kNone);
  stats = h.heap().stats();
  EXPECT_EQ(stats.bytes_in_use, 48u);
  EXPECT_EQ(stats.peak_bytes_in_use, 48u + c_bytes);
  void* d = h.heap().allocate(8);
  stats = h.heap().stats();
  EXPECT_EQ(stats.cumulative_bytes(), 48u + c_bytes + 16u);
  EXPECT_EQ(stats.orders[0].live, 2u);
  EXPECT_EQ(stats.orders[0].allocations, 2u);
  EXPECT_EQ(stats.orders[c_order].live, 0u);
  EXPECT_EQ(stats.orders[c_order].free, 1u);
  EXPECT_EQ(stats.orders[c_order].allocations, 1u);
  uint64_t in_use = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    in_use += stats.orders[order].live * block_bytes(order);
  }
  EXPECT_EQ(in_use, stats.bytes_in_use);
  for (void* p : {a, b, d}) EXPECT_EQ(h.heap().free(p), HeapError::kNone);
  stats = h.heap().stats();
  EXPECT_EQ(stats.bytes_in_use, 0u);
  for (unsigned order = 0; order < kNumOrders; ++order) EXPECT_EQ(stats.orders[order].live, 0u) << order;
}

TEST(Heap, GrowsThroughContiguousSpans) {
  BufferHeap h(64u << 10, 4096);
  void* p = h.heap().allocate(8);
  EXPECT_EQ(p, h.at(16));
  EXPECT_EQ(h.source().bytes_handed_out(), 4096u);
  // A block too big for the rest of the span continues into the next one: its header is at
  // +24, and the source hands out whole 4096-byte steps.
  void* big = h.heap().allocate(5000);
  EXPECT_EQ(big, h.at(32));
  const uint64_t end = (24 + block_bytes(order_for_size(5000)) + 4095) / 4096 * 4096;
  EXPECT_GE(end, 8192u);  // more than the first span's 4096
  EXPECT_EQ(h.source().bytes_handed_out(), end);
  EXPECT_EQ(h.heap().stats().address_space, end);
}

TEST(Heap, ANonContiguousSpanRetiresTheOldTailIntoFreeBlocks) {
  alignas(16) static uint8_t buffer[64 << 10];
  GappySource source(addr(buffer), addr(buffer) + sizeof buffer, 4096, 4096);
  FreeingBumpHeap heap(&source);
  void* first = heap.allocate(8);
  EXPECT_EQ(first, buffer + 16);
  void* big = heap.allocate(4000);  // a block of 4112 bytes, more than the span has left
  ASSERT_NE(big, nullptr);
  EXPECT_GE(addr(big), addr(buffer) + 8192);  // past the gap
  EXPECT_EQ(addr(big) % 16, 0u);
  // The old span's tail (4072 bytes) became free blocks, largest first; only the last 8
  // bytes, less than any block, are lost. (The 4096-byte span the heap asked for first, for
  // the shortfall, did not follow either and was retired whole too.)
  const std::vector<uint64_t> tail = testing::retired_tail_of_4096();
  uint64_t retired = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    retired += heap.stats().orders[order].free * block_bytes(order);
  }
  EXPECT_GE(retired, 4064u);
  EXPECT_EQ(retired % 16, 0u);
  for (uint64_t bytes : tail) {
    EXPECT_GE(heap.stats().orders[order_for_size(bytes - kHeaderBytes)].free, 1u) << bytes;
  }
  // Those blocks serve requests without growing.
  const uint64_t address_space = heap.stats().address_space;
  void* reused = heap.allocate(static_cast<size_t>(tail[0] - kHeaderBytes));  // the largest
  EXPECT_LT(addr(reused), addr(big));
  EXPECT_EQ(heap.stats().address_space, address_space);
  EXPECT_EQ(heap.free(big), HeapError::kNone);
  EXPECT_EQ(heap.free(reused), HeapError::kNone);
  EXPECT_EQ(heap.free(first), HeapError::kNone);
}

// Freed memory serves other sizes once memory runs out: the free lists are merged.
TEST(Heap, OutOfMemoryMergesAdjacentFreeBlocks) {
  BufferHeap h(64 << 10);
  std::vector<void*> small;
  for (void* p; (p = h.heap().allocate(8)) != nullptr;) small.push_back(p);
  EXPECT_EQ(small.size(), ((64u << 10) - 8) / 16);
  for (void* p : small) ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  // Nothing is left to bump: a 32 KiB block can only come from merged order-0 blocks.
  void* big = h.heap().allocate(32 << 10);
  ASSERT_NE(big, nullptr);
  memset(big, 0x77, 32 << 10);
  EXPECT_EQ(h.heap().stats().address_space, 64u << 10);  // no more memory was asked for
  // The rest of the merged memory is still there, as free blocks of other sizes.
  void* medium = h.heap().allocate(16 << 10);
  EXPECT_NE(medium, nullptr);
  EXPECT_EQ(h.heap().free(big), HeapError::kNone);
  EXPECT_EQ(h.heap().free(medium), HeapError::kNone);
}

// The same merge through a scratch bitmap (the preload's central pool sorts there) gives the
// very same free blocks as the list sort, and leaves the bitmap all zero; with a bitmap that
// reaches only part of the heap, the blocks beyond it are sorted as a list and the runs still
// join across its end.
TEST(Heap, MergingWithABitmapGivesTheSameBlocks) {
  enum Way { kList, kBitmap, kSmallBitmap };
  std::vector<std::pair<unsigned, uintptr_t>> blocks_by_way[3];
  for (const Way way : {kList, kBitmap, kSmallBitmap}) {
    BufferHeap h(64 << 10);
    std::vector<void*> blocks;
    for (void* p; (p = h.heap().allocate(8 + blocks.size() % 100)) != nullptr;) blocks.push_back(p);
    // Free all but every tenth block: runs of nine blocks of mixed orders merge.
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (i % 10 != 0) {
        ASSERT_EQ(h.heap().free(blocks[i]), HeapError::kNone);
      }
    }
    const size_t words = merge_bitmap_words(64 << 10);
    std::vector<uint64_t> bits(words, 0);
    const MergeScratch scratch = way == kList ? MergeScratch{}
                                 : way == kBitmap ? MergeScratch{bits.data(), words}
                                                  : MergeScratch{bits.data(), words / 2};
    h.heap().coalesce_free_blocks(scratch);
    for (uint64_t word : bits) ASSERT_EQ(word, 0u) << way;
    std::vector<std::pair<unsigned, uintptr_t>>& found = blocks_by_way[way];
    for (unsigned order = 0; order < kNumOrders; ++order) {
      h.heap().for_each_free_block(order, [&](uintptr_t header) {
        found.emplace_back(order, header - h.base());
      });
    }
    std::sort(found.begin(), found.end());
    // Merged blocks are bigger than any freed one, and every kept block is intact.
    EXPECT_NE(h.heap().take_free_region(1000, 1000, false).begin, 0u) << way;
    for (size_t i = 0; i < blocks.size(); i += 10) {
      ASSERT_EQ(h.heap().free(blocks[i]), HeapError::kNone) << way;
    }
  }
  EXPECT_GT(blocks_by_way[kList].size(), 100u);
  EXPECT_EQ(blocks_by_way[kBitmap], blocks_by_way[kList]);
  EXPECT_EQ(blocks_by_way[kSmallBitmap], blocks_by_way[kList]);
}

TEST(Heap, MergingNeverTouchesLiveBlocks) {
  BufferHeap h(64 << 10);
  std::vector<void*> blocks;
  for (void* p; (p = h.heap().allocate(24)) != nullptr;) blocks.push_back(p);
  // Free every other block: no two free blocks are adjacent.
  for (size_t i = 0; i < blocks.size(); i += 2) ASSERT_EQ(h.heap().free(blocks[i]), HeapError::kNone);
  for (size_t i = 1; i < blocks.size(); i += 2) fill_pattern(blocks[i], 24, i);
  EXPECT_EQ(refusal(h.heap().allocate(100)), HeapError::kOutOfMemory);
  for (size_t i = 1; i < blocks.size(); i += 2) {
    ASSERT_EQ(pattern_intact(blocks[i], 24, i), 24u) << i;
    ASSERT_EQ(h.heap().free(blocks[i]), HeapError::kNone) << i;  // their tags are intact too
  }
  // Now everything is free and adjacent: the whole buffer merges (the largest block that
  // fits in 64 KiB is order 12, 32 KiB + 16).
  EXPECT_NE(h.heap().allocate(32 << 10), nullptr);
}

TEST(Heap, MergingStopsAtADamagedFreeList) {
  BufferHeap h(4096);
  std::vector<void*> blocks;
  for (void* p; (p = h.heap().allocate(8)) != nullptr;) blocks.push_back(p);
  for (void* p : blocks) ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  // Damage the tag of the block the list reaches second: the rest is left unreachable.
  store_tag(addr(blocks[blocks.size() - 2]) - 8, 0);
  EXPECT_EQ(h.heap().allocate(64), nullptr);  // only the head block was trusted
  EXPECT_NE(h.heap().allocate(8), nullptr);   // and it still serves
}

TEST(Heap, FreeOfNullIsANoOp) {
  BufferHeap h(4096);
  EXPECT_EQ(h.heap().free(nullptr), HeapError::kNone);
  EXPECT_EQ(h.heap().stats().cumulative_bytes(), 0u);
}

TEST(Heap, PointersBeforeTheFirstAllocationAreInvalid) {
  BufferHeap h(4096);
  EXPECT_EQ(h.heap().free(h.at(16)), HeapError::kInvalidPointer);
}

TEST(Heap, ErrorsHaveNames) {
  EXPECT_STREQ(describe(HeapError::kDoubleFree), "double free");
  EXPECT_STREQ(describe(HeapError::kInvalidPointer), "invalid pointer");
  EXPECT_FALSE(is_heap_corruption(HeapError::kOutOfMemory));
  EXPECT_TRUE(is_heap_corruption(HeapError::kCorruptHeader));
}

#if FREEBUMP_CHECKED
// The checked flavour's additions (lib/flavour.h), on the core alone.

TEST(Heap, CheckedFlavourFindsAWriteAfterFreeWhenTheBlockIsReused) {
  BufferHeap h(64 << 10);
  auto* p = static_cast<uint8_t*>(h.heap().allocate(100).payload());
  ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  EXPECT_EQ(p[0], kPoisonByte);
  p[40] = 1;  // a write after free
  ASSERT_EQ(h.heap().release_quarantine(), HeapError::kNone);
  EXPECT_EQ(refusal(h.heap().allocate(100)), HeapError::kWriteAfterFree);
  // The written block stays out of use; the heap goes on.
  void* q = h.heap().allocate(100);
  EXPECT_NE(q, nullptr);
  EXPECT_NE(q, p);
}

TEST(Heap, CheckedFlavourReusesAnIntactFreedBlockAfterTheQuarantine) {
  BufferHeap h(64 << 10);
  void* p = h.heap().allocate(100);
  ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  void* q = h.heap().allocate(100);
  EXPECT_NE(q, p);  // p waits
  ASSERT_EQ(h.heap().release_quarantine(), HeapError::kNone);
  EXPECT_EQ(h.heap().allocate(100), p);
}

TEST(Heap, CheckedFlavourMakesAStaleFreeDuringTheQuarantineADoubleFree) {
  BufferHeap h(64 << 10);
  void* p = h.heap().allocate(100);
  ASSERT_EQ(h.heap().free(p), HeapError::kNone);
  void* q = h.heap().allocate(100);
  EXPECT_EQ(h.heap().free(p), HeapError::kDoubleFree);
  EXPECT_EQ(h.heap().free(q), HeapError::kNone);
}

TEST(Heap, CheckedFlavourQuarantineHoldsTheLastFreesAndGivesTheOldestBack) {
  BufferHeap h(1 << 20);
  std::vector<void*> blocks;
  for (unsigned i = 0; i <= kQuarantineBlocks; ++i) blocks.push_back(h.heap().allocate(24));
  unsigned listed = 0;
  for (unsigned i = 0; i < kQuarantineBlocks; ++i) {
    ASSERT_EQ(h.heap().free(blocks[i], &listed), HeapError::kNone);
    EXPECT_EQ(listed, kNumOrders);  // into the quarantine, no list grew
  }
  ASSERT_EQ(h.heap().free(blocks[kQuarantineBlocks], &listed), HeapError::kNone);
  EXPECT_EQ(listed, order_for_size(24));  // the oldest went onto its list
  EXPECT_EQ(h.heap().allocate(24), blocks[0]);
}

TEST(Heap, CheckedFlavourReportsABlockFreedByTheWrongFunction) {
  BufferHeap h(64 << 10);
  void* p = h.heap().allocate(100);
  ASSERT_EQ(h.heap().set_origin(p, Origin::kNewArray), HeapError::kNone);
  EXPECT_EQ(h.heap().free(p), HeapError::kMismatchFromNewArray);
  EXPECT_EQ(h.heap().free(p, Origin::kNew), HeapError::kMismatchFromNewArray);
  EXPECT_EQ(refusal(h.heap().reallocate(p, 200)), HeapError::kMismatchFromNewArray);
  EXPECT_EQ(h.heap().free(p, Origin::kNewArray), HeapError::kNone);
  void* aligned = h.heap().allocate_aligned(256, 100);
  ASSERT_EQ(h.heap().set_origin(aligned, Origin::kAlignedNew), HeapError::kNone);
  EXPECT_EQ(h.heap().free(aligned, Origin::kNew), HeapError::kMismatchFromAlignedNew);
  EXPECT_EQ(h.heap().free(aligned, Origin::kAlignedNew), HeapError::kNone);
  EXPECT_STREQ(describe(HeapError::kMismatchFromMalloc), "alloc-dealloc mismatch: block from malloc()");
}
#endif

}  // namespace
}  // namespace freebump
