// The main job, for now: run built-in allocation workloads on the freeing-bump core and on
// the C library's malloc in the same process, and print time per operation, the ratio
// against malloc (median of several interleaved runs) and the core's memory figures.
//
// Usage: core_workload [runs]   (default 5)
//
// Every workload is a pre-generated, seeded sequence of operations, so both allocators do
// exactly the same work and generating it is not timed. Each touched block is written, so
// an allocator that hands out memory lazily pays for it as a real program would.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "benchmarks/random.h"
#include "lib/heap.h"
#include "lib/memory_source.h"

namespace {

using freebump::FixedBufferSource;
using freebump::FreeingBumpHeap;

enum class Action : uint8_t { kAllocate, kFree, kRealloc };

struct Operation {
  Action action;
  uint32_t slot;
  uint32_t size;
};

struct Workload {
  const char* name;
  std::vector<Operation> operations;
  uint32_t slots;
};

using freebump::benchmarks::Random;

// Fills `slots` and then replaces random slots: allocate if empty, else free (or realloc).
Workload make_workload(const char* name, uint32_t slots, uint32_t steps, uint64_t seed,
                       uint32_t (*size_of)(Random&), unsigned realloc_percent) {
  Workload workload{name, {}, slots};
  Random random(seed);
  std::vector<bool> live(slots, false);
  for (uint32_t step = 0; step < steps; ++step) {
    const uint32_t slot = static_cast<uint32_t>(random.below(slots));
    if (!live[slot]) {
      workload.operations.push_back({Action::kAllocate, slot, size_of(random)});
      live[slot] = true;
    } else if (random.below(100) < realloc_percent) {
      workload.operations.push_back({Action::kRealloc, slot, size_of(random)});
    } else {
      workload.operations.push_back({Action::kFree, slot, 0});
      live[slot] = false;
    }
  }
  for (uint32_t slot = 0; slot < slots; ++slot) {
    if (live[slot]) workload.operations.push_back({Action::kFree, slot, 0});
  }
  return workload;
}

uint32_t small_size(Random& random) { return static_cast<uint32_t>(8 + random.below(120)); }
uint32_t mixed_size(Random& random) {
  // Biased small: a power-of-two range first, then a size inside it (Talc's method).
  const unsigned exponent = static_cast<unsigned>(random.below(14));
  return static_cast<uint32_t>(1 + random.below(uint64_t{1} << exponent));
}
uint32_t growing_size(Random& random) {
  return static_cast<uint32_t>(4096 + random.below(1u << 20));
}

struct LibcAllocator {
  void* allocate(size_t size) { return malloc(size); }
  void* reallocate(void* p, size_t size) { return realloc(p, size); }
  void release(void* p) { free(p); }
};

struct CoreAllocator {
  FreeingBumpHeap* heap;
  void* allocate(size_t size) { return heap->allocate(size); }
  void* reallocate(void* p, size_t size) { return heap->reallocate(p, size); }
  void release(void* p) {
    if (heap->free(p) != freebump::HeapError::kNone) abort();
  }
};

// Runs the workload once; returns nanoseconds per operation.
template <class Allocator>
double run_once(const Workload& workload, Allocator allocator) {
  std::vector<void*> slots(workload.slots, nullptr);
  const auto start = std::chrono::steady_clock::now();
  for (const Operation& op : workload.operations) {
    void*& slot = slots[op.slot];
    switch (op.action) {
      case Action::kAllocate:
        slot = allocator.allocate(op.size);
        if (slot == nullptr) abort();
        memset(slot, 0xA5, op.size < 64 ? op.size : 64);
        break;
      case Action::kRealloc:
        slot = allocator.reallocate(slot, op.size);
        if (slot == nullptr) abort();
        static_cast<uint8_t*>(slot)[op.size - 1] = 1;
        break;
      case Action::kFree:
        allocator.release(slot);
        slot = nullptr;
        break;
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return std::chrono::duration<double, std::nano>(elapsed).count() /
         static_cast<double>(workload.operations.size());
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? atoi(argv[1]) : 5;
  if (runs < 1) {
    fprintf(stderr, "usage: %s [runs >= 1]\n", argv[0]);
    return 2;
  }
  const Workload workloads[] = {
      make_workload("small objects, one thread", 10000, 2000000, 1, small_size, 0),
      make_workload("random sizes with realloc", 5000, 1000000, 2, mixed_size, 20),
      make_workload("growing large buffers", 64, 20000, 3, growing_size, 70),
  };
  const size_t arena_bytes = size_t{1} << 30;  // reserved lazily by the C library
  std::unique_ptr<uint8_t[]> arena(new uint8_t[arena_bytes]);

  printf("libfreebump core vs the C library's malloc, median of %d interleaved runs\n\n", runs);
  printf("%-28s %10s %10s %8s %12s %12s\n", "workload", "core ns/op", "libc ns/op", "ratio",
         "core peak", "core space");
  for (const Workload& workload : workloads) {
    std::vector<double> core_times, libc_times;
    uint64_t peak = 0, space = 0;
    for (int run = 0; run < runs; ++run) {
      FixedBufferSource source(arena.get(), arena_bytes, 1 << 20);
      FreeingBumpHeap heap(&source);
      core_times.push_back(run_once(workload, CoreAllocator{&heap}));
      libc_times.push_back(run_once(workload, LibcAllocator{}));
      peak = heap.stats().peak_bytes_in_use;
      space = heap.stats().address_space;
      if (heap.stats().bytes_in_use != 0) abort();
    }
    const double core = median(core_times), libc = median(libc_times);
    printf("%-28s %10.1f %10.1f %8.2f %10.1f MiB %8.1f MiB\n", workload.name, core, libc,
           core / libc, static_cast<double>(peak) / (1 << 20),
           static_cast<double>(space) / (1 << 20));
  }
  printf("\nratio = core time / libc time (below 1: the core is faster). Peak counts whole\n"
         "blocks (header and rounding); space is what the core took from its buffer.\n");
  return 0;
}
