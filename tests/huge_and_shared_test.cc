// Huge blocks (a mapping of their own), calloc's zeroing, and several heaps sharing one
// source: cross-heap frees and chains of free blocks moving between heaps. The source here
// is a fake over plain buffers, so these run on every target.
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "lib/heap.h"
#include "tests/test_heap.h"

namespace freebump {
namespace {

using testing::fill_pattern;
using testing::pattern_intact;
using testing::refusal;

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// Heap spans from one buffer, huge mappings from page-aligned slots of another. Every
// mapping is filled with garbage unless it is "fresh", as the Linux source's cache would, and
// so is a mapping as it is unmapped: the heap must judge a freed one by owner_of() alone.
class FakeHugeSource final : public MemorySource {
 public:
  static constexpr uint64_t kSlotBytes = 1 << 20;
  static constexpr int kSlots = 8;

  FakeHugeSource(uint64_t huge_threshold, uint64_t heap_bytes)
      : MemorySource(huge_threshold, true),
        heap_storage_(new uint8_t[heap_bytes + 16]()),
        slot_storage_(new uint8_t[kSlots * kSlotBytes + 4096]),
        heap_begin_((addr(heap_storage_.get()) + 15) & ~uintptr_t{15}),
        heap_next_(heap_begin_),
        heap_end_(heap_begin_ + heap_bytes),
        slots_begin_((addr(slot_storage_.get()) + 4095) & ~uintptr_t{4095}) {}

  Span grow(uint64_t min_bytes) override {
    const uint64_t take = (min_bytes + 4095) & ~uint64_t{4095};
    if (heap_end_ - heap_next_ < take) return Span{};
    const Span span{heap_next_, heap_next_ + static_cast<uintptr_t>(take)};
    heap_next_ = span.end;
    raise_high_water(span.end);
    return span;
  }
  uintptr_t base() const override { return heap_begin_; }

  Span map_huge(uint64_t bytes, bool* zeroed) override {
    const uint64_t length = (bytes + 4095) & ~uint64_t{4095};
    for (int slot = 0; slot < kSlots; ++slot) {
      if (in_use_[slot] || length > kSlotBytes) continue;
      in_use_[slot] = true;
      lengths_[slot] = length;
      const uintptr_t begin = slots_begin_ + slot * kSlotBytes;
      *zeroed = next_mapping_fresh_;
      memset(reinterpret_cast<void*>(begin), next_mapping_fresh_ ? 0 : 0xEE,
             static_cast<size_t>(length));
      maps_++;
      return Span{begin, begin + static_cast<uintptr_t>(length)};
    }
    *zeroed = false;
    return Span{};
  }
  void unmap_huge(Span mapping) override {
    in_use_[(mapping.begin - slots_begin_) / kSlotBytes] = false;
    memset(reinterpret_cast<void*>(mapping.begin), 0xEE, static_cast<size_t>(mapping.end - mapping.begin));
    unmaps_++;
  }
  // A slot's mapping while in use; once freed, the slot's last mapping is remembered as freed.
  Ownership owner_of(uintptr_t address, uint64_t bytes) const override {
    if (address < slots_begin_ || address >= slots_begin_ + kSlots * kSlotBytes) return Ownership::kNotOurs;
    const size_t slot = (address - slots_begin_) / kSlotBytes;
    const uintptr_t begin = slots_begin_ + slot * kSlotBytes;
    if (lengths_[slot] == 0 || bytes > begin + lengths_[slot] - address) return Ownership::kNotOurs;
    return in_use_[slot] ? Ownership::kLiveHuge : Ownership::kFreedHuge;
  }
  Span remap_huge(Span mapping, uint64_t bytes) override {
    bool zeroed;
    const Span moved = map_huge(bytes, &zeroed);
    if (moved.empty()) return moved;
    const uint64_t keep = mapping.end - mapping.begin < moved.end - moved.begin
                              ? mapping.end - mapping.begin
                              : moved.end - moved.begin;
    memcpy(reinterpret_cast<void*>(moved.begin), reinterpret_cast<void*>(mapping.begin),
           static_cast<size_t>(keep));
    unmap_huge(mapping);
    return moved;
  }

