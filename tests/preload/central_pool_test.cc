// The central pool on a fixed buffer: chains in and out, a retiring heap's bump region, merging,
// memory given back when idle and on trim, and damage found on the way. Deterministic: the
// test platform's clock moves only when a test moves it.
#include "preload/central_pool.h"

#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"
#include "tests/preload/test_platform.h"

namespace freebump {
namespace {

using testing::TestPlatform;

// A pool over a 64 MiB test platform, and heaps on it.
class PoolTest : public ::testing::Test {
 protected:
  PoolTest() : platform_(uint64_t{64} << 20), pool_(&platform_, MemorySource::kNoHugeBlocks, false) {}

  // `count` blocks of `size` bytes from `heap`, each written through.
  static std::vector<void*> allocate(FreeingBumpHeap& heap, size_t size, size_t count) {
    std::vector<void*> blocks;
    for (size_t i = 0; i < count; ++i) {
      void* block = heap.allocate(size);
      EXPECT_NE(block, nullptr);
      if (block == nullptr) break;
      memset(block, 0xA5, size);
      blocks.push_back(block);
    }
    return blocks;
  }
  static void free_all(FreeingBumpHeap& heap, const std::vector<void*>& blocks) {
    for (void* block : blocks) ASSERT_EQ(heap.free(block), HeapError::kNone);
  }
  // Moves every block of the heap's list of `order` to the pool as one chain.
  void give_list(FreeingBumpHeap& heap, unsigned order) {
    ASSERT_EQ(pool_.take_from(heap, order, ~uint64_t{0}), HeapError::kNone);
    ASSERT_EQ(heap.free_count(order), 0u);
  }
  uint64_t pool_blocks(unsigned order) {
    const PoolStats stats = pool_.stats();
    return stats.chained_blocks[order] + stats.reserve_blocks[order];
  }

  TestPlatform platform_;
  CentralPool pool_;
};

TEST_F(PoolTest, AHeapGetsTheNewestChainBack) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap giver(&pool_), taker(&pool_);
  const unsigned order = order_for_size(100);
  const std::vector<void*> older = allocate(giver, 100, 10);
  const std::vector<void*> newer = allocate(giver, 100, 10);
  free_all(giver, older);
  give_list(giver, order);
  free_all(giver, newer);
  give_list(giver, order);
  EXPECT_EQ(pool_blocks(order), 20u);

  ASSERT_EQ(pool_.give_to(taker, order, 100), HeapError::kNone);
  EXPECT_EQ(taker.free_count(order), 10u);
  // LIFO all the way: the last block freed comes out first.
  for (size_t i = newer.size(); i-- > 0;) EXPECT_EQ(taker.allocate(100), newer[i]);
  ASSERT_EQ(pool_.give_to(taker, order, 100), HeapError::kNone);
  for (size_t i = older.size(); i-- > 0;) EXPECT_EQ(taker.allocate(100), older[i]);
  EXPECT_EQ(pool_blocks(order), 0u);
}

TEST_F(PoolTest, ASmallRefillSplitsAChainAndLeavesTheRestOnTop) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap giver(&pool_), taker(&pool_);
  const unsigned order = order_for_size(40);
  const std::vector<void*> blocks = allocate(giver, 40, 10);
  free_all(giver, blocks);
  give_list(giver, order);

  ASSERT_EQ(pool_.give_to(taker, order, 3), HeapError::kNone);
  EXPECT_EQ(taker.free_count(order), 3u);
  EXPECT_EQ(pool_blocks(order), 7u);
  EXPECT_EQ(taker.allocate(40), blocks[9]);
  EXPECT_EQ(taker.allocate(40), blocks[8]);
  EXPECT_EQ(taker.allocate(40), blocks[7]);
  ASSERT_EQ(pool_.give_to(taker, order, 100), HeapError::kNone);
  EXPECT_EQ(taker.free_count(order), 7u);
  EXPECT_EQ(taker.allocate(40), blocks[6]);
}

