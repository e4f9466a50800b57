// The process-wide allocator behind the preload library: one freeing-bump heap per thread
// over one shared Linux source, and a central pool that moves free blocks between them.
//
//   thread A heap ──free list over limit──▶ central pool (per order: chains of free blocks)
//   thread B heap ◀──empty list, take a chain──┘
//
// - The common path takes no lock: a thread allocates from and frees into its own heap, and
//   any thread may free any block (a freeing-bump block belongs to no one: tags are measured
//   from the shared base).
// - A thread's free list for an order is bounded; beyond the bound a batch goes to the
//   central pool, and a thread whose list is empty takes a batch from there before it bumps,
//   so memory freed by consumers is reused by producers instead of piling up.
// - When a thread exits (a pthread key destructor) its free blocks and the rest of its bump
//   chunk go to the central pool and its heap record is kept for the next thread. A thread
//   that allocates or frees after that uses a shared, locked heap.
// - fork(): every lock is held across it, so the child inherits a consistent state.
//
// The interface is the Heap that CApi<Env> (lib/c_api.h) expects.
#ifndef FREEBUMP_PRELOAD_PROCESS_HEAP_H_
#define FREEBUMP_PRELOAD_PROCESS_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include "lib/heap.h"
#include "preload/linux_source.h"

namespace freebump {

// A thread keeps up to this many bytes of free blocks per order (at least 4 blocks, at most
// 1024) and moves half of that to the central pool at a time.
inline constexpr uint64_t kCacheBytesPerOrder = uint64_t{64} << 10;

struct CacheLimits {
  uint64_t blocks[kNumOrders];
};

// A table, so that the free path does not divide.
constexpr CacheLimits make_cache_limits() {
  CacheLimits limits{};
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint64_t blocks = kCacheBytesPerOrder / block_bytes(order);
    limits.blocks[order] = blocks < 4 ? 4 : blocks > 1024 ? 1024 : blocks;
  }
  return limits;
}
inline constexpr CacheLimits kCacheLimits = make_cache_limits();

constexpr uint64_t cache_limit(unsigned order) { return kCacheLimits.blocks[order]; }
constexpr uint64_t batch_size(unsigned order) { return cache_limit(order) / 2; }

// One thread's heap record; records are never freed, only handed to the next thread.
struct ThreadHeap {
  constexpr explicit ThreadHeap(MemorySource* source) : heap(source) {}
  FreeingBumpHeap heap;
  ThreadHeap* next_record = nullptr;  // every record ever made
  ThreadHeap* next_spare = nullptr;   // records whose thread has exited
};

// The calling thread's record, or nullptr before its first call (and after its exit).
// Initial-exec TLS (see preload/BUILD.bazel): one load from the thread pointer.
extern __thread ThreadHeap* tls_thread_heap;

// Figures summed over every heap in the process.
struct ProcessTotals {
  HeapStats heaps;             // sums over the thread heaps (peak: the sum of their peaks)
  uint64_t central_free[kNumOrders];  // blocks waiting in the central pool
  uint64_t thread_heaps;       // heap records ever created
  LinuxSourceStats source;
};

class ProcessHeap {
 public:
  // The common path, inline into malloc: the thread's own free list has a block of the
  // order. Everything else (a first call, an empty list, huge blocks, failures) is slow.
  FREEBUMP_FAST_PATH void* allocate(size_t size) {
    ThreadHeap* record = tls_thread_heap;
    if (__builtin_expect(record != nullptr && size <= LinuxSource::kHugeThreshold, 1)) {
      void* payload = record->heap.try_pop(order_for_size(size));
      if (__builtin_expect(payload != nullptr, 1)) return payload;
    }
    return allocate_slow(size);
  }
  // The common path, inline into free: a plain block with an intact tag goes onto the
  // thread's own list, and a list over its bound gives a batch to the central pool.
  FREEBUMP_FAST_PATH HeapError free(void* payload) {
    ThreadHeap* record = tls_thread_heap;
    unsigned order;
    if (__builtin_expect(record != nullptr && record->heap.try_free(payload, &order), 1)) {
      if (__builtin_expect(record->heap.free_count(order) > cache_limit(order), 0)) {
        spill_excess(record, order);
      }
      return HeapError::kNone;
    }
    return free_slow(payload);
  }
  void* allocate_zeroed(size_t size);
  void* allocate_aligned(size_t alignment, size_t size);
  void* reallocate(void* payload, size_t size);
  HeapError usable_size(const void* payload, size_t* size);
  HeapError last_error() const;

  // malloc_trim: gives back the pages inside free blocks of the calling thread and the
  // central pool, and the cached huge mappings. Returns the bytes given back.
  uint64_t trim();
  ProcessTotals totals();

  // pthread_atfork handlers.
  static void before_fork();
  static void after_fork();

 private:
  static void* allocate_slow(size_t size);
  static HeapError free_slow(void* payload);
  static void spill_excess(ThreadHeap* record, unsigned order);
};

// The one instance (stateless: the state is the library's globals); inline so that the
// exported functions reach the fast paths without an extra call.
inline ProcessHeap& process_heap() {
  static ProcessHeap heap;
  return heap;
}

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_PROCESS_HEAP_H_