  bool next_mapping_fresh_ = true;
  int maps_ = 0;
  int unmaps_ = 0;

 private:
  std::unique_ptr<uint8_t[]> heap_storage_;
  std::unique_ptr<uint8_t[]> slot_storage_;
  uintptr_t heap_begin_;
  uintptr_t heap_next_;
  uintptr_t heap_end_;
  uintptr_t slots_begin_;
  bool in_use_[kSlots] = {};
  uint64_t lengths_[kSlots] = {};  // of each slot's last mapping; 0 if never mapped
};

TEST(HeapAndSource, AHugeBlockAboveTheThresholdIsAMappingOfItsOwn) {
  FakeHugeSource source(64 << 10, 1 << 20);
  FreeingBumpHeap heap(&source);
  void* small = heap.allocate(64 << 10);  // at the threshold: still a heap block
  EXPECT_EQ(source.maps_, 0);
  void* huge = heap.allocate((64 << 10) + 1);
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(source.maps_, 1);
  EXPECT_EQ(addr(huge) % 4096, 16u);
  const DecodedTag tag = heap.codec().decode(addr(huge) - 8, load_tag(addr(huge) - 8));
  EXPECT_EQ(tag.kind, TagKind::kHuge);
  EXPECT_TRUE(tag.check_ok);
  EXPECT_EQ(tag.value, 17u);  // 65537 + 16 bytes round up to 17 pages
  size_t usable = 0;
  ASSERT_EQ(heap.usable_size(huge, &usable), HeapError::kNone);
  EXPECT_EQ(usable, 17u * 4096 - 16);
  EXPECT_EQ(heap.stats().huge_live, 1u);
  EXPECT_EQ(heap.stats().huge_bytes, 17u * 4096);
  EXPECT_EQ(heap.free(huge), HeapError::kNone);
  EXPECT_EQ(source.unmaps_, 1);
  EXPECT_EQ(heap.stats().huge_live, 0u);
  EXPECT_EQ(heap.free(small), HeapError::kNone);
}

TEST(HeapAndSource, AHugeBlocksDoubleFreeWhileTheMappingSurvivesIsDetected) {
  FakeHugeSource source(4096, 1 << 20);
  FreeingBumpHeap heap(&source);
  void* huge = heap.allocate(10000);
  ASSERT_EQ(heap.free(huge), HeapError::kNone);
  // The fake filled the freed mapping with garbage: only the source's record tells.
  EXPECT_EQ(heap.free(huge), HeapError::kDoubleFree);
  size_t usable = 0;
  EXPECT_EQ(heap.usable_size(huge, &usable), HeapError::kDoubleFree);
  EXPECT_EQ(refusal(heap.reallocate(huge, 20000)), HeapError::kDoubleFree);
  // An over-aligned payload inside a freed mapping: its ALIGNED tag is not read either.
  void* aligned = heap.allocate_aligned(1024, 10000);
  ASSERT_EQ(heap.free(aligned), HeapError::kNone);
  EXPECT_EQ(heap.free(aligned), HeapError::kDoubleFree);
}

TEST(HeapAndSource, PointersIntoAHugeMappingButNotItsPayloadAreRejected) {
  FakeHugeSource source(4096, 1 << 20);
  FreeingBumpHeap heap(&source);
  auto* huge = static_cast<uint8_t*>(heap.allocate(10000).payload());
  EXPECT_EQ(heap.free(huge + 4096), HeapError::kInvalidPointer);
  EXPECT_EQ(heap.free(huge + 16), HeapError::kInvalidPointer);
  EXPECT_EQ(heap.free(huge), HeapError::kNone);
}

TEST(HeapAndSource, ReallocRemapsHugeBlocksAndMovesAcrossTheThreshold) {
  FakeHugeSource source(4096, 1 << 20);
  FreeingBumpHeap heap(&source);
  void* p = heap.allocate(100);
  fill_pattern(p, 100, 1);
  void* huge = heap.reallocate(p, 10000);  // heap block -> huge: moves
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(addr(huge) % 4096, 16u);
  EXPECT_EQ(pattern_intact(huge, 100, 1), 100u);
  fill_pattern(huge, 10000, 2);
  void* bigger = heap.reallocate(huge, 300000);  // huge -> huge: remapped
  ASSERT_NE(bigger, nullptr);
  EXPECT_EQ(pattern_intact(bigger, 10000, 2), 10000u);
  size_t usable = 0;
  ASSERT_EQ(heap.usable_size(bigger, &usable), HeapError::kNone);
  EXPECT_GE(usable, 300000u);
  EXPECT_EQ(heap.stats().huge_live, 1u);
  void* back = heap.reallocate(bigger, 50);  // huge -> heap block: moves back
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(pattern_intact(back, 50, 2), 50u);
  EXPECT_EQ(heap.stats().huge_live, 0u);
  EXPECT_EQ(heap.stats().huge_bytes, 0u);
  EXPECT_EQ(heap.free(back), HeapError::kNone);
  // No slot that big.
  EXPECT_EQ(refusal(heap.reallocate(heap.allocate(5000), size_t{2} << 20)), HeapError::kOutOfMemory);
}

TEST(HeapAndSource, AlignedRequestsAboveTheThresholdAreAlignedInsideHugeBlocks) {
  FakeHugeSource source(4096, 1 << 20);
  FreeingBumpHeap heap(&source);
  for (size_t alignment = 32; alignment <= 65536; alignment <<= 1) {
    void* p = heap.allocate_aligned(alignment, 5000);
    ASSERT_NE(p, nullptr) << alignment;
    EXPECT_EQ(addr(p) % alignment, 0u);
    size_t usable = 0;
    ASSERT_EQ(heap.usable_size(p, &usable), HeapError::kNone);
    EXPECT_GE(usable, 5000u);
    fill_pattern(p, 5000, alignment);
    void* moved = heap.reallocate(p, 6000);
    ASSERT_NE(moved, nullptr);
    EXPECT_EQ(pattern_intact(moved, 5000, alignment), 5000u);
    EXPECT_EQ(heap.free(moved), HeapError::kNone) << alignment;
  }
  EXPECT_EQ(heap.stats().huge_live, 0u);
}

TEST(HeapAndSource, ForeignPointersOutsideTheHeapAreRejected) {
  FakeHugeSource source(4096, 1 << 20);
  FreeingBumpHeap heap(&source);
  void* p = heap.allocate(8);
  alignas(4096) static uint8_t page[8192] = {};
  EXPECT_EQ(heap.free(page + 16), HeapError::kInvalidPointer);  // looks like a huge payload
  EXPECT_EQ(heap.free(page + 4096 + 32), HeapError::kInvalidPointer);
  EXPECT_EQ(heap.free(p), HeapError::kNone);
}

TEST(HeapAndSource, ZeroedAllocationSkipsClearingOnlyMemoryKnownFresh) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(8192, 1 << 20);
  FreeingBumpHeap heap(&source);
  auto* fresh = static_cast<uint8_t*>(heap.allocate_zeroed(1000).payload());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(fresh[i], 0);
  memset(fresh, 0xFF, 1000);
  ASSERT_EQ(heap.free(fresh), HeapError::kNone);
  auto* reused = static_cast<uint8_t*>(heap.allocate_zeroed(1000).payload());
  ASSERT_EQ(reused, fresh);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(reused[i], 0) << i;
  source.next_mapping_fresh_ = false;  // a recycled mapping full of garbage
  auto* huge = static_cast<uint8_t*>(heap.allocate_zeroed(20000).payload());
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(huge[i], 0) << i;
  EXPECT_EQ(heap.free(huge), HeapError::kNone);
  EXPECT_EQ(refusal(heap.allocate_zeroed(SIZE_MAX)), HeapError::kTooLarge);
}

// Merged memory is not fresh: calloc must clear it even on a source whose spans are zero.
TEST(HeapAndSource, ZeroedAllocationClearsRecycledMemory) {
  FakeHugeSource source(1 << 20, 64 << 10);
  FreeingBumpHeap heap(&source);
  std::vector<void*> blocks;
  for (void* p; (p = heap.allocate(100)) != nullptr;) blocks.push_back(p);
  for (void* p : blocks) {
    memset(p, 0xFF, 100);
    ASSERT_EQ(heap.free(p), HeapError::kNone);
  }
  auto* zeroed = static_cast<uint8_t*>(heap.allocate_zeroed(20000).payload());  // from merged blocks
  ASSERT_NE(zeroed, nullptr);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(zeroed[i], 0) << i;
}

// A heap can hand a merged region to another heap on the same source as bump space.
TEST(HeapAndSource, AFreeRegionMovesToAnotherHeapOfTheSameSource) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  FreeingBumpHeap owner(&source);
  std::vector<void*> blocks;
  for (int i = 0; i < 512; ++i) blocks.push_back(owner.allocate(40));  // 24 KiB, contiguous
  for (void* p : blocks) ASSERT_EQ(owner.free(p), HeapError::kNone);
  const Span region = owner.take_free_region(8192, 16384, true);
  ASSERT_FALSE(region.empty());
  EXPECT_TRUE(region.recycled);
  EXPECT_GE(region.end - region.begin, 16384u);
  // The region left the owner's lists: the owner's next blocks never overlap it.
  for (int i = 0; i < 512; ++i) {
    const uintptr_t p = addr(owner.allocate(40));
    ASSERT_TRUE(p + 40 <= region.begin || p - 8 >= region.end) << i;
  }
}

