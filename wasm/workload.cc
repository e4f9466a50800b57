// wasm32-wasi allocation workloads for the figures (//wasm:figures): the same seeded
// sequences of malloc / free / realloc, linked once with libfreebump and once with wasi-libc's
// dlmalloc (both with a memory maximum of WORKLOAD_MAX_MEMORY bytes).
//
// Usage: workload NAME [mix | random | efficiency SEED]
//   mix         (default) 2M random malloc/free/realloc on 20000 slots, 8 B .. 64 KiB.
//   random      Talc's random actions: sizes biased small (1 B .. 8 KiB), one allocation in
//               five over-aligned (32 .. 256 B, aligned_alloc), realloc, free; 2M steps.
//   efficiency  Talc's heap efficiency: allocate (60 %), free (25 %), realloc (15 %) random
//               sizes biased small until the first failure; prints the live bytes requested
//               as a share of the memory the allocator could have used (maximum - __heap_base).
// mix and random print operations per microsecond and the peak linear memory (memory never
// shrinks, so the final size is the peak), also counted above __heap_base.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

namespace {

uint64_t state = 0x5eed;
uint64_t next_random(uint64_t bound) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return (state * 0x2545F4914F6CDD1Dull) % bound;
}

// Mostly small, some medium, a few large: 8..128 (80%), ..4 KiB (18%), ..64 KiB (2%).
size_t random_size() {
  const uint64_t kind = next_random(100);
  if (kind < 80) return 8 + next_random(121);
  if (kind < 98) return 129 + next_random(4096 - 128);
  return 4097 + next_random(65536 - 4096);
}

// Talc's size distribution: a power-of-two range picked uniformly, then a size inside it.
size_t biased_small() {
  const uint64_t exponent = next_random(14);
  return static_cast<size_t>(1 + next_random(uint64_t{1} << exponent));
}

double now_us() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

extern "C" char __heap_base;

// Pages above __heap_base: the allocator's share (static data, including the efficiency
// mode's table, sits below it and is the same for both allocators).
void report(const char* name, long operations, double elapsed) {
  const unsigned long pages = __builtin_wasm_memory_size(0);
  const unsigned long heap_pages =
      pages - reinterpret_cast<uintptr_t>(&__heap_base) / 65536;
  printf("%-12s %8.1f ops/us   peak linear memory %6lu pages (%.1f MiB), %lu above __heap_base\n",
         name, operations / elapsed, pages, pages / 16.0, heap_pages);
}

// The end of a speed workload: frees what is left (each free an operation) and reports.
template <size_t kSlots>
int free_all_and_report(const char* name, void* (&slots)[kSlots], long operations, double start) {
  for (void*& p : slots) {
    free(p);
    p = nullptr;
    ++operations;
  }
  report(name, operations, now_us() - start);
  return 0;
}

int mix(const char* name) {
  constexpr int kSlots = 20000;
  constexpr int kSteps = 2000000;
  static void* slots[kSlots];
  static size_t sizes[kSlots];
  const double start = now_us();
  long operations = 0;
  for (int step = 0; step < kSteps; ++step) {
    const int slot = static_cast<int>(next_random(kSlots));
    if (slots[slot] == nullptr) {
      sizes[slot] = random_size();
      slots[slot] = malloc(sizes[slot]);
      memset(slots[slot], step, sizes[slot] < 64 ? sizes[slot] : 64);
    } else if (next_random(100) < 10) {
      sizes[slot] = random_size();
      slots[slot] = realloc(slots[slot], sizes[slot]);
    } else {
      free(slots[slot]);
      slots[slot] = nullptr;
    }
    ++operations;
  }
  return free_all_and_report(name, slots, operations, start);
}

int random_actions(const char* name) {
  constexpr int kSlots = 10000;
  constexpr int kSteps = 2000000;
  static void* slots[kSlots];
  const double start = now_us();
  long operations = 0;
  for (int step = 0; step < kSteps; ++step) {
    void*& slot = slots[next_random(kSlots)];
    if (slot == nullptr) {
      const size_t size = biased_small();
      if (next_random(5) == 0) {
        slot = aligned_alloc(size_t{32} << next_random(4), size);
      } else {
        slot = malloc(size);
      }
      if (slot == nullptr) return 3;
      memset(slot, step, size < 16 ? size : 16);
    } else if (next_random(4) == 0) {
      slot = realloc(slot, biased_small());
      if (slot == nullptr) return 3;
    } else {
      free(slot);
      slot = nullptr;
    }
    ++operations;
  }
  return free_all_and_report(name, slots, operations, start);
}

int efficiency(const char* name, uint64_t seed) {
  state = 0x5eed + seed * 0x9E3779B97F4A7C15ull;
  struct Live {
    void* block;
    size_t size;
  };
  // The table of live blocks lives in static memory, below __heap_base, outside the budget.
  constexpr size_t kMaxLive = 1 << 17;
  static Live live[kMaxLive];
  size_t count = 0;
  uint64_t live_bytes = 0;
  while (count < kMaxLive) {
    const uint64_t action = next_random(100);
    if (action < 60 || count == 0) {
      const size_t size = biased_small();
      void* block = malloc(size);
      if (block == nullptr) break;
      live[count++] = {block, size};
      live_bytes += size;
    } else if (action < 85) {
      Live& entry = live[next_random(count)];
      free(entry.block);
      live_bytes -= entry.size;
      entry = live[--count];
    } else {
      Live& entry = live[next_random(count)];
      const size_t size = biased_small();
      void* block = realloc(entry.block, size);
      if (block == nullptr) break;
      live_bytes = live_bytes - entry.size + size;
      entry = {block, size};
    }
  }
  const uint64_t budget = uint64_t{WORKLOAD_MAX_MEMORY} - reinterpret_cast<uintptr_t>(&__heap_base);
  printf("%-12s efficiency %5.1f %%  (%llu live bytes in %llu usable, seed %llu%s)\n", name,
         100.0 * static_cast<double>(live_bytes) / static_cast<double>(budget),
         static_cast<unsigned long long>(live_bytes), static_cast<unsigned long long>(budget),
         static_cast<unsigned long long>(seed), count == kMaxLive ? ", table full" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* name = argc > 1 ? argv[1] : "allocator";
  const char* mode = argc > 2 ? argv[2] : "mix";
  if (strcmp(mode, "mix") == 0) return mix(name);
  if (strcmp(mode, "random") == 0) return random_actions(name);
  if (strcmp(mode, "efficiency") == 0) return efficiency(name, argc > 3 ? strtoull(argv[3], nullptr, 10) : 1);
  fprintf(stderr, "usage: workload NAME [mix | random | efficiency SEED]\n");
  return 2;
}
