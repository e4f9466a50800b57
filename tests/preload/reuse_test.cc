// How much memory the process takes from its source as size classes come and go. Each test
// measures growth of the memory handed out, so it runs in a binary of its own: the tests of
// thread_stress_test leave enough free memory behind to serve anything.
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include <algorithm>
#include <iterator>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

// Memory freed in one size class serves others: a heap that needs fresh memory first takes
// merged free blocks from the central pool. Here through a sweep of size classes, each freed
// in random order before the next (the `orders` benchmark): the blocks the thread still caches
// are scattered through the freed memory, and must join the merge or they cut it into pieces
// too small to reuse.
TEST(Reuse, ASweepOfSizeClassesReusesTheSameMemory) {
  const size_t handed_out = mallinfo2().arena;
  uint64_t state = 99;
  auto next = [&] { return (state = state * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  std::vector<void*> blocks;
  for (unsigned k = 4; k <= 13; ++k) {
    const size_t top = size_t{1} << k;
    const size_t count = std::min<size_t>((size_t{8} << 20) / top, 100000);
    for (size_t i = 0; i < count; ++i) blocks.push_back(malloc(top / 2 + 1 + next() % (top / 2)));
    for (size_t i = blocks.size() - 1; i > 0; --i) std::swap(blocks[i], blocks[next() % (i + 1)]);
    for (void* p : blocks) free(p);
    blocks.clear();
  }
  // Each class needs 8-16 MiB of blocks. Merging with the thread's own blocks took 26 MiB in
  // all when this was written; without them, 44 MiB; without merging, over 100 MiB.
  EXPECT_LT(mallinfo2().arena - handed_out, size_t{36} << 20);
}

// The same for two sizes, in a process that has already been through the sweep.
TEST(Reuse, FreedMemoryServesOtherSizeClasses) {
  std::vector<void*> blocks;
  for (int i = 0; i < 60000; ++i) blocks.push_back(malloc(300));  // ~30 MiB in 528 B blocks
  for (void* p : blocks) free(p);
  blocks.clear();
  const size_t handed_out = mallinfo2().arena;
  for (int i = 0; i < 15000; ++i) blocks.push_back(malloc(1000));  // ~15 MiB in 1040 B blocks
  // Without merging, every one of them would be fresh memory (15 MiB more).
  EXPECT_LT(mallinfo2().arena - handed_out, size_t{4} << 20);
  for (void* p : blocks) free(p);
}

// Blocks one thread frees reach another thread whole and O(1) per chain: the central pool
// keeps any number of chains (here about 400 of 512 blocks, more than its first array holds),
// so the second thread gets the first one's blocks back (but for a few that earlier tests
// left in the pool) and no fresh memory.
TEST(Reuse, EveryChainAThreadGivesUpServesAnotherThread) {
  constexpr size_t kBlocks = 200000;
  // Room for the pointers up front: a vector growing in the second thread would ask for big
  // blocks, and the merge that may take for them would cut up the chains under test.
  std::vector<void*> freed;
  std::vector<void*> taken;
  freed.reserve(kBlocks);
  taken.reserve(kBlocks);
  std::thread([&] {
    for (size_t i = 0; i < kBlocks; ++i) freed.push_back(malloc(16));
    for (void* p : freed) free(p);
  }).join();
  const size_t handed_out = mallinfo2().arena;
  std::thread([&] {
    for (size_t i = 0; i < kBlocks; ++i) taken.push_back(malloc(16));
  }).join();
  EXPECT_EQ(mallinfo2().arena, handed_out);
  std::sort(freed.begin(), freed.end());
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(std::adjacent_find(taken.begin(), taken.end()), taken.end());  // all distinct
  std::vector<void*> both;
  std::set_intersection(taken.begin(), taken.end(), freed.begin(), freed.end(),
                        std::back_inserter(both));
  EXPECT_GE(both.size(), kBlocks - kBlocks / 100);
  for (void* p : taken) free(p);
}

}  // namespace