TEST_F(PoolTest, ARetiredHeapsBumpRegionServesTheNextHeapWhole) {
  FreeingBumpHeap first(&pool_), second(&pool_);
  void* a = first.allocate(64);
  ASSERT_NE(a, nullptr);
  const uint64_t handed_out = platform_.handed_out();
  ASSERT_EQ(pool_.take_all_from(first), HeapError::kNone);
  EXPECT_EQ(first.bump_room(), 0u);
  EXPECT_GT(pool_.stats().spare_bytes, 60000u);

  // The second heap bumps on from where the first stopped: no fresh memory.
  void* b = second.allocate(64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b), reinterpret_cast<uintptr_t>(a) + block_bytes(order_for_size(64)));
  EXPECT_EQ(platform_.handed_out(), handed_out);
  EXPECT_EQ(pool_.stats().spare_bytes, 0u);
  // And the first heap, used again, asks for bump space like a new one.
  EXPECT_NE(first.allocate(64), nullptr);
  EXPECT_GT(platform_.handed_out(), handed_out);
}

TEST_F(PoolTest, MergingLetsFreedSmallBlocksServeALargerOrder) {
  FreeingBumpHeap small(&pool_), large(&pool_);
  // 8 MiB of 48-byte blocks, freed and given to the pool in batches, as a thread does.
  const std::vector<void*> blocks = allocate(small, 40, (size_t{8} << 20) / 48);
  free_all(small, blocks);
  const unsigned order = order_for_size(40);
  while (small.free_count(order) != 0) ASSERT_EQ(pool_.take_from(small, order, 512), HeapError::kNone);
  ASSERT_EQ(pool_.take_all_from(small), HeapError::kNone);
  const uintptr_t small_end = reinterpret_cast<uintptr_t>(blocks.back());
  const uint64_t handed_out = platform_.handed_out();
  ASSERT_TRUE(pool_.merge_due());

  // 4 KiB blocks: the merged region serves them, in the memory the small blocks had.
  const std::vector<void*> pages = allocate(large, 4000, 1000);
  EXPECT_EQ(pool_.stats().merges, 1u);
  EXPECT_EQ(platform_.handed_out(), handed_out);
  for (void* page : pages) EXPECT_LT(reinterpret_cast<uintptr_t>(page), small_end);
  // Everything stays distinct and writable.
  std::vector<void*> sorted = pages;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); ++i) {
    EXPECT_GE(reinterpret_cast<uintptr_t>(sorted[i]) - reinterpret_cast<uintptr_t>(sorted[i - 1]), 4000u);
  }
}

TEST_F(PoolTest, MergedMemoryLeftIdleGoesBack) {
  FreeingBumpHeap small(&pool_), large(&pool_);
  const std::vector<void*> blocks = allocate(small, 40, (size_t{8} << 20) / 48);
  free_all(small, blocks);
  ASSERT_EQ(pool_.take_all_from(small), HeapError::kNone);
  ASSERT_NE(large.allocate(4000), nullptr);  // merges: the chains' memory is in the reserve now
  ASSERT_EQ(pool_.stats().merges, 1u);
  EXPECT_EQ(platform_.discarded(), 0u);
  platform_.advance_ms(CentralPool::kIdleMs + CentralPool::kIdleCheckMs);
  FreeingBumpHeap other(&pool_);
  ASSERT_NE(other.allocate(16), nullptr);  // a pool operation
  // All but the 1 MiB region the large heap took (cut from a bigger merged block) and the
  // pages that hold the merged blocks' tags.
  EXPECT_GE(platform_.discarded(), (size_t{6} << 20));
}

TEST_F(PoolTest, NoMergeBeforeEnoughMemoryCameIn) {
  FreeingBumpHeap heap(&pool_);
  const std::vector<void*> blocks = allocate(heap, 40, (size_t{1} << 20) / 48);
  free_all(heap, blocks);
  ASSERT_EQ(pool_.take_all_from(heap), HeapError::kNone);
  EXPECT_FALSE(pool_.merge_due());  // 1 MiB came in: not worth a merge yet
  EXPECT_NE(heap.allocate(4000), nullptr);
  EXPECT_EQ(pool_.stats().merges, 0u);
}

