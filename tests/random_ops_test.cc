// A seeded random sequence of allocate / aligned allocate / realloc / free against a model:
// every block is stamped with a pattern that is checked before it is freed or moved, and
// every new block is checked not to overlap any live one (header included).
#include <stdint.h>

#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "lib/heap.h"
#include "tests/test_heap.h"

namespace freebump {
namespace {

using testing::BufferHeap;
using testing::Random;
using testing::fill_pattern;
using testing::pattern_intact;

struct LiveEntry {
  void* payload;
  size_t size;
  uint64_t stamp;
};

class Model {
 public:
  // Records [payload - 8, payload + usable): false if it overlaps a live block.
  bool add(uintptr_t payload, size_t usable) {
    const uintptr_t begin = payload - 8;
    const uintptr_t end = payload + usable;
    auto next = ranges_.lower_bound(begin);
    if (next != ranges_.end() && next->first < end) return false;
    if (next != ranges_.begin() && std::prev(next)->second > begin) return false;
    ranges_[begin] = end;
    return true;
  }
  void remove(uintptr_t payload) { ranges_.erase(payload - 8); }

 private:
  std::map<uintptr_t, uintptr_t> ranges_;
};

size_t random_size(Random& random) {
  // Mostly small, sometimes large: an exponent first, then a size below 2^exponent.
  const unsigned exponent = static_cast<unsigned>(random.below(100) < 90 ? random.below(9)
                                                                        : 9 + random.below(9));
  return static_cast<size_t>(random.below(uint64_t{1} << exponent) + 1) - (random.below(16) == 0);
}

void run_random_sequence(uint64_t seed, int steps, size_t buffer_bytes = 64u << 20) {
  BufferHeap h(buffer_bytes);
  FreeingBumpHeap& heap = h.heap();
  Random random(seed);
  Model model;
  std::vector<LiveEntry> live;
  uint64_t next_stamp = 1;
  auto record = [&](void* p, size_t size) {
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    size_t usable = 0;
    ASSERT_EQ(heap.usable_size(p, &usable), HeapError::kNone);
    ASSERT_GE(usable, size);
    ASSERT_TRUE(model.add(reinterpret_cast<uintptr_t>(p), usable)) << "overlap at step";
    fill_pattern(p, size, next_stamp);
    live.push_back(LiveEntry{p, size, next_stamp++});
  };

  for (int step = 0; step < steps; ++step) {
    const uint64_t action = random.below(100);
    if (live.empty() || action < 40) {
      const size_t size = random_size(random);
      const Allocated p = heap.allocate(size);
      if (p.payload() == nullptr) {
        ASSERT_EQ(p.error(), HeapError::kOutOfMemory);
        continue;
      }
      ASSERT_NO_FATAL_FAILURE(record(p, size));
    } else if (action < 50) {
      const size_t alignment = size_t{32} << random.below(8);
      const size_t size = random_size(random);
      const Allocated p = heap.allocate_aligned(alignment, size);
      if (p.payload() == nullptr) {
        ASSERT_EQ(p.error(), HeapError::kOutOfMemory);
        continue;
      }
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p.payload()) % alignment, 0u);
      ASSERT_NO_FATAL_FAILURE(record(p, size));
    } else if (action < 65) {
      const size_t index = static_cast<size_t>(random.below(live.size()));
      LiveEntry entry = live[index];
      ASSERT_EQ(pattern_intact(entry.payload, entry.size, entry.stamp), entry.size);
      const size_t size = random_size(random);
      const Allocated p = heap.reallocate(entry.payload, size);
      if (p.payload() == nullptr) {
        ASSERT_EQ(p.error(), HeapError::kOutOfMemory);
        continue;
      }
      const size_t kept = size < entry.size ? size : entry.size;
      ASSERT_EQ(pattern_intact(p, kept, entry.stamp), kept) << "realloc lost data";
      model.remove(reinterpret_cast<uintptr_t>(entry.payload));
      live[index] = live.back();
      live.pop_back();
      ASSERT_NO_FATAL_FAILURE(record(p, size));
    } else {
      const size_t index = static_cast<size_t>(random.below(live.size()));
      const LiveEntry entry = live[index];
      ASSERT_EQ(pattern_intact(entry.payload, entry.size, entry.stamp), entry.size)
          << "block corrupted before free";
      ASSERT_EQ(heap.free(entry.payload), HeapError::kNone);
      model.remove(reinterpret_cast<uintptr_t>(entry.payload));
      live[index] = live.back();
      live.pop_back();
    }
  }
  for (const LiveEntry& entry : live) {
    ASSERT_EQ(pattern_intact(entry.payload, entry.size, entry.stamp), entry.size);
    ASSERT_EQ(heap.free(entry.payload), HeapError::kNone);
  }
  const HeapStats& stats = heap.stats();
  EXPECT_EQ(stats.bytes_in_use, 0u);
  for (unsigned order = 0; order < kNumOrders; ++order) {
    EXPECT_EQ(stats.orders[order].live, 0u) << "order " << order;
  }
  EXPECT_LE(stats.peak_bytes_in_use, stats.address_space);
}

TEST(RandomOps, BlocksStayIntactApartAndCountedWithSeed1) { run_random_sequence(1, 100000); }
TEST(RandomOps, BlocksStayIntactApartAndCountedWithSeed2) { run_random_sequence(2, 100000); }
TEST(RandomOps, BlocksStayIntactApartAndCountedWithSeed5eed) { run_random_sequence(0x5eed, 100000); }
// A buffer small enough to run out again and again: the free lists are merged each time,
// under the same checks (patterns intact, no overlap with any live block or header).
TEST(RandomOps, BlocksStayIntactWhenARunningOutHeapMergesAgainAndAgain) { run_random_sequence(7, 100000, 2u << 20); }

}  // namespace
}  // namespace freebump
