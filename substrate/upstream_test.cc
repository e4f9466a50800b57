// sc-allocator's unit tests (paritytech/polkadot-sdk, substrate/client/allocator/src/
// freeing_bump.rs, mod tests), each reproduced with the same inputs and the same expected
// pointers, list heads, statistics and errors; then the inputs the paritytech/substrate
// versions of four of them used (memories that are not whole pages); then what the upstream
// tests leave out but the rules in allocator.h state.
//
// The tests of the allocator's behaviour are typed: they run on HostAllocator and on the
// reference model the golden table comes from (reference_model.h), so the model is checked
// against every upstream expectation too. sc-allocator's tests of the layout alone (sizes,
// headers) are in layout_test.cc.
#include <stdint.h>
#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "substrate/allocator.h"
#include "substrate/error_printer.h"
#include "substrate/layout.h"
#include "substrate/reference_model.h"
#include "substrate/test_memory.h"

namespace freebump {
namespace substrate {
namespace {

using testing::ReferenceModel;
using testing::TestMemory;

constexpr uint32_t kPage = kPageBytes;

template <class Allocator>
class SubstrateUpstream : public ::testing::Test {};
using Implementations = ::testing::Types<HostAllocator, ReferenceModel>;
TYPED_TEST_SUITE(SubstrateUpstream, Implementations);

template <class Allocator>
uint32_t allocate_ok(Allocator& heap, TestMemory& memory, uint32_t size) {
  const Allocation result = heap.allocate(memory, size);
  EXPECT_EQ(result.error, Error::kNone) << "allocate(" << size << "): " << message(result.error);
  return result.pointer;
}

// ---- freeing_bump.rs tests, in its order ---------------------------------------------------

TYPED_TEST(SubstrateUpstream, ShouldAllocateProperly) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  // The pointer starts right after the 8-byte header.
  EXPECT_EQ(allocate_ok(heap, memory, 1), kHeaderBytes);
}

TYPED_TEST(SubstrateUpstream, ShouldAlwaysAlignPointersToMultiplesOf8) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(13);
  // The next multiple of 8 from 13, plus the header.
  EXPECT_EQ(allocate_ok(heap, memory, 1), 24u);
}

TYPED_TEST(SubstrateUpstream, ShouldIncrementPointersProperly) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  const uint32_t ptr1 = allocate_ok(heap, memory, 1);
  const uint32_t ptr2 = allocate_ok(heap, memory, 9);
  const uint32_t ptr3 = allocate_ok(heap, memory, 1);
  EXPECT_EQ(ptr1, kHeaderBytes);
  // ptr1's header and its 8 bytes, then ptr2's header.
  EXPECT_EQ(ptr2, 24u);
  // ptr2 and its 16 bytes, then ptr3's header: 48, 8 mod 16 after a 16-byte payload.
  EXPECT_EQ(ptr3, 24u + 16 + kHeaderBytes);
}

TYPED_TEST(SubstrateUpstream, ShouldFreeProperly) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  const uint32_t ptr1 = allocate_ok(heap, memory, 1);
  EXPECT_EQ(ptr1, kHeaderBytes);
  const uint32_t ptr2 = allocate_ok(heap, memory, 1);
  EXPECT_EQ(ptr2, 24u);
  ASSERT_EQ(heap.deallocate(memory, ptr2), Error::kNone);
  // Order 0's list starts at ptr2's header.
  EXPECT_EQ(heap.free_list_head(0), ptr2 - kHeaderBytes);
}

TYPED_TEST(SubstrateUpstream, ShouldDeallocateAndReallocateProperly) {
  TestMemory memory = TestMemory::with_pages(1);
  const uint32_t padded_offset = 16;
  TypeParam heap(13);
  const uint32_t ptr1 = allocate_ok(heap, memory, 1);
  EXPECT_EQ(ptr1, padded_offset + kHeaderBytes);
  const uint32_t ptr2 = allocate_ok(heap, memory, 9);
  EXPECT_EQ(ptr2, padded_offset + 16 + kHeaderBytes);
  ASSERT_EQ(heap.deallocate(memory, ptr2), Error::kNone);
  const uint32_t ptr3 = allocate_ok(heap, memory, 9);
  // Reallocated from the list, which is empty again, as every list is.
  EXPECT_EQ(ptr3, padded_offset + 16 + kHeaderBytes);
  for (unsigned order = 0; order < kNumOrders; ++order) {
    EXPECT_EQ(heap.free_list_head(order), kNilLink) << order;
  }
}

