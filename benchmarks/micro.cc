// Microbenchmarks (Google Benchmark) of single malloc/free pairs and friends.
//
// One source, three binaries (benchmarks/BUILD.bazel):
//   micro_core      the core: FreeingBumpHeap on a FixedBufferSource, no locking, no TLS
//   micro_freebump  the malloc family linked statically from //preload:malloc_overrides,
//                   i.e. libfreebump's preload fast path without the PLT of a shared library
//   micro_glibc     the same malloc benchmarks on the C library's malloc (or on whatever
//                   LD_PRELOAD puts in front of it)
// `./bazelw run //benchmarks:micro` runs the three. Figures, never assertions.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <memory>
#include <thread>

#include <benchmark/benchmark.h>

#ifdef MICRO_CORE
#include "lib/heap.h"
#include "lib/memory_source.h"
#endif

namespace {

// Sizes per order: the nominal payload 8 * 2^k (8 B .. 64 KiB here).
void Orders(benchmark::internal::Benchmark* b) {
  for (int k = 0; k <= 13; ++k) b->Arg(8 << k);
}

#ifdef MICRO_CORE

constexpr size_t kArenaBytes = size_t{256} << 20;

// One allocate + free of the same size: after the first pair, a pop and a push on the
// order's free list.
void BM_CorePair(benchmark::State& state) {
  std::unique_ptr<uint8_t[]> arena(new uint8_t[kArenaBytes]);
  freebump::FixedBufferSource source(arena.get(), kArenaBytes);
  freebump::FreeingBumpHeap heap(&source);
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = heap.allocate(size);
    benchmark::DoNotOptimize(p);
    *static_cast<volatile char*>(p) = 1;
    heap.free(p);
  }
}
BENCHMARK(BM_CorePair)->Apply(Orders);

// 64 allocations, then their 64 frees (a burst, as a parser or a container build does).
void BM_CoreBurst64(benchmark::State& state) {
  std::unique_ptr<uint8_t[]> arena(new uint8_t[kArenaBytes]);
  freebump::FixedBufferSource source(arena.get(), kArenaBytes);
  freebump::FreeingBumpHeap heap(&source);
  void* blocks[64];
  for (auto _ : state) {
    for (void*& p : blocks) {
      p = heap.allocate(48);
      *static_cast<volatile char*>(p) = 1;
    }
    for (void* p : blocks) heap.free(p);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_CoreBurst64);

void BM_CoreAligned(benchmark::State& state) {
  std::unique_ptr<uint8_t[]> arena(new uint8_t[kArenaBytes]);
  freebump::FixedBufferSource source(arena.get(), kArenaBytes);
  freebump::FreeingBumpHeap heap(&source);
  const size_t alignment = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = heap.allocate_aligned(alignment, 64);
    benchmark::DoNotOptimize(p);
    heap.free(p);
  }
}
BENCHMARK(BM_CoreAligned)->Arg(32)->Arg(64)->Arg(256)->Arg(4096);

#else  // the malloc family

void BM_MallocFree(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = malloc(size);
    benchmark::DoNotOptimize(p);
    *static_cast<volatile char*>(p) = 1;
    free(p);
  }
}
BENCHMARK(BM_MallocFree)->Apply(Orders);

void BM_NewDelete(benchmark::State& state) {
  for (auto _ : state) {
    char* p = new char[32];
    benchmark::DoNotOptimize(p);
    delete[] p;
  }
}
BENCHMARK(BM_NewDelete);

void BM_MallocBurst64(benchmark::State& state) {
  void* blocks[64];
  for (auto _ : state) {
    for (void*& p : blocks) {
      p = malloc(48);
      *static_cast<volatile char*>(p) = 1;
    }
    for (void* p : blocks) free(p);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_MallocBurst64);

void BM_AlignedAlloc(benchmark::State& state) {
  const size_t alignment = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = aligned_alloc(alignment, 64);
    benchmark::DoNotOptimize(p);
    free(p);
  }
}
BENCHMARK(BM_AlignedAlloc)->Arg(32)->Arg(64)->Arg(256)->Arg(4096);

void BM_PosixMemalign(benchmark::State& state) {
  for (auto _ : state) {
    void* p = nullptr;
    benchmark::DoNotOptimize(posix_memalign(&p, 64, 200));
    free(p);
  }
}
BENCHMARK(BM_PosixMemalign);

// Cross-thread free: this thread allocates 64-byte blocks and hands them through a
// single-producer single-consumer ring to a second thread, which frees them. Time per block,
// both threads running (on 2 cores, each has one).
void BM_CrossThreadFree(benchmark::State& state) {
  constexpr size_t kRing = 1024;
  static std::atomic<void*> ring[kRing];
  std::atomic<size_t> head{0};
  std::atomic<bool> done{false};
  for (auto& slot : ring) slot.store(nullptr, std::memory_order_relaxed);
  std::thread consumer([&] {
    size_t tail = 0;
    for (;;) {
      void* p = ring[tail % kRing].exchange(nullptr, std::memory_order_acquire);
      if (p != nullptr) {
        free(p);
        ++tail;
      } else if (done.load(std::memory_order_acquire) && tail == head.load(std::memory_order_acquire)) {
        return;
      }
    }
  });
  size_t count = 0;
  for (auto _ : state) {
    void* p = malloc(64);
    *static_cast<volatile char*>(p) = 1;
    std::atomic<void*>& slot = ring[count % kRing];
    while (slot.load(std::memory_order_acquire) != nullptr) {
    }
    slot.store(p, std::memory_order_release);
    ++count;
    head.store(count, std::memory_order_release);
  }
  done.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CrossThreadFree)->UseRealTime();

#endif

}  // namespace

BENCHMARK_MAIN();