TEST(HeapAndSource, ABlockMayBeFreedIntoAnotherHeapOfTheSameSource) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  FreeingBumpHeap first(&source);
  FreeingBumpHeap second(&source);
  void* a = first.allocate(100);
  void* b = second.allocate(100);  // second's span lies above first's
  EXPECT_EQ(second.free(a), HeapError::kNone);
  EXPECT_EQ(first.free(b), HeapError::kNone);
  EXPECT_EQ(second.free(a), HeapError::kDoubleFree);
  EXPECT_EQ(second.allocate(100), a);
  EXPECT_EQ(first.allocate(100), b);
  // Per-heap live counts wrap; their sums are exact.
  const unsigned order = order_for_size(100);
  EXPECT_EQ(first.stats().orders[order].live + second.stats().orders[order].live, 2u);
}

TEST(HeapAndSource, ChainsOfFreeBlocksMoveBetweenHeaps) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  FreeingBumpHeap owner(&source);
  FreeingBumpHeap other(&source);
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(owner.allocate(40));
  for (void* p : blocks) ASSERT_EQ(owner.free(p), HeapError::kNone);
  FreeChain chain;
  ASSERT_EQ(owner.take_free_blocks(2, 4, &chain), HeapError::kNone);
  EXPECT_EQ(chain.count, 4u);
  EXPECT_EQ(chain.head, addr(blocks[9]) - 8);  // the most recently freed first
  EXPECT_EQ(chain.tail, addr(blocks[6]) - 8);
  EXPECT_EQ(owner.free_count(2), 6u);
  other.give_free_blocks(2, chain);
  EXPECT_EQ(other.free_count(2), 4u);
  for (int i = 9; i >= 6; --i) EXPECT_EQ(other.allocate(40), blocks[i]);
  EXPECT_EQ(other.stats().address_space, 0u);  // served without growing
  EXPECT_EQ(owner.allocate(40), blocks[5]);
  // Taking more than there is takes all; taking from an empty list takes nothing.
  ASSERT_EQ(owner.take_free_blocks(2, 100, &chain), HeapError::kNone);
  EXPECT_EQ(chain.count, 5u);
  ASSERT_EQ(owner.take_free_blocks(2, 100, &chain), HeapError::kNone);
  EXPECT_EQ(chain.count, 0u);
}