TYPED_TEST(SubstrateUpstream, ShouldBuildLinkedListOfFreeAreasProperly) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  const uint32_t ptr1 = allocate_ok(heap, memory, 8);
  const uint32_t ptr2 = allocate_ok(heap, memory, 8);
  const uint32_t ptr3 = allocate_ok(heap, memory, 8);
  ASSERT_EQ(heap.deallocate(memory, ptr1), Error::kNone);
  ASSERT_EQ(heap.deallocate(memory, ptr2), Error::kNone);
  ASSERT_EQ(heap.deallocate(memory, ptr3), Error::kNone);
  EXPECT_EQ(heap.free_list_head(0), ptr3 - kHeaderBytes);
  const uint32_t ptr4 = allocate_ok(heap, memory, 8);
  EXPECT_EQ(ptr4, ptr3);
  EXPECT_EQ(heap.free_list_head(0), ptr2 - kHeaderBytes);
}

TYPED_TEST(SubstrateUpstream, ShouldNotAllocateIfTooLarge) {
  TestMemory memory = TestMemory::with_pages(1);
  memory.set_max_pages(1);
  TypeParam heap(13);
  EXPECT_EQ(heap.allocate(memory, kPage - 13).error, Error::kAllocatorOutOfSpace);
}

TYPED_TEST(SubstrateUpstream, ShouldNotAllocateIfFull) {
  TestMemory memory = TestMemory::with_pages(1);
  memory.set_max_pages(1);
  TypeParam heap(0);
  const uint32_t ptr1 = allocate_ok(heap, memory, kPage / 2 - kHeaderBytes);
  EXPECT_EQ(ptr1, kHeaderBytes);
  // No room for another half page with its header.
  EXPECT_EQ(heap.allocate(memory, kPage / 2).error, Error::kAllocatorOutOfSpace);
}

TYPED_TEST(SubstrateUpstream, ShouldAllocateMaxPossibleAllocationSize) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  EXPECT_EQ(allocate_ok(heap, memory, kMaxAllocation), kHeaderBytes);
  // Grown to exactly the pages needed (more than doubling gives): 32 MiB + 8 bytes.
  EXPECT_EQ(memory.pages(), 513u);
}

TYPED_TEST(SubstrateUpstream, ShouldNotAllocateIfRequestedSizeTooLarge) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  EXPECT_EQ(heap.allocate(memory, kMaxAllocation + 1).error, Error::kRequestedAllocationTooLarge);
}

TYPED_TEST(SubstrateUpstream, ShouldReturnErrorWhenBumperGreaterThanHeapSize) {
  TestMemory memory = TestMemory::with_pages(1);
  memory.set_max_pages(1);
  TypeParam heap(0);
  std::vector<uint32_t> pointers;
  for (uint32_t i = 0; i < kPage / 40; ++i) pointers.push_back(allocate_ok(heap, memory, 32));
  EXPECT_EQ(heap.stats().bytes_allocated, kPage - 16);
  EXPECT_EQ(heap.bumper(), kPage - 16);
  for (uint32_t pointer : pointers) ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
  EXPECT_EQ(heap.stats().bytes_allocated, 0u);
  EXPECT_EQ(heap.stats().bytes_allocated_peak, kPage - 16);
  EXPECT_EQ(heap.bumper(), kPage - 16);
  // Another 8 bytes use the whole heap.
  allocate_ok(heap, memory, 8);
  EXPECT_EQ(uint64_t{heap.bumper()}, memory.byte_length());
  // No 8-byte block has been freed, so this one would bump past the end.
  EXPECT_EQ(heap.allocate(memory, 8).error, Error::kAllocatorOutOfSpace);
}

TYPED_TEST(SubstrateUpstream, ShouldIncludePrefixesInTotalHeapSize) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(1);
  // An item size of 16 must be used.
  allocate_ok(heap, memory, 9);
  EXPECT_EQ(heap.stats().bytes_allocated, kHeaderBytes + 16);
}

TYPED_TEST(SubstrateUpstream, ShouldCalculateTotalHeapSizeToZero) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(13);
  const uint32_t ptr = allocate_ok(heap, memory, 42);
  EXPECT_EQ(ptr, 16 + kHeaderBytes);
  ASSERT_EQ(heap.deallocate(memory, ptr), Error::kNone);
  EXPECT_EQ(heap.stats().bytes_allocated, 0u);
}