TEST_F(PoolTest, IdleChainsOfLargeBlocksGiveTheirPagesBack) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap heap(&pool_);
  const unsigned order = order_for_size(40000);
  const std::vector<void*> blocks = allocate(heap, 40000, 8);
  free_all(heap, blocks);
  give_list(heap, order);

  // Not idle yet: a pool operation within kIdleMs gives nothing back.
  platform_.advance_ms(CentralPool::kIdleMs / 2);
  FreeingBumpHeap other(&pool_);
  EXPECT_NE(other.allocate(16), nullptr);
  EXPECT_EQ(platform_.discarded(), 0u);

  platform_.advance_ms(CentralPool::kIdleMs);
  EXPECT_NE(other.allocate(100000), nullptr);  // any pool operation looks for idle memory
  EXPECT_GE(platform_.discarded(), 8 * 36864u);  // at least 9 whole pages of each block
  EXPECT_EQ(static_cast<const uint8_t*>(blocks[0])[20000], 0);  // given back: zero

  // The blocks are still free blocks of their order, tags intact, and serve again.
  ASSERT_EQ(pool_.give_to(heap, order, 100), HeapError::kNone);
  EXPECT_EQ(heap.free_count(order), 8u);
  void* again = heap.allocate(40000);
  EXPECT_TRUE(std::find(blocks.begin(), blocks.end(), again) != blocks.end());
  memset(again, 1, 40000);
}

// A list that ran dry, with no block of its order anywhere in the pool, is refilled by cutting
// the smallest larger block of the reserve: memory freed in one size serves smaller sizes
// before any merge (merged runs of sizes nobody asks for once sat there for good).
TEST_F(PoolTest, ARefillSplitsTheSmallestLargerBlockOfTheReserve) {
  FreeingBumpHeap giver(&pool_), taker(&pool_);
  // Blocks under 64 KiB in every geometry, so that none serves as a bump region instead.
  const unsigned large = order_for_size(30000), medium = order_for_size(16000), small = order_for_size(8000);
  const std::vector<void*> large_blocks = allocate(giver, 30000, 2);
  const std::vector<void*> medium_blocks = allocate(giver, 16000, 1);
  free_all(giver, large_blocks);
  free_all(giver, medium_blocks);
#if FREEBUMP_CHECKED
  // Out of the quarantine onto the lists; the blocks cut below must then be poisoned as if
  // freed, or handing them out reports a write after free.
  ASSERT_EQ(giver.release_quarantine(), HeapError::kNone);
#endif
  give_list(giver, large);
  give_list(giver, medium);
  platform_.advance_ms(2 * CentralPool::kIdleMs);
  FreeingBumpHeap other(&pool_);
  ASSERT_NE(other.allocate(16), nullptr);  // a pool operation: the idle chains join the reserve
  ASSERT_EQ(pool_.stats().reserve_blocks[large], 2u);
  ASSERT_EQ(pool_.stats().reserve_blocks[medium], 1u);
  const uint64_t handed_out = platform_.handed_out();

  // The medium block is the smallest that serves: one block of the small order fits in it.
  ASSERT_EQ(pool_.give_to(taker, small, 4), HeapError::kNone);
  ASSERT_EQ(taker.free_count(small), 1u);
  EXPECT_EQ(taker.allocate(8000), medium_blocks[0]);
  EXPECT_EQ(pool_.stats().reserve_blocks[medium], 0u);
  // Then a large one: as many as fit, up to the 4 asked for, in address order.
  const uint64_t fit = std::min<uint64_t>(4, block_bytes(large) / block_bytes(small));
  ASSERT_EQ(pool_.give_to(taker, small, 4), HeapError::kNone);
  ASSERT_EQ(taker.free_count(small), fit);
  EXPECT_EQ(pool_.stats().reserve_blocks[large], 1u);
  uintptr_t previous = 0;
  for (uint64_t i = 0; i < fit; ++i) {
    const uintptr_t block = reinterpret_cast<uintptr_t>(taker.allocate(8000).payload());
    EXPECT_GT(block, previous);
    previous = block;
    const bool inside = std::any_of(large_blocks.begin(), large_blocks.end(), [&](void* large_block) {
      const uintptr_t begin = reinterpret_cast<uintptr_t>(large_block);
      return block >= begin && block + 8000 <= begin + usable_bytes(large);
    });
    EXPECT_TRUE(inside);
    memset(reinterpret_cast<void*>(block), 1, 8000);
  }
  // What the cuts left stays free in the reserve, in smaller blocks; no fresh memory.
  uint64_t rest = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    if (order != large) rest += pool_.stats().reserve_blocks[order] * block_bytes(order);
  }
  EXPECT_GE(rest, block_bytes(large) - fit * block_bytes(small) + block_bytes(medium) - block_bytes(small) - 32);
  EXPECT_EQ(platform_.handed_out(), handed_out);
}