// The heaps count no live blocks on their fast paths: live = blocks held (live or listed)
// minus blocks listed, where only chains, carving, merging, resizes in place and dropped
// lists change what a heap holds. Every one of those keeps each order's live count (summed
// over the heaps) equal to the blocks really in use.
TEST(HeapAndSource, LiveCountsFollowBlocksThroughChainsMergesAndResizes) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  FreeingBumpHeap owner(&source);
  FreeingBumpHeap other(&source);
  const auto live = [&](unsigned order) {
    return owner.stats().orders[order].live + other.stats().orders[order].live;
  };
  const unsigned order = order_for_size(40);
  std::vector<void*> blocks;
  for (int i = 0; i < 12; ++i) blocks.push_back(owner.allocate(40));
  EXPECT_EQ(live(order), 12u);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(owner.free(blocks[i]), HeapError::kNone);
  EXPECT_EQ(live(order), 4u);
  // A chain moves from one heap to the other and is allocated and freed there.
  FreeChain chain;
  ASSERT_EQ(owner.take_free_blocks(order, 3, &chain), HeapError::kNone);
  EXPECT_EQ(live(order), 4u);
  other.give_free_blocks(order, chain);
  EXPECT_EQ(live(order), 4u);
  void* moved = other.allocate(40);
  EXPECT_EQ(live(order), 5u);
  ASSERT_EQ(owner.free(moved), HeapError::kNone);  // freed into the heap that gave it away
  EXPECT_EQ(live(order), 4u);
  // Resized in place at the top of the bump region: one order down, one up.
  void* top = owner.allocate(1000);
  const unsigned top_order = order_for_size(1000);
  EXPECT_EQ(live(top_order), 1u);
  ASSERT_EQ(owner.reallocate(top, 100), top);
  EXPECT_EQ(live(top_order), 0u);
  EXPECT_EQ(live(order_for_size(100)), 1u);
  ASSERT_EQ(owner.reallocate(top, 3000), top);
  EXPECT_EQ(live(order_for_size(100)), 0u);
  EXPECT_EQ(live(order_for_size(3000)), 1u);
  // Merging turns the free blocks into others; nothing live changes.
  owner.coalesce_free_blocks();
  other.coalesce_free_blocks();
  for (unsigned o = 0; o < kNumOrders; ++o) {
    EXPECT_EQ(live(o), o == order ? 4u : o == order_for_size(3000) ? 1u : 0u) << o;
  }
  // A damaged list is dropped with its blocks, which no longer count as live either.
  for (int i = 8; i < 10; ++i) ASSERT_EQ(owner.free(blocks[i]), HeapError::kNone);
  store_tag(addr(blocks[9]) - 8, load_tag(addr(blocks[9]) - 8) ^ (uint64_t{1} << 50));
  ASSERT_EQ(owner.take_free_blocks(order, 8, &chain), HeapError::kCorruptFreeList);
  EXPECT_EQ(live(order), 2u);
  EXPECT_EQ(owner.free_count(order), 0u);
}

