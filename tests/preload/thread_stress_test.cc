// Threads on libfreebump: blocks stamped with cookies and freed by other threads, threads
// created and destroyed over and over, producer/consumer memory that stays bounded, and
// allocation after a thread's cache was flushed at exit. Built twice (allocator_under_test.h):
// on the overrides, and on the fb_ names beside the system allocator, which the *_tsan and
// *_asan legs build with ThreadSanitizer and AddressSanitizer.
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/preload/allocator_under_test.h"

namespace {

using freebump::testing::test_aligned_alloc;
using freebump::testing::test_free;
using freebump::testing::test_heap_bytes;
using freebump::testing::test_malloc;
using freebump::testing::test_realloc;
using freebump::testing::test_usable_size;

// A stamped block records its size in its first 8 bytes, then a cookie derived from its
// address and size, and the cookie again in its last 8 bytes: any block that moves between
// threads can be checked by whoever frees it.
constexpr size_t kMinStamped = 24;

uint64_t cookie(const void* p, size_t size) {
  return (reinterpret_cast<uintptr_t>(p) * 0x9E3779B97F4A7C15ull) ^ size;
}

void* stamped_alloc(size_t size) {
  if (size < kMinStamped) size = kMinStamped;
  auto* p = static_cast<uint8_t*>(test_malloc(size));
  if (p == nullptr) return nullptr;
  const uint64_t size64 = size, value = cookie(p, size);
  memcpy(p, &size64, 8);
  memcpy(p + 8, &value, 8);
  memcpy(p + size - 8, &value, 8);
  return p;
}

// Checks the stamp, then frees the block; false if it was damaged.
bool check_and_free(void* block) {
  const auto* p = static_cast<const uint8_t*>(block);
  uint64_t size, head, tail = 0;
  memcpy(&size, p, 8);
  memcpy(&head, p + 8, 8);
  const bool sane = size >= kMinStamped && size <= test_usable_size(block);
  if (sane) memcpy(&tail, p + size - 8, 8);
  const bool intact = sane && head == cookie(p, size) && tail == head;
  test_free(block);
  return intact;
}

size_t random_size(uint64_t& state) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  const uint64_t r = state >> 33;
  if (r % 1000 == 0) return 1 + r % (3u << 20);  // now and then a huge block
  if (r % 50 == 0) return 1 + r % 100000;
  return 1 + r % 300;
}

// mimalloc's test-stress in spirit: every thread allocates, and swaps blocks through shared
// slots so that most blocks are freed by a thread that did not allocate them.
TEST(ThreadStress, CrossThreadFreesKeepEveryBlockIntact) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 6;
  constexpr int kSteps = 60000;
  std::vector<std::atomic<void*>> slots(4096);
  for (auto& slot : slots) slot.store(nullptr);
  std::atomic<int> corrupted{0};
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, seed = uint64_t(round * 100 + t + 1)] {
        uint64_t state = seed;
        for (int step = 0; step < kSteps; ++step) {
          const size_t size = random_size(state);
          void* mine = stamped_alloc(size);
          if (mine == nullptr) {
            corrupted++;
            return;
          }
          void* old = slots[(state >> 20) % slots.size()].exchange(mine);
          if (old != nullptr && !check_and_free(old)) corrupted++;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  for (auto& slot : slots) {
    void* block = slot.load();
    if (block != nullptr) {
      EXPECT_TRUE(check_and_free(block));
    }
  }
  EXPECT_EQ(corrupted.load(), 0);
}

// One thread allocates, another frees: the consumer's frees must flow back to the producer
// (through the central pool) instead of the producer bumping fresh memory for ever.
TEST(ThreadStress, ProducerConsumerMemoryStaysBounded) {
  constexpr int kBlocks = 2000000;
  constexpr int kQueue = 1024;
  std::vector<std::atomic<void*>> queue(kQueue);
  for (auto& entry : queue) entry.store(nullptr);
  const size_t handed_out_before = test_heap_bytes();
  std::thread producer([&] {
    for (int i = 0; i < kBlocks; ++i) {
      void* p = stamped_alloc(48 + i % 64);
      std::atomic<void*>& entry = queue[i % kQueue];
      void* expected = nullptr;
      while (!entry.compare_exchange_weak(expected, p)) {
        expected = nullptr;
        std::this_thread::yield();
      }
    }
  });
  std::thread consumer([&] {
    for (int i = 0; i < kBlocks; ++i) {
      std::atomic<void*>& entry = queue[i % kQueue];
      void* p;
      while ((p = entry.exchange(nullptr)) == nullptr) std::this_thread::yield();
      ASSERT_TRUE(check_and_free(p));
    }
  });
  producer.join();
  consumer.join();
  // 2 million blocks of up to 128 bytes (~250 MiB in all) went through a 1024-entry queue.
  // Live data never exceeds ~150 KiB; allow the caches and the central pool their share.
  const size_t grown = test_heap_bytes() - handed_out_before;
  EXPECT_LT(grown, size_t{16} << 20) << "memory piled up in the consumer";
}

// Threads that come and go: their caches are flushed to the central pool at exit and their
// heap records reused, so the memory handed out stays bounded across generations.
TEST(ThreadStress, ExitedThreadsGiveTheirMemoryBack) {
  const size_t handed_out_before = test_heap_bytes();
  for (int generation = 0; generation < 40; ++generation) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([] {
        std::vector<void*> blocks;
        for (int i = 0; i < 20000; ++i) blocks.push_back(test_malloc(16 + i % 200));
        for (void* p : blocks) test_free(p);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  // One generation needs ~8 MiB; forty without reuse would need 320 MiB.
  EXPECT_LT(test_heap_bytes() - handed_out_before, size_t{48} << 20);
}

// Blocks that overflow a thread's cache go to the central pool; realloc and aligned
// allocation must take them back from there rather than bump fresh memory (they once did not,
// and a realloc-heavy program grew without bound).
TEST(ThreadStress, ReallocAndAlignedAllocationReuseTheCentralPool) {
  std::vector<void*> blocks(20000);
  auto round = [&] {
    for (void*& p : blocks) p = test_realloc(test_malloc(8), 40);  // moves from order 0 to order 2
    for (void* p : blocks) test_free(p);
    for (void*& p : blocks) p = test_aligned_alloc(64, 40);
    for (void* p : blocks) test_free(p);
  };
  round();  // puts the size classes in play
  const size_t handed_out = test_heap_bytes();
  for (int i = 0; i < 40; ++i) round();
  // Each round moves ~3 MiB through the lists; without reuse, 40 rounds need 120 MiB.
  EXPECT_LT(test_heap_bytes() - handed_out, size_t{8} << 20);
}

// A later pthread key's destructor runs after libfreebump's own (it was created first) and
// may still allocate and free: the thread then uses the shared fallback heap.
pthread_key_t g_late_key;
std::atomic<int> g_late_destructor_ok{0};

void late_destructor(void* value) {
  test_free(value);  // a block from the thread's own (already flushed) heap
  void* again = test_malloc(1000);
  memset(again, 1, 1000);
  test_free(again);
  g_late_destructor_ok++;
}

TEST(ThreadStress, AllocationAfterTheThreadCacheWasFlushed) {
  test_free(test_malloc(1));  // libfreebump's key first, as in a program that has allocated
  ASSERT_EQ(pthread_key_create(&g_late_key, late_destructor), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([] {
      void* p = test_malloc(100);
      pthread_setspecific(g_late_key, p);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(g_late_destructor_ok.load(), 8);
  pthread_key_delete(g_late_key);
}

}  // namespace
