// A wasm32-wasi allocation workload for the figures (//wasm:figures): the same seeded
// sequence of malloc / free / realloc, linked once with libfreebump and once with wasi-libc's
// dlmalloc. Prints operations per microsecond and the peak linear memory (memory never
// shrinks, so the final size is the peak).
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

double now_us() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  const char* name = argc > 1 ? argv[1] : "allocator";
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
  for (void*& p : slots) {
    free(p);
    p = nullptr;
    ++operations;
  }
  const double elapsed = now_us() - start;
  const unsigned long pages = __builtin_wasm_memory_size(0);
  printf("%-12s %8.1f ops/us   peak linear memory %6lu pages (%.1f MiB)\n", name,
         operations / elapsed, pages, pages / 16.0);
  return 0;
}