// A heap's list limits bound what its fast free puts on a list: a free beyond the limit
// declines (the owner's slow path frees and trims), and the count of listed blocks, derived
// from each list's room, stays exact through both, and is zero before the heap first runs.
TEST(HeapAndSource, ListLimitsBoundTheFastFree) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  uint64_t limits[kNumOrders];
  for (uint64_t& limit : limits) limit = 2;
  FreeingBumpHeap heap(&source, limits);
  FreeingBumpHeap idle(&source, limits);
  const unsigned order = order_for_size(40);
  EXPECT_EQ(heap.free_count(order), 0u);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(heap.allocate(40));
  unsigned freed_order = kNumOrders;
  EXPECT_TRUE(heap.try_free(blocks[0], &freed_order));
  EXPECT_EQ(freed_order, order);
  EXPECT_TRUE(heap.try_free(blocks[1], &freed_order));
  EXPECT_FALSE(heap.try_free(blocks[2], &freed_order));  // the list is full
  EXPECT_EQ(heap.free_count(order), 2u);
  EXPECT_EQ(heap.free(blocks[2]), HeapError::kNone);     // the slow path frees anyway
  EXPECT_EQ(heap.free_count(order), 3u);
  EXPECT_FALSE(heap.try_free(blocks[3], &freed_order));  // over the limit: still declines
  FreeChain chain;
  ASSERT_EQ(heap.take_free_blocks(order, 2, &chain), HeapError::kNone);
  EXPECT_EQ(heap.free_count(order), 1u);
  EXPECT_TRUE(heap.try_free(blocks[3], &freed_order));   // room again
  EXPECT_EQ(heap.free_count(order), 2u);
  EXPECT_EQ(heap.stats().orders[order].free, 2u);
  EXPECT_EQ(heap.stats().orders[order].live, 0u);
  // A heap that has not run yet lists nothing, limits or not.
  for (unsigned o = 0; o < kNumOrders; ++o) {
    EXPECT_EQ(idle.free_count(o), 0u) << o;
    EXPECT_EQ(idle.stats().orders[o].free, 0u) << o;
    EXPECT_EQ(idle.stats().orders[o].live, 0u) << o;
  }
  idle.give_free_blocks(order, chain);
  EXPECT_EQ(idle.free_count(order), 2u);
}