TYPED_TEST(SubstrateUpstream, ShouldCalculateTotalSizeOfZero) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(19);
  for (int i = 1; i < 10; ++i) {
    const uint32_t ptr = allocate_ok(heap, memory, 42);
    ASSERT_EQ(heap.deallocate(memory, ptr), Error::kNone);
  }
  EXPECT_EQ(heap.stats().bytes_allocated, 0u);
}

TYPED_TEST(SubstrateUpstream, DeallocateNeedsToMaintainLinkedList) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  std::vector<uint32_t> pointers;
  for (int i = 0; i < 4; ++i) pointers.push_back(allocate_ok(heap, memory, 8));
  for (auto p = pointers.rbegin(); p != pointers.rend(); ++p) {
    ASSERT_EQ(heap.deallocate(memory, *p), Error::kNone);
  }
  // The same pointers again, in the same order.
  std::vector<uint32_t> again;
  for (int i = 0; i < 4; ++i) again.push_back(allocate_ok(heap, memory, 8));
  EXPECT_EQ(again, pointers);
}

TYPED_TEST(SubstrateUpstream, PoisonOom) {
  TestMemory memory = TestMemory::with_pages(1);
  memory.set_max_pages(1);
  TypeParam heap(0);
  const uint32_t pointer = allocate_ok(heap, memory, kPage / 2);
  EXPECT_EQ(heap.allocate(memory, kPage).error, Error::kAllocatorOutOfSpace);
  EXPECT_TRUE(heap.poisoned());
  EXPECT_NE(heap.deallocate(memory, pointer), Error::kNone);
}

TYPED_TEST(SubstrateUpstream, AcceptsGrowingMemory) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  allocate_ok(heap, memory, kPage / 2);
  allocate_ok(heap, memory, kPage / 2);
  // The host grows the memory itself; the allocator bumps on into it.
  ASSERT_TRUE(memory.grow(1));
  allocate_ok(heap, memory, kPage / 2);
}

TYPED_TEST(SubstrateUpstream, DoesntAcceptShrinkingMemory) {
  TestMemory memory = TestMemory::with_pages(2);
  TypeParam heap(0);
  allocate_ok(heap, memory, kPage / 2);
  memory.set_length(kPage);
  EXPECT_EQ(heap.allocate(memory, kPage / 2).error, Error::kMemoryShrank);
}

TYPED_TEST(SubstrateUpstream, ShouldGrowMemoryWhenRunningOutOfMemory) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  EXPECT_EQ(memory.pages(), 1u);
  allocate_ok(heap, memory, kPage * 2);
  EXPECT_EQ(memory.pages(), 3u);
}

TYPED_TEST(SubstrateUpstream, ModifyingTheHeaderLeadsToAnError) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(0);
  const uint32_t pointer = allocate_ok(heap, memory, 5);
  ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
  ASSERT_TRUE(write_le_u64(memory, pointer - kHeaderBytes, free_header(UINT32_MAX - 1)));
  allocate_ok(heap, memory, 5);
  const Allocation result = heap.allocate(memory, 5);
  EXPECT_EQ(result.error, Error::kInvalidHeaderPointer);
  EXPECT_NE(std::string(message(result.error)).find("Invalid header pointer"), std::string::npos);
}

// ---- The paritytech/substrate versions' inputs: memories that are not whole pages ----------

// poison_oom there: a 32-byte memory (one page by count) fits two 8-byte blocks; the third
// passes the page check but its header write falls outside the 32 bytes.
TYPED_TEST(SubstrateUpstream, PoisonOomInA32ByteMemory) {
  TestMemory memory = TestMemory::with_bytes(32);
  memory.set_max_pages(1);
  TypeParam heap(0);
  allocate_ok(heap, memory, 8);
  const uint32_t pointer = allocate_ok(heap, memory, 8);
  EXPECT_EQ(heap.allocate(memory, 8).error, Error::kWriteOutOfBounds);
  EXPECT_TRUE(heap.poisoned());
  EXPECT_EQ(heap.deallocate(memory, pointer), Error::kPoisoned);
  // The bump pointer moved before the write failed; the statistics did not.
  EXPECT_EQ(heap.bumper(), 48u);
  EXPECT_EQ(heap.stats().bytes_allocated, 32u);
  EXPECT_EQ(heap.stats().address_space_used, 32u);
}

