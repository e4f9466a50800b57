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

// Figures summed over every heap in the process.
struct ProcessTotals {
  HeapStats heaps;             // sums over the thread heaps (peak: the sum of their peaks)
  uint64_t central_free[kNumOrders];  // blocks waiting in the central pool
  uint64_t thread_heaps;       // heap records ever created
  LinuxSourceStats source;
};

class ProcessHeap {
 public:
  void* allocate(size_t size);
  void* allocate_zeroed(size_t size);
  void* allocate_aligned(size_t alignment, size_t size);
  HeapError free(void* payload);
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
};

// The one instance (stateless: the state is the library's globals); inline so that the
// exported functions reach the fast paths without an extra call.
inline ProcessHeap& process_heap() {
  static ProcessHeap heap;
  return heap;
}

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_PROCESS_HEAP_H_