TEST(HeapAndSource, ADamagedChainIsReported) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  FreeingBumpHeap heap(&source);
  void* a = heap.allocate(8);
  void* b = heap.allocate(8);
  ASSERT_EQ(heap.free(a), HeapError::kNone);
  ASSERT_EQ(heap.free(b), HeapError::kNone);
  store_tag(addr(a) - 8, load_tag(addr(a) - 8) ^ (uint64_t{1} << 50));
  FreeChain chain;
  EXPECT_EQ(heap.take_free_blocks(0, 8, &chain), HeapError::kCorruptFreeList);
  EXPECT_EQ(chain.count, 0u);
  EXPECT_EQ(heap.free_count(0), 0u);
}

TEST(HeapAndSource, RetiringTheBumpRegionLeavesOnlyFreeBlocks) {
  SKIP_IF_QUARANTINED();
  FakeHugeSource source(1 << 20, 1 << 20);
  FreeingBumpHeap heap(&source);
  void* p = heap.allocate(8);  // the first span is 4096 bytes: 4072 are left after the block
  heap.retire_bump_region();
  const std::vector<uint64_t> retired = testing::retired_tail_of_4096();
  uint64_t blocks = 0;
  for (uint64_t bytes : retired) {
    const unsigned order = order_for_size(bytes - kHeaderBytes);
    ASSERT_EQ(block_bytes(order), bytes);
    EXPECT_EQ(heap.free_count(order), 1u) << bytes;
  }
  for (unsigned order = 0; order < kNumOrders; ++order) blocks += heap.free_count(order);
  EXPECT_EQ(blocks, retired.size());
  EXPECT_NE(heap.allocate(static_cast<size_t>(retired[0] - kHeaderBytes)), nullptr);
  EXPECT_EQ(heap.stats().address_space, 4096u);
  EXPECT_EQ(heap.free(p), HeapError::kNone);
  EXPECT_EQ(heap.free_count(0), retired.back() == 16 ? 2u : 1u);
}

// A source whose memory could not stay in one run: spans from a first range, then from a
// second one further up (the gap between is not its own, and is never handed out). The
// first range ends at the high water; the second is known through owner_of().
class TwoRangeSource final : public MemorySource {
 public:
  static constexpr uint64_t kRangeBytes = 256 << 10;
  static constexpr uint64_t kGapBytes = 64 << 10;

  TwoRangeSource()
      : MemorySource(kNoHugeBlocks, false),
        storage_(new uint8_t[2 * kRangeBytes + kGapBytes + 16]),
        first_((addr(storage_.get()) + 15) & ~uintptr_t{15}),
        second_(first_ + kRangeBytes + kGapBytes),
        next_(first_) {}