// accepts_growing_memory there: room for two 16-byte items, then the vector is extended by
// one item's footprint.
TYPED_TEST(SubstrateUpstream, AcceptsGrowingMemoryByOneItem) {
  const uint32_t item_size = 16;
  const uint32_t item_on_heap = 16 + kHeaderBytes;
  TestMemory memory = TestMemory::with_bytes(item_on_heap * 2);
  TypeParam heap(0);
  allocate_ok(heap, memory, item_size);
  allocate_ok(heap, memory, item_size);
  memory.set_length(item_on_heap * 3);
  EXPECT_EQ(allocate_ok(heap, memory, item_size), 2 * item_on_heap + kHeaderBytes);
}

// deallocate_needs_to_maintain_linked_list there: four 8-byte items in 8 * 2 * 4 + 8 bytes.
TYPED_TEST(SubstrateUpstream, DeallocateNeedsToMaintainLinkedListIn72Bytes) {
  TestMemory memory = TestMemory::with_bytes(8 * 2 * 4 + kAlignment);
  TypeParam heap(0);
  std::vector<uint32_t> pointers;
  for (int i = 0; i < 4; ++i) pointers.push_back(allocate_ok(heap, memory, 8));
  for (uint32_t pointer : pointers) ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
  // All four come back, most recently freed first.
  for (int i = 3; i >= 0; --i) EXPECT_EQ(allocate_ok(heap, memory, 8), pointers[i]);
}

// should_allocate_max_possible_allocation_size there: a memory of 32 MiB and a page.
TYPED_TEST(SubstrateUpstream, ShouldAllocateMaxPossibleAllocationSizeInPresizedMemory) {
  TestMemory memory = TestMemory::with_bytes(uint64_t{kMaxAllocation} + kPage);
  TypeParam heap(0);
  EXPECT_EQ(allocate_ok(heap, memory, kMaxAllocation), kHeaderBytes);
  EXPECT_EQ(memory.grow_calls(), 0u);
}

// ---- What the upstream tests leave out -----------------------------------------------------

TYPED_TEST(SubstrateUpstream, EveryErrorPoisons) {
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    EXPECT_EQ(heap.allocate(memory, kMaxAllocation + 1).error, Error::kRequestedAllocationTooLarge);
    EXPECT_EQ(heap.allocate(memory, 8).error, Error::kPoisoned);
  }
  {
    TestMemory memory = TestMemory::with_pages(2);
    TypeParam heap(0);
    const uint32_t pointer = allocate_ok(heap, memory, 8);
    memory.set_length(kPage);
    EXPECT_EQ(heap.deallocate(memory, pointer), Error::kMemoryShrank);
    memory.set_length(2 * kPage);
    EXPECT_EQ(heap.allocate(memory, 8).error, Error::kPoisoned);
  }
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    EXPECT_EQ(heap.deallocate(memory, 7), Error::kInvalidPointerForDeallocation);
    EXPECT_TRUE(heap.poisoned());
    EXPECT_EQ(heap.deallocate(memory, 8), Error::kPoisoned);
  }
}

// The growth rule: double the pages if the maximum allows, else up to the maximum, else
// exactly what is needed when that is more.
TYPED_TEST(SubstrateUpstream, GrowthDoublesUpToTheMaximumOrTakesWhatIsNeeded) {
  TestMemory memory = TestMemory::with_pages(3);
  TypeParam heap(0);
  allocate_ok(heap, memory, 2 * kPage);  // a block of 128 KiB + 8 fits in 3 pages
  allocate_ok(heap, memory, kPage);      // ends 16 bytes into a 4th page: doubled to 6
  EXPECT_EQ(memory.pages(), 6u);
  allocate_ok(heap, memory, kPage);      // fits
  memory.set_max_pages(8);
  allocate_ok(heap, memory, 2 * kPage);  // needs 7: doubling (12) capped at the maximum, 8
  EXPECT_EQ(memory.pages(), 8u);
  memory.set_max_pages(100);
  allocate_ok(heap, memory, 32 * kPage);  // needs 39, more than doubling gives: exactly 39
  EXPECT_EQ(memory.pages(), 39u);
  EXPECT_EQ(memory.grow_calls(), 3u);
  EXPECT_EQ(heap.stats().address_space_used, 2490408u);
}

