// Memory a program has freed goes back to the kernel: malloc_trim(0) for every size class,
// memory left idle on its own, and threads that come and go reuse what their predecessors
// left. In a binary of its own: it reads the process's resident memory, which other tests'
// leftovers would blur.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

size_t resident_bytes() {
  FILE* statm = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (statm == nullptr || fscanf(statm, "%lu %lu", &size, &resident) != 2) ADD_FAILURE() << "statm";
  if (statm != nullptr) fclose(statm);
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// `bytes` of blocks of `size`, each written through.
std::vector<void*> allocate_written(size_t size, size_t bytes) {
  std::vector<void*> blocks;
  blocks.reserve(bytes / size);
  for (size_t i = 0; i < bytes / size; ++i) {
    void* block = malloc(size);
    if (block == nullptr) break;
    memset(block, 0x5A, size);
    blocks.push_back(block);
  }
  EXPECT_EQ(blocks.size(), bytes / size);
  return blocks;
}

void free_all(std::vector<void*>& blocks) {
  for (void* block : blocks) free(block);
  blocks.clear();
  blocks.shrink_to_fit();
}

// Every size class: small blocks give their pages back once merged, whatever thread cached them.
TEST(MemoryReturn, TrimGivesBackFreedBlocksOfEverySize) {
  for (size_t size : {24, 100, 4000, 70000}) {
    malloc_trim(0);
    const size_t baseline = resident_bytes();
    std::vector<void*> blocks = allocate_written(size, 64 * kMiB);
    EXPECT_GT(resident_bytes(), baseline + 60 * kMiB) << size;
    free_all(blocks);
    EXPECT_EQ(malloc_trim(0), 1) << size;
    EXPECT_LT(resident_bytes(), baseline + 4 * kMiB) << size;
    // And the memory serves again, in another size.
    blocks = allocate_written(size * 3 + 1, 16 * kMiB);
    free_all(blocks);
  }
}

// Without trim, memory that nobody has used for a second goes back at the next call that
// reaches the central pool; memory reused sooner stays.
TEST(MemoryReturn, IdleMemoryGoesBackOnItsOwn) {
  // Calls that reach the pool: more blocks of one size than a thread caches.
  const auto reach_the_pool = [] {
    std::vector<void*> blocks = allocate_written(30000, 3 * kMiB);
    free_all(blocks);
  };
  malloc_trim(0);
  const size_t baseline = resident_bytes();
  std::vector<void*> blocks = allocate_written(60000, 48 * kMiB);
  free_all(blocks);
  EXPECT_GT(resident_bytes(), baseline + 40 * kMiB);
  reach_the_pool();  // within the second: nothing goes back
  EXPECT_GT(resident_bytes(), baseline + 40 * kMiB);

  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  reach_the_pool();
  EXPECT_LT(resident_bytes(), baseline + 10 * kMiB);

  // Freed huge blocks of the extent arena too.
  blocks = allocate_written(200000, 48 * kMiB);
  free_all(blocks);
  EXPECT_GT(resident_bytes(), baseline + 40 * kMiB);
  reach_the_pool();
  EXPECT_GT(resident_bytes(), baseline + 40 * kMiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  reach_the_pool();
  EXPECT_LT(resident_bytes(), baseline + 10 * kMiB);
}

// Threads started one after another, each leaving one object for a later one: each new
// thread bumps on through the memory the last one left, so the heap hardly grows.
TEST(MemoryReturn, ShortLivedThreadsReuseWhatTheLastOneLeft) {
  std::vector<void*> left(16, nullptr);
  auto task = [&left](size_t n) {
    void* temporaries[50];
    for (size_t i = 0; i < 50; ++i) {
      temporaries[i] = malloc(16 + (n * 37 + i * 101) % 1000);
      memset(temporaries[i], 1, 16);
    }
    for (void* block : temporaries) free(block);
    free(left[n % 16]);
    left[n % 16] = malloc(16 + n % 200);
  };
  for (size_t n = 0; n < 100; ++n) std::thread(task, n).join();  // warm up
  const size_t handed_out = mallinfo2().arena;
  for (size_t n = 100; n < 3000; ++n) std::thread(task, n).join();
  EXPECT_LT(mallinfo2().arena - handed_out, 2 * kMiB);
  for (void* block : left) free(block);
}

// Rounds of many threads alive at once, whose blocks the main thread frees: memory is the
// same after the fortieth round as after the tenth.
TEST(MemoryReturn, ManyThreadsAliveAtOnceDoNotMakeMemoryClimb) {
  constexpr size_t kThreads = 100, kBlocks = 64;
  std::vector<std::vector<void*>> parcels(kThreads);
  size_t after_ten = 0;
  for (int round = 1; round <= 40; ++round) {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&parcels, t, round] {
        for (size_t i = 0; i < kBlocks; ++i) {
          const size_t size = 16 + (t * 131 + i * 17 + static_cast<size_t>(round)) % (i % 8 == 0 ? 16000 : 1000);
          void* block = malloc(size);
          memset(block, 2, size);
          parcels[t].push_back(block);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (std::vector<void*>& parcel : parcels) free_all(parcel);
    if (round == 10) after_ten = mallinfo2().arena;
  }
  EXPECT_LT(mallinfo2().arena, after_ten + after_ten / 10 + kMiB);
}

// The statistics stay true under thread churn: the peak in use cannot exceed what was ever
// mapped (the sum of per-thread peaks once did, by far).
TEST(MemoryReturn, PeakInUseStaysBelowWhatWasMapped) {
  for (int round = 0; round < 200; ++round) {
    std::thread([] {
      std::vector<void*> blocks = allocate_written(2000, 2 * kMiB);
      free_all(blocks);
    }).join();
  }
  char path[] = "/tmp/freebump-stats-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  const int saved = dup(2);
  dup2(file, 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  std::string report(16384, '\0');
  report.resize(static_cast<size_t>(pread(file, &report[0], report.size(), 0)));
  close(file);
  unlink(path);
  const auto figure = [&report](const char* label) {
    const size_t at = report.find(label);
    EXPECT_NE(at, std::string::npos) << label << " in:\n" << report;
    return at == std::string::npos ? 0.0 : strtod(report.c_str() + at + strlen(label), nullptr);
  };
  const double peak_in_use = figure("peak in use:");
  const double peak_mapped = figure("; peak ");
  EXPECT_GT(peak_in_use, 1.9);  // MiB: one thread's 2 MiB at a time
  EXPECT_LE(peak_in_use, peak_mapped) << report;
  EXPECT_NE(report.find("MiB (blocks"), std::string::npos) << report;
}

}  // namespace