// Without a merge or idle time, freed blocks of a larger order sit in chains: a dry list of a
// smaller order is still served by cutting one of them, not by fresh memory.
TEST_F(PoolTest, ARefillCutsABlockOfALargerOrdersChain) {
  FreeingBumpHeap giver(&pool_), taker(&pool_);
  const unsigned large = order_for_size(30000), small = order_for_size(8000);
  const std::vector<void*> large_blocks = allocate(giver, 30000, 1);
  free_all(giver, large_blocks);
#if FREEBUMP_CHECKED
  ASSERT_EQ(giver.release_quarantine(), HeapError::kNone);  // onto the list, poisoned
#endif
  give_list(giver, large);
  ASSERT_EQ(pool_.stats().chained_blocks[large], 1u);
  ASSERT_EQ(pool_.stats().reserve_blocks[large], 0u);
  const uint64_t handed_out = platform_.handed_out();
  // A much smaller order (beyond the cut's reach of 16 times the size) leaves it whole.
  const unsigned tiny = order_for_size(16);
  ASSERT_EQ(pool_.give_to(taker, tiny, 1), HeapError::kNone);
  EXPECT_EQ(taker.free_count(tiny), 0u);
  EXPECT_EQ(pool_.stats().chained_blocks[large], 1u);

  ASSERT_EQ(pool_.give_to(taker, small, 1), HeapError::kNone);
  ASSERT_EQ(taker.free_count(small), 1u);
  EXPECT_EQ(taker.allocate(8000), large_blocks[0]);
  EXPECT_EQ(pool_blocks(large), 0u);
  // The rest of the cut block is free in the reserve, in smaller blocks.
  uint64_t rest = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) rest += pool_.stats().reserve_blocks[order] * block_bytes(order);
  EXPECT_GE(rest, block_bytes(large) - block_bytes(small) - 16);
  EXPECT_EQ(platform_.handed_out(), handed_out);
}

// The platform's own idle memory (cached huge mappings) goes back on the pool's idle check.
TEST_F(PoolTest, ThePlatformIsAskedForItsIdleMemoryToo) {
  FreeingBumpHeap heap(&pool_);
  platform_.advance_ms(2 * CentralPool::kIdleCheckMs);
  ASSERT_NE(heap.allocate(16), nullptr);  // a pool operation
  EXPECT_EQ(platform_.last_idle_since_ms, platform_.now_ms() - CentralPool::kIdleMs);
}

TEST_F(PoolTest, IdleSmallBlocksAreMergedThenGiveTheirPagesBack) {
  FreeingBumpHeap heap(&pool_);
  const unsigned order = order_for_size(24);
  const std::vector<void*> blocks = allocate(heap, 24, (size_t{2} << 20) / 32);
  free_all(heap, blocks);
  while (heap.free_count(order) != 0) ASSERT_EQ(pool_.take_from(heap, order, 1024), HeapError::kNone);
  platform_.advance_ms(2 * CentralPool::kIdleMs);
  FreeingBumpHeap other(&pool_);
  EXPECT_NE(other.allocate(16), nullptr);
  EXPECT_EQ(pool_.stats().merges, 1u);
  EXPECT_GE(platform_.discarded(), (size_t{2} << 20) - (size_t{64} << 10));
  // The merged memory serves any order again.
  const uint64_t handed_out = platform_.handed_out();
  const std::vector<void*> again = allocate(other, 100000, 10);
  EXPECT_EQ(platform_.handed_out(), handed_out);
}