TYPED_TEST(SubstrateUpstream, OutOfSpaceWhenTheNeedExceedsTheMaximumOrTheEngineRefuses) {
  {
    TestMemory memory = TestMemory::with_pages(1);
    memory.set_max_pages(4);
    TypeParam heap(0);
    EXPECT_EQ(heap.allocate(memory, 4 * kPage).error, Error::kAllocatorOutOfSpace);
    EXPECT_EQ(memory.grow_calls(), 0u);  // refused before asking the engine
  }
  {
    // An engine whose limit is below the declared maximum.
    struct RefusingMemory final : LinearMemory {
      uint32_t pages() const override { return 1; }
      bool grow(uint32_t) override { return false; }
      void read(uint32_t, void* into, uint32_t bytes) const override { memset(into, 0, bytes); }
      void write(uint32_t, const void*, uint32_t) override {}
    } memory;
    TypeParam heap(0);
    EXPECT_EQ(heap.allocate(memory, kPage).error, Error::kAllocatorOutOfSpace);
  }
}

// An engine that says it grew but did not: the header write fails (sc-allocator does not
// check the new size).
TYPED_TEST(SubstrateUpstream, AnEngineThatDoesNotGrowFailsTheHeaderWrite) {
  struct StuckMemory final : LinearMemory {
    uint32_t pages() const override { return 1; }
    bool grow(uint32_t) override { return true; }
    void read(uint32_t, void* into, uint32_t bytes) const override { memset(into, 0, bytes); }
    void write(uint32_t, const void*, uint32_t) override {}
  } memory;
  TypeParam heap(kPage);
  EXPECT_EQ(heap.allocate(memory, 8).error, Error::kWriteOutOfBounds);
  EXPECT_EQ(heap.bumper(), kPage + 16);
}

// polkadot-sdk#13144: a block ending exactly at 4 GiB wraps the u32 bump pointer to 0, and the
// next block is placed at 0, over the memory's first bytes. Nodes run release builds, where
// Rust's u32 addition wraps, so this is what a runtime observes.
TYPED_TEST(SubstrateUpstream, TheBumpPointerWrapsAtExactly4GiB) {
  TestMemory memory = TestMemory::with_pages(kMaxWasmPages);
  const uint32_t heap_base = static_cast<uint32_t>((uint64_t{1} << 32) - (kMaxAllocation + kHeaderBytes));
  TypeParam heap(heap_base);
  EXPECT_EQ(allocate_ok(heap, memory, kMaxAllocation), heap_base + kHeaderBytes);
  EXPECT_EQ(heap.bumper(), 0u);
  EXPECT_EQ(heap.stats().address_space_used, static_cast<uint32_t>(0u - heap_base));
  EXPECT_EQ(allocate_ok(heap, memory, 8), kHeaderBytes);
  EXPECT_EQ(heap.bumper(), 16u);
  EXPECT_EQ(heap.stats().address_space_used, 33554456u);
  EXPECT_EQ(memory.grow_calls(), 0u);
}

TYPED_TEST(SubstrateUpstream, DeallocateReadsWhateverHeaderIsThere) {
  {
    // A forged occupied header is freed onto its order's list.
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    allocate_ok(heap, memory, 64);  // bytes_allocated 72, enough for the forged block
    ASSERT_TRUE(write_le_u64(memory, 1000, occupied_header(2) | 0xABCD000000000000u));
    EXPECT_EQ(heap.deallocate(memory, 1008), Error::kNone);
    EXPECT_EQ(heap.free_list_head(2), 1000u);
    EXPECT_EQ(heap.stats().bytes_allocated, 72u - 40u);
    // Its block comes back from the list.
    EXPECT_EQ(allocate_ok(heap, memory, 32), 1008u);
  }
  {
    // More bytes than are allocated: the block is listed, the error poisons.
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    allocate_ok(heap, memory, 8);
    ASSERT_TRUE(write_le_u64(memory, 1000, occupied_header(3)));
    EXPECT_EQ(heap.deallocate(memory, 1008), Error::kAllocatedBytesUnderflow);
    EXPECT_EQ(heap.free_list_head(3), 1000u);
    EXPECT_EQ(heap.stats().bytes_allocated, 16u);
  }
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    ASSERT_TRUE(write_le_u64(memory, 1000, occupied_header(23)));
    EXPECT_EQ(heap.deallocate(memory, 1008), Error::kInvalidOrder);
  }
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    const uint32_t pointer = allocate_ok(heap, memory, 8);
    ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
    EXPECT_EQ(heap.deallocate(memory, pointer), Error::kFreeOfFreeHeader);  // double free
  }
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    // The header's first byte is inside the memory, its last is not.
    EXPECT_EQ(heap.deallocate(memory, kPage + 1), Error::kReadOutOfBounds);
  }
}

