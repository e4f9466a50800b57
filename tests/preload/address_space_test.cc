// The process's heap when another mapping stands where it would grow: it opens a range above
// it, and every block there is a block like any other (freed by any thread, resized, merged
// by malloc_trim), never rejected. Linked with the overrides: every allocation here goes
// through libfreebump.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "preload/process_heap.h"

namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// The end of the mapping that holds `address` (/proc/self/maps), or 0.
uintptr_t end_of_mapping(uintptr_t address) {
  FILE* maps = fopen("/proc/self/maps", "r");
  if (maps == nullptr) return 0;
  char line[512];
  uintptr_t end = 0;
  while (fgets(line, sizeof line, maps) != nullptr) {
    unsigned long begin_field, end_field;
    if (sscanf(line, "%lx-%lx", &begin_field, &end_field) != 2) continue;
    if (address >= begin_field && address < end_field) end = end_field;
  }
  fclose(maps);
  return end;
}

uint8_t stamp(uintptr_t address) { return static_cast<uint8_t>(address >> 4 ^ address >> 12); }

TEST(AddressSpace, BlocksInARangeAboveAnotherMappingAreBlocksLikeAnyOther) {
  // Where the heap would grow next, another mapping (a page nobody may read).
  void* probe = malloc(1000);
  const uintptr_t heap_end = end_of_mapping(addr(probe));
  ASSERT_NE(heap_end, 0u);
  void* blocker = mmap(reinterpret_cast<void*>(heap_end), 4096, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(blocker, reinterpret_cast<void*>(heap_end));
  free(probe);

  // 16 MiB in blocks of many sizes: more than the heap's first range has left.
  std::vector<std::pair<char*, size_t>> blocks;
  size_t above = 0;
  for (size_t i = 0; blocks.size() < 40000; ++i) {
    const size_t size = 8 + (i * 7919) % 2000;
    char* block = static_cast<char*>(i % 97 == 0 ? aligned_alloc(256, size) : malloc(size));
    ASSERT_NE(block, nullptr);
    memset(block, stamp(addr(block)), size);
    if (addr(block) > heap_end) above++;
    blocks.emplace_back(block, size);
  }
  for (int i = 0; i < 20; ++i) {
    char* block = static_cast<char*>(calloc(1, 200000));
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(block[199999], 0);
    memset(block, stamp(addr(block)), 200000);
    if (addr(block) > heap_end) above++;
    blocks.emplace_back(block, 200000);
  }
  ASSERT_GT(above, 1000u) << "the blocks did not reach a second range";
  EXPECT_GE(freebump::process_heap().totals().source.heap_ranges, 2u);

  // Every block reads back, reports its size, and resizes.
  for (auto& [block, size] : blocks) {
    ASSERT_GE(malloc_usable_size(block), size);
    ASSERT_EQ(block[size - 1], static_cast<char>(stamp(addr(block))));
  }
  for (size_t i = 0; i < blocks.size(); i += 5) {
    auto& [block, size] = blocks[i];
    const uint8_t old_stamp = stamp(addr(block));
    char* moved = static_cast<char*>(realloc(block, size * 3));
    ASSERT_NE(moved, nullptr);
    ASSERT_EQ(moved[size - 1], static_cast<char>(old_stamp));
    memset(moved, stamp(addr(moved)), size * 3);
    block = moved;
    size *= 3;
  }
  // Other threads free half the blocks (cross-thread frees, thread heaps' lists, the pool).
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&blocks, t] {
      for (size_t i = t; i < blocks.size(); i += 8) free(blocks[i].first);
      // And allocate and free of their own, from ranges of every kind.
      std::vector<void*> own;
      for (int j = 0; j < 5000; ++j) own.push_back(malloc(16 + j % 3000));
      for (void* p : own) free(p);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i % 8 < 4) continue;
    ASSERT_EQ(blocks[i].first[0], static_cast<char>(stamp(addr(blocks[i].first)))) << i;
    free(blocks[i].first);
  }
  // Everything free is merged across both ranges and serves other sizes: no fresh memory.
  malloc_trim(0);
  const size_t handed_out = mallinfo2().arena;
  std::vector<void*> big;
  for (int i = 0; i < 8; ++i) big.push_back(malloc(500000));
  for (void* p : big) {
    ASSERT_NE(p, nullptr);
    memset(p, 1, 500000);
  }
  EXPECT_EQ(mallinfo2().arena, handed_out);
  for (void* p : big) free(p);
  munmap(blocker, 4096);
}

}  // namespace
