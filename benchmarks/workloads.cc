// The synthetic workloads of the A/B harness (ab.py): the classic allocator patterns, each a
// plain C++ program on the C library's malloc, so that LD_PRELOAD decides which allocator
// serves it.
//
// Usage: workloads NAME [SCALE]      e.g. `workloads larson`, `workloads huge 0.05`
//        workloads --list
//
// Each workload is seeded and deterministic, writes into every block it allocates, reads
// those bytes back before freeing, and prints one line with a checksum of what it read. The
// checksum never depends on addresses or on the order in which threads interleave, so it must
// be the same under every allocator: a different line means an allocator handed out memory
// that was overwritten (or lost a realloc's contents). SCALE (default 1) multiplies the
// amount of work; 1 takes roughly 0.5-3 s under glibc on one core of a small machine.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmarks/workload_support.h"

namespace freebump {
namespace benchmarks {
namespace {

// ---- larson: server-like churn, objects freed by other threads --------------------------------
// Each thread owns an array of slots for one round, replacing random slots (free the old
// object, allocate a new one of a random small size). After each round the arrays move to new
// threads, so most frees hit objects that another (possibly exited) thread allocated.
uint64_t larson(double scale) {
  constexpr int kThreads = 2;
  constexpr int kSlots = 20000;
  const long rounds = scaled(scale, 30);
  const long steps = 200000;
  struct Slot {
    void* block;
    size_t size;
  };
  std::vector<std::vector<Slot>> arrays(kThreads, std::vector<Slot>(kSlots));
  std::vector<uint64_t> sums(kThreads, 0);
  for (int a = 0; a < kThreads; ++a) {
    Random random(100 + a);
    for (Slot& slot : arrays[a]) {
      slot.size = 8 + random.below(1017);
      slot.block = must(malloc(slot.size), "malloc");
      stamp(slot.block, slot.size, random.next());
    }
  }
  for (long round = 0; round < rounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const int a = static_cast<int>((t + round) % kThreads);
        Random random(1000 * static_cast<uint64_t>(round) + a);
        uint64_t sum = 0;
        for (long step = 0; step < steps; ++step) {
          Slot& slot = arrays[a][random.below(kSlots)];
          sum += read_stamp(slot.block, slot.size);
          free(slot.block);
          slot.size = random.below(8) == 0 ? 8 + random.below(4089) : 8 + random.below(249);
          slot.block = must(malloc(slot.size), "malloc");
          stamp(slot.block, slot.size, random.next());
        }
        sums[a] += sum;  // each array has one owner per round
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  uint64_t total = 0;
  for (int a = 0; a < kThreads; ++a) {
    for (Slot& slot : arrays[a]) {
      total += read_stamp(slot.block, slot.size);
      free(slot.block);
    }
    total += sums[a];
  }
  return total;
}

// ---- prodcons: producer/consumer pairs, every object freed by the other thread ---------------
uint64_t prodcons(double scale) {
  constexpr int kPairs = 2;
  constexpr int kBatch = 64;
  constexpr size_t kMaxQueued = 64;  // batches in flight per pair: bounds the memory
  const long batches = scaled(scale, 120000);
  struct Batch {
    void* blocks[kBatch];
    size_t sizes[kBatch];
  };
  struct Channel {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Batch*> queue;
  };
  std::vector<Channel> channels(kPairs);
  std::vector<uint64_t> sums(kPairs, 0);
  std::vector<std::thread> threads;
  for (int p = 0; p < kPairs; ++p) {
    threads.emplace_back([&, p] {
      Random random(7 + p);
      Channel& channel = channels[p];
      for (long b = 0; b < batches; ++b) {
        Batch* batch = static_cast<Batch*>(must(malloc(sizeof(Batch)), "malloc"));
        for (int i = 0; i < kBatch; ++i) {
          batch->sizes[i] = 16 + random.below(497);
          batch->blocks[i] = must(malloc(batch->sizes[i]), "malloc");
          stamp(batch->blocks[i], batch->sizes[i], random.next());
        }
        std::unique_lock<std::mutex> lock(channel.mutex);
        channel.changed.wait(lock, [&] { return channel.queue.size() < kMaxQueued; });
        channel.queue.push_back(batch);
        channel.changed.notify_all();
      }
    });
    threads.emplace_back([&, p] {
      Channel& channel = channels[p];
      uint64_t sum = 0;
      for (long b = 0; b < batches; ++b) {
        Batch* batch;
        {
          std::unique_lock<std::mutex> lock(channel.mutex);
          channel.changed.wait(lock, [&] { return !channel.queue.empty(); });
          batch = channel.queue.front();
          channel.queue.pop_front();
          channel.changed.notify_all();
        }
        for (int i = 0; i < kBatch; ++i) {
          sum += read_stamp(batch->blocks[i], batch->sizes[i]);
          free(batch->blocks[i]);
        }
        free(batch);
      }
      sums[p] = sum;
    });
  }
  for (std::thread& thread : threads) thread.join();
  uint64_t total = 0;
  for (uint64_t sum : sums) total += sum;
  return total;
}

// ---- small: many small objects in one thread -------------------------------------------------
// Linked structures of 16..64-byte nodes built and torn down in random, LIFO and FIFO order.
uint64_t small_objects(double scale) {
  const long rounds = scaled(scale, 12);
  constexpr long kObjects = 400000;
  Random random(3);
  std::vector<void*> blocks(kObjects);
  std::vector<uint32_t> sizes(kObjects);
  std::vector<uint32_t> order(kObjects);
  uint64_t sum = 0;
  for (long round = 0; round < rounds; ++round) {
    for (long i = 0; i < kObjects; ++i) {
      sizes[i] = static_cast<uint32_t>(16 + random.below(49));
      blocks[i] = must(malloc(sizes[i]), "malloc");
      stamp(blocks[i], sizes[i], random.next());
      order[i] = static_cast<uint32_t>(i);
    }
    // Round 0 mod 3: random order; 1: LIFO; 2: FIFO. Half are freed and reallocated first.
    if (round % 3 == 0) {
      for (long i = kObjects - 1; i > 0; --i) {
        const long j = static_cast<long>(random.below(static_cast<uint64_t>(i + 1)));
        const uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    for (long k = 0; k < kObjects; k += 2) {
      const uint32_t i = order[k];
      sum += read_stamp(blocks[i], sizes[i]);
      free(blocks[i]);
      sizes[i] = static_cast<uint32_t>(8 + random.below(57));
      blocks[i] = must(malloc(sizes[i]), "malloc");
      stamp(blocks[i], sizes[i], random.next());
    }
    for (long k = 0; k < kObjects; ++k) {
      const uint32_t i = order[round % 3 == 1 ? kObjects - 1 - k : k];
      sum += read_stamp(blocks[i], sizes[i]);
      free(blocks[i]);
    }
  }
  return sum;
}

// ---- random: Talc's random actions ------------------------------------------------------------
// On 20000 slots: allocate into an empty slot (sizes biased small up to 64 KiB; one in five
// over-aligned to 16..4096 bytes through posix_memalign or aligned_alloc), else reallocate
// (one in four) or free.
uint64_t random_actions(double scale) {
  constexpr int kSlots = 20000;
  const long steps = scaled(scale, 6000000);
  struct Slot {
    void* block = nullptr;
    size_t size = 0;
    uint64_t value = 0;
  };
  std::vector<Slot> slots(kSlots);
  Random random(11);
  uint64_t sum = 0;
  for (long step = 0; step < steps; ++step) {
    Slot& slot = slots[random.below(kSlots)];
    if (slot.block == nullptr) {
      slot.size = random.small_biased(16);
      slot.value = random.next();
      const uint64_t kind = random.below(10);
      if (kind < 8) {
        slot.block = must(malloc(slot.size), "malloc");
      } else {
        const size_t alignment = size_t{16} << random.below(9);  // 16 .. 4096
        if (kind == 8) {
          void* block = nullptr;
          if (posix_memalign(&block, alignment, slot.size) != 0) must(nullptr, "posix_memalign");
          slot.block = block;
        } else {
          slot.block = must(aligned_alloc(alignment, slot.size), "aligned_alloc");
        }
        if (reinterpret_cast<uintptr_t>(slot.block) % alignment != 0) {
          fprintf(stderr, "workloads: %s(%zu, %zu) returned misaligned %p\n",
                  kind == 8 ? "posix_memalign" : "aligned_alloc", alignment, slot.size, slot.block);
          exit(3);
        }
      }
      stamp(slot.block, slot.size, slot.value);
    } else if (random.below(4) == 0) {
      // The first min(old, new) bytes must survive; check the head stamp.
      const size_t size = random.small_biased(16);
      slot.block = must(realloc(slot.block, size), "realloc");
      sum += read_stamp(slot.block, slot.size < size ? slot.size : size);
      slot.size = size;
      slot.value = random.next();
      stamp(slot.block, slot.size, slot.value);
    } else {
      sum += read_stamp(slot.block, slot.size);
      free(slot.block);
      slot.block = nullptr;
    }
  }
  for (Slot& slot : slots) {
    if (slot.block != nullptr) sum += read_stamp(slot.block, slot.size);
    free(slot.block);
  }
  return sum;
}

// ---- realloc: growing large buffers ----------------------------------------------------------
// Four buffers grow in turn by 1..64 KiB steps (a string builder or a vector of records) up to
// 8..32 MiB each, writing every new byte's page, then start over.
uint64_t realloc_growth(double scale) {
  constexpr int kBuffers = 4;
  const long steps = scaled(scale, 60000);
  struct Buffer {
    uint8_t* data = nullptr;
    size_t size = 0;
    size_t limit = 0;
  };
  Buffer buffers[kBuffers];
  Random random(5);
  uint64_t sum = 0;
  for (long step = 0; step < steps; ++step) {
    Buffer& buffer = buffers[random.below(kBuffers)];
    if (buffer.size >= buffer.limit) {
      if (buffer.data != nullptr) sum += read_stamp(buffer.data, buffer.size);
      free(buffer.data);
      buffer = Buffer{};
      buffer.limit = (size_t{8} << 20) + random.below(size_t{24} << 20);
    }
    const size_t grown = buffer.size + 1024 + random.below(63 * 1024);
    buffer.data = static_cast<uint8_t*>(must(realloc(buffer.data, grown), "realloc"));
    if (buffer.size >= 8) sum += read_stamp(buffer.data, 8);
    const uint64_t value = random.next();
    if (buffer.size == 0) memcpy(buffer.data, &value, 8);
    for (size_t at = buffer.size; at < grown; at += 512) buffer.data[at] = static_cast<uint8_t>(value);
    buffer.data[grown - 1] = static_cast<uint8_t>(value);
    buffer.size = grown;
  }
  for (Buffer& buffer : buffers) {
    if (buffer.data != nullptr) sum += read_stamp(buffer.data, buffer.size);
    free(buffer.data);
  }
  return sum;
}

// ---- orders: a sweep over every size class from 8 B to 8 MiB ----------------------------------
// For each power of two, blocks of sizes within (2^(k-1), 2^k] are allocated up to 16 MiB
// (at most 20000 at a time), freed in random order, and the cycle repeated.
uint64_t order_sweep(double scale) {
  const long sweeps = scaled(scale, 6);
  Random random(13);
  std::vector<void*> blocks;
  std::vector<size_t> sizes;
  uint64_t sum = 0;
  for (long sweep = 0; sweep < sweeps; ++sweep) {
    for (unsigned k = 3; k <= 23; ++k) {
      const size_t top = size_t{1} << k;
      size_t count = (size_t{16} << 20) / top;
      if (count > 20000) count = 20000;
      if (count < 2) count = 2;
      const int cycles = k < 12 ? 8 : 3;
      for (int cycle = 0; cycle < cycles; ++cycle) {
        blocks.resize(count);
        sizes.resize(count);
        for (size_t i = 0; i < count; ++i) {
          sizes[i] = top / 2 + 1 + random.below(top / 2);
          blocks[i] = must(malloc(sizes[i]), "malloc");
          stamp(blocks[i], sizes[i], random.next());
        }
        for (size_t i = count - 1; i > 0; --i) {
          const size_t j = random.below(i + 1);
          std::swap(blocks[i], blocks[j]);
          std::swap(sizes[i], sizes[j]);
        }
        for (size_t i = 0; i < count; ++i) {
          sum += read_stamp(blocks[i], sizes[i]);
          free(blocks[i]);
        }
      }
    }
  }
  return sum;
}

// ---- huge: many-MiB blocks allocated and freed again and again -------------------------------
// Two live at a time, 4..64 MiB each, every page written once (a decoder's frame buffers, a
// compressor's window).
uint64_t huge_blocks(double scale) {
  const long steps = scaled(scale, 200);
  Random random(17);
  void* blocks[2] = {nullptr, nullptr};
  size_t sizes[2] = {0, 0};
  uint64_t sum = 0;
  for (long step = 0; step < steps; ++step) {
    const int i = static_cast<int>(step % 2);
    if (blocks[i] != nullptr) sum += read_stamp(blocks[i], sizes[i]);
    free(blocks[i]);
    sizes[i] = (size_t{4} << 20) + random.below(size_t{60} << 20);
    blocks[i] = must(malloc(sizes[i]), "malloc");
    stamp(blocks[i], sizes[i], random.next());
  }
  for (int i = 0; i < 2; ++i) {
    if (blocks[i] != nullptr) sum += read_stamp(blocks[i], sizes[i]);
    free(blocks[i]);
  }
  return sum;
}

const Workload kPatternWorkloads[] = {
    {"larson", larson, "2 threads replace random 8 B..4 KiB objects; arrays change threads"},
    {"prodcons", prodcons, "2 producer/consumer pairs; every object freed by the other thread"},
    {"small", small_objects, "400k objects of 8..64 B, freed in random, LIFO and FIFO order"},
    {"random", random_actions, "Talc's random actions: malloc/aligned/realloc/free, sizes biased small"},
    {"realloc", realloc_growth, "4 buffers grown by realloc in 1..64 KiB steps to 8..32 MiB"},
    {"orders", order_sweep, "every power of two from 8 B to 8 MiB, allocated and freed"},
    {"huge", huge_blocks, "4..64 MiB blocks, two live, every page written"},
};

}  // namespace

const Workload* const kWorkloadTables[] = {kPatternWorkloads, kMemoryWorkloads};
const size_t kWorkloadTableSizes[] = {sizeof kPatternWorkloads / sizeof(Workload),
                                      kMemoryWorkloadCount};

}  // namespace benchmarks
}  // namespace freebump


int main(int argc, char** argv) {
  using freebump::benchmarks::kWorkloadTables;
  using freebump::benchmarks::kWorkloadTableSizes;
  using freebump::benchmarks::Workload;
  if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t table = 0; table < 2; ++table) {
      for (size_t i = 0; i < kWorkloadTableSizes[table]; ++i) {
        const Workload& workload = kWorkloadTables[table][i];
        printf("%-12s %s\n", workload.name, workload.what);
      }
    }
    return 0;
  }
  const double scale = argc > 2 ? atof(argv[2]) : 1.0;
  if (argc < 2 || argc > 3 || !(scale > 0)) {
    fprintf(stderr, "usage: %s NAME [SCALE > 0] | --list\n", argv[0]);
    return 2;
  }
  for (size_t table = 0; table < 2; ++table) {
    for (size_t i = 0; i < kWorkloadTableSizes[table]; ++i) {
      const Workload& workload = kWorkloadTables[table][i];
      if (strcmp(argv[1], workload.name) != 0) continue;
      const uint64_t checksum = workload.run(scale);
      printf("%s scale %g: checksum %016llx\n", workload.name, scale,
             static_cast<unsigned long long>(checksum));
      return 0;
    }
  }
  fprintf(stderr, "workloads: no workload named %s (try --list)\n", argv[1]);
  return 2;
}