TYPED_TEST(SubstrateUpstream, AFreeListHeadMustReadAsFree) {
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    const uint32_t pointer = allocate_ok(heap, memory, 8);
    ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
    ASSERT_TRUE(write_le_u64(memory, pointer - 8, occupied_header(0)));
    EXPECT_EQ(heap.allocate(memory, 8).error, Error::kFreeListPointsToOccupied);
    EXPECT_EQ(heap.free_list_head(0), pointer - 8);
  }
  {
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    const uint32_t pointer = allocate_ok(heap, memory, 8);
    ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
    ASSERT_TRUE(write_le_u64(memory, pointer - 8, occupied_header(99)));
    EXPECT_EQ(heap.allocate(memory, 8).error, Error::kInvalidOrder);
  }
  {
    // A link to the last 8 bytes of the memory: the header fits, its block does not.
    TestMemory memory = TestMemory::with_pages(1);
    TypeParam heap(0);
    const uint32_t pointer = allocate_ok(heap, memory, 8);
    ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
    ASSERT_TRUE(write_le_u64(memory, pointer - 8, free_header(kPage - 8)));
    EXPECT_EQ(allocate_ok(heap, memory, 8), pointer);
    EXPECT_EQ(heap.free_list_head(0), kPage - 8);
    EXPECT_EQ(heap.allocate(memory, 8).error, Error::kInvalidHeaderPointer);
  }
  {
    // Within the pages but past the host's shorter view: the read fails.
    TestMemory memory = TestMemory::with_bytes(100);
    TypeParam heap(0);
    const uint32_t pointer = allocate_ok(heap, memory, 8);
    ASSERT_EQ(heap.deallocate(memory, pointer), Error::kNone);
    ASSERT_TRUE(write_le_u64(memory, pointer - 8, free_header(96)));
    allocate_ok(heap, memory, 8);
    EXPECT_EQ(heap.allocate(memory, 8).error, Error::kReadOutOfBounds);
  }
}

// Blocks handed out never overlap each other or the headers: every payload keeps what was
// written into it until it is freed. Sizes 0 .. 4 KiB in a random order of allocations and
// frees, on both implementations.
TYPED_TEST(SubstrateUpstream, LiveBlocksKeepTheirContents) {
  TestMemory memory = TestMemory::with_pages(1);
  TypeParam heap(4);
  struct Live {
    uint32_t pointer;
    uint32_t size;
    uint8_t stamp;
  };
  std::vector<Live> live;
  uint64_t state = 0x9E3779B97F4A7C15u;
  const auto next = [&state] {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Du;
  };
  const auto check_and_free = [&](size_t index) {
    const Live block = live[index];
    std::vector<uint8_t> bytes(block.size);
    memory.read(block.pointer, bytes.data(), block.size);
    for (uint32_t i = 0; i < block.size; ++i) {
      ASSERT_EQ(bytes[i], static_cast<uint8_t>(block.stamp + i)) << block.pointer << "+" << i;
    }
    ASSERT_EQ(heap.deallocate(memory, block.pointer), Error::kNone);
    live[index] = live.back();
    live.pop_back();
  };
  for (int step = 0; step < 3000; ++step) {
    if (live.empty() || next() % 5 < 3) {
      const uint32_t size = static_cast<uint32_t>(next() % 4097);
      const uint32_t pointer = allocate_ok(heap, memory, size);
      ASSERT_EQ(pointer % 8, 0u);
      const uint8_t stamp = static_cast<uint8_t>(next());
      std::vector<uint8_t> bytes(size);
      for (uint32_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(stamp + i);
      if (size > 0) memory.write(pointer, bytes.data(), size);
      live.push_back(Live{pointer, size, stamp});
    } else {
      check_and_free(next() % live.size());
    }
  }
  while (!live.empty()) check_and_free(live.size() - 1);
  EXPECT_EQ(heap.stats().bytes_allocated, 0u);
}

}  // namespace
}  // namespace substrate
}  // namespace freebump