  Span grow(uint64_t min_bytes) override {
    const uint64_t take = (min_bytes + 4095) & ~uint64_t{4095};
    if (next_ < second_ && first_ + kRangeBytes - next_ < take) next_ = second_;
    const uintptr_t end = next_ < second_ ? first_ + kRangeBytes : second_ + kRangeBytes;
    if (end - next_ < take) return Span{};
    const Span span{next_, next_ + static_cast<uintptr_t>(take)};
    next_ = span.end;
    if (span.end <= first_ + kRangeBytes) raise_high_water(span.end);
    return span;
  }
  uintptr_t base() const override { return first_; }
  Ownership owner_of(uintptr_t address, uint64_t bytes) const override {
    const bool inside = address >= second_ && address < second_ + kRangeBytes &&
                        bytes <= second_ + kRangeBytes - address;
    return inside ? Ownership::kHeap : Ownership::kNotOurs;
  }
  uintptr_t gap() const { return first_ + kRangeBytes; }
  uintptr_t second() const { return second_; }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  uintptr_t first_;
  uintptr_t second_;
  uintptr_t next_;
};

TEST(HeapAndSource, BlocksInARangeBeyondTheHighWaterAreBlocksLikeAnyOther) {
  SKIP_IF_QUARANTINED();
  TwoRangeSource source;
  FreeingBumpHeap heap(&source);
  std::vector<void*> blocks;
  size_t in_second = 0;
  for (void* p; (p = heap.allocate(40 + blocks.size() % 300)) != nullptr;) {
    fill_pattern(p, 40, blocks.size());
    in_second += addr(p) >= source.second();
    blocks.push_back(p);
  }
  ASSERT_GT(in_second, 100u);
  EXPECT_LE(source.high_water(), source.gap());
  for (size_t i = 0; i < blocks.size(); ++i) {
    size_t usable = 0;
    ASSERT_EQ(heap.usable_size(blocks[i], &usable), HeapError::kNone) << i;
    ASSERT_EQ(pattern_intact(blocks[i], 40, i), 40u) << i;
  }
  // A pointer into the gap is not the source's: rejected without being read.
  EXPECT_EQ(heap.free(reinterpret_cast<void*>(source.gap() + 4096)), HeapError::kInvalidPointer);
  // Free lists run across the ranges: freed in an order that links second-range blocks to
  // first-range ones and back, then allocated again from the lists.
  for (size_t i = 0; i < blocks.size(); ++i) {
    const size_t at = i % 2 == 0 ? i / 2 : blocks.size() - 1 - i / 2;
    ASSERT_EQ(heap.free(blocks[at]), HeapError::kNone) << at;
  }
  EXPECT_EQ(heap.free(blocks[0]), HeapError::kDoubleFree);
  EXPECT_EQ(heap.free(blocks.back()), HeapError::kDoubleFree);
  for (size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_NE(heap.allocate(40 + i % 300), nullptr) << i;
  }
}

TEST(HeapAndSource, MergingJoinsBlocksInEveryRange) {
  TwoRangeSource source;
  FreeingBumpHeap heap(&source);
  std::vector<void*> blocks;
  for (void* p; (p = heap.allocate(100)) != nullptr;) blocks.push_back(p);
  for (void* p : blocks) ASSERT_EQ(heap.free(p), HeapError::kNone);
  // A bitmap that reaches the first range only: the second range's blocks are sorted as a
  // list. Either way each range becomes a few large blocks.
  const size_t words = merge_bitmap_words(source.high_water() - source.base());
  std::vector<uint64_t> bits(words, 0);
  heap.coalesce_free_blocks(MergeScratch{bits.data(), words});
  for (uint64_t word : bits) ASSERT_EQ(word, 0u);
  const Span first = heap.take_free_region(64 << 10, 64 << 10, false);
  const Span second = heap.take_free_region(64 << 10, 64 << 10, false);
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  EXPECT_TRUE(first.begin >= source.second() || second.begin >= source.second());
}

}  // namespace
}  // namespace freebump
