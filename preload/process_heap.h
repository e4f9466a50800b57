// The process-wide allocator behind the preload library, as three layers:
//
//   ProcessHeap (this file)  the Heap that CApi<Env> (lib/c_api.h) expects: the calling
//        │                   thread's heap on the fast path, one skeleton for every slow path
//   thread heaps             one FreeingBumpHeap per thread (thread_registry.h), lists bounded
//        │                   by exchanging chains with the pool
//   central pool             free memory between threads, merging, pages given back
//        │                   (central_pool.h)
//   platform                 the Linux heap ranges, huge mappings, madvise (linux_source.h)
//
// - The common path takes no lock: a thread allocates from and frees into its own heap, and
//   any thread may free any block (a freeing-bump block belongs to no one: tags are measured
//   from the shared base).
// - A thread's list of an order is bounded; beyond the bound a batch goes to the pool, and a
//   thread whose list is empty takes a chain from there before it bumps, so memory freed by
//   consumers is reused by producers instead of piling up.
// - When a thread exits (a pthread key destructor) everything free in its heap goes to the
//   pool and its record waits for the next thread. A thread that allocates or frees after
//   that uses a shared, locked heap.
// - fork(): every lock is held across it, so the child inherits a consistent state.
#ifndef FREEBUMP_PRELOAD_PROCESS_HEAP_H_
#define FREEBUMP_PRELOAD_PROCESS_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include "lib/heap.h"
#include "preload/central_pool.h"
#include "preload/linux_source.h"
#include "preload/thread_registry.h"

namespace freebump {

// Figures summed over the process.
struct ProcessTotals {
  HeapStats heaps;          // sums over the thread heaps (their peaks are not summed: see below)
  uint64_t in_use;          // bytes in blocks and huge mappings, as counted at slow paths
  uint64_t peak_in_use;     // the highest that count reached
  uint64_t thread_heaps;    // heap records ever made
  uint64_t bump_room;       // bytes left in the thread heaps' bump regions
  PoolStats pool;
  LinuxSourceStats source;
};

class ProcessHeap {
 public:
  // The common path, inline into malloc: the thread's own free list has a block of the
  // order. nullptr for everything else (a first call, an empty list, huge blocks), which
  // allocate() serves.
  // Sizes up to kSmallSizeMax are tested first: their order is a table's, and only larger
  // ones need the huge threshold's test (two instructions fewer for the common sizes).
  FREEBUMP_FAST_PATH void* try_allocate(size_t size) {
    ThreadHeap* record = tls_thread_heap;
    if (__builtin_expect(record == nullptr, 0)) return nullptr;
    unsigned order;
    if (__builtin_expect(size <= kSmallSizeMax, 1)) {
      order = record->small_orders.orders[(size + 7) / 16];
    } else {
      if (size > LinuxSource::kHugeThreshold) return nullptr;
      order = order_for_size(size);
    }
    // The thread heaps' own peaks are never reported (the process's peak is counted where
    // they publish their use), so the pop leaves them alone.
    return record->heap.try_pop<false>(order);
  }
  // The common path, inline into free: a plain block with an intact tag goes onto the
  // thread's own list while the list is within its bound. false for everything else, which
  // free() serves (a full list then gives a batch to the central pool).
  FREEBUMP_FAST_PATH bool try_free(void* payload) {
    ThreadHeap* record = tls_thread_heap;
    unsigned order;
    return record != nullptr && record->heap.try_free(payload, &order);
  }
  // The slow paths, whole operations (they do not count on the fast path having run). The
  // checked flavour's operator delete forms name the origin the block must have.
  Allocated allocate(size_t size);
  HeapError free(void* payload, Origin origin = Origin::kMalloc);
#if FREEBUMP_CHECKED
  // operator new's forms: records the origin of a block just allocated.
  HeapError set_origin(void* payload, Origin origin);
#endif
  Allocated allocate_zeroed(size_t size);
  Allocated allocate_aligned(size_t alignment, size_t size);
  Allocated reallocate(void* payload, size_t size);
  HeapError usable_size(const void* payload, size_t* size);

  // malloc_trim: the calling thread's free memory, the central pool's and the cached huge
  // mappings go back to the kernel at once; every other thread gives its free memory to the
  // pool at its next call into the allocator. Returns the bytes given back.
  uint64_t trim();
  ProcessTotals totals();

  // pthread_atfork handlers.
  static void before_fork();
  static void after_fork();

};

// The one instance (stateless: the state is the library's globals); inline so that the
// exported functions reach the fast paths without an extra call.
inline ProcessHeap& process_heap() {
  static ProcessHeap heap;
  return heap;
}

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_PROCESS_HEAP_H_