TEST_F(PoolTest, IdleSpareRegionsGiveTheirPagesBackAndStillServe) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap first(&pool_), second(&pool_), other(&pool_);
  void* a = first.allocate(64);
  void* o = other.allocate(16);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(o, nullptr);
  ASSERT_EQ(pool_.take_all_from(first), HeapError::kNone);
  platform_.advance_ms(2 * CentralPool::kIdleMs);
  ASSERT_EQ(other.free(o), HeapError::kNone);
  give_list(other, order_for_size(16));  // a pool operation: it finds the spare region idle
  EXPECT_GT(platform_.discarded(), 48000u);

  const uint64_t handed_out = platform_.handed_out();
  void* b = second.allocate(64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b), reinterpret_cast<uintptr_t>(a) + block_bytes(order_for_size(64)));
  EXPECT_EQ(platform_.handed_out(), handed_out);
}

TEST_F(PoolTest, ReturningFreePagesGivesBackEverythingFreeAndTheHeapGoesOn) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap heap(&pool_);
  const std::vector<void*> small = allocate(heap, 100, 40000);   // ~5.5 MiB
  const std::vector<void*> pages = allocate(heap, 4000, 1000);   // ~4 MiB
  free_all(heap, small);
  free_all(heap, pages);
  ASSERT_EQ(pool_.take_all_from(heap), HeapError::kNone);
  const uint64_t returned = pool_.return_free_pages();
  EXPECT_EQ(returned, platform_.discarded());
  EXPECT_GE(returned, platform_.handed_out() - (size_t{256} << 10));
  // Whatever tags the free blocks need survived: the memory serves every size again.
  const uint64_t handed_out = platform_.handed_out();
  for (size_t size : {16, 100, 4000, 70000}) {
    const std::vector<void*> blocks = allocate(heap, size, (size_t{1} << 20) / size);
    free_all(heap, blocks);
  }
  EXPECT_EQ(platform_.handed_out(), handed_out);
}

TEST_F(PoolTest, ADamagedChainIsReportedWhenItIsSplit) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap giver(&pool_), taker(&pool_);
  const unsigned order = order_for_size(40);
  const std::vector<void*> blocks = allocate(giver, 40, 10);
  free_all(giver, blocks);
  give_list(giver, order);
  // A stray write over the tag of the third block from the top.
  uint64_t damaged;
  memcpy(&damaged, static_cast<uint8_t*>(blocks[7]) - kHeaderBytes, 8);
  damaged ^= 1;
  memcpy(static_cast<uint8_t*>(blocks[7]) - kHeaderBytes, &damaged, 8);
  EXPECT_EQ(pool_.give_to(taker, order, 5), HeapError::kCorruptFreeList);
}

TEST_F(PoolTest, ManyChainsGrowTheRingAndBookkeepingStaysBounded) {
  SKIP_IF_QUARANTINED();
  FreeingBumpHeap giver(&pool_), taker(&pool_);
  const unsigned order = order_for_size(16);
  const std::vector<void*> blocks = allocate(giver, 16, 20000);
  free_all(giver, blocks);
  while (giver.free_count(order) != 0) ASSERT_EQ(pool_.take_from(giver, order, 2), HeapError::kNone);
  EXPECT_EQ(pool_.stats().chained_blocks[order], 20000u);
  EXPECT_EQ(platform_.metadata_mappings(), 1u);  // one ring, the old ones given back
  size_t taken = 0;
  while (pool_blocks(order) != 0) {
    ASSERT_EQ(pool_.give_to(taker, order, 2), HeapError::kNone);
    while (taker.free_count(order) != 0) {
      ASSERT_NE(taker.allocate(16), nullptr);
      taken++;
    }
  }
  EXPECT_EQ(taken, 20000u);
}

}  // namespace
}  // namespace freebump
