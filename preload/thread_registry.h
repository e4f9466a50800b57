// The thread heaps' records: one freeing-bump heap per thread, and the registry that hands
// records out. A record is made on a thread's first call (or taken over from a thread that
// has exited) and is never freed: its heap's counts stay part of the process's figures, and
// a later thread reuses it.
#ifndef FREEBUMP_PRELOAD_THREAD_REGISTRY_H_
#define FREEBUMP_PRELOAD_THREAD_REGISTRY_H_

#include <stdint.h>

#include "lib/heap.h"
#include "preload/lock.h"
#include "preload/platform.h"

namespace freebump {

// A thread keeps up to 64 KiB of free blocks per doubling of sizes, shared by its classes (at
// least kMinCachedBlocks per class, at most 1024), and gives half of a class's bound to the
// central pool at a time. Per class, not per doubling, four classes would cache four times the
// bytes. Two blocks suffice for the large classes: in the pool, freed large blocks serve other
// threads and are cut for smaller classes, where in a thread's cache they wait for its own
// requests of their exact size.
inline constexpr uint64_t kCacheBytesPerOrder = (uint64_t{64} << 10) / kClassesPerDoubling;
inline constexpr uint64_t kMinCachedBlocks = 2;

struct CacheLimits {
  uint64_t blocks[kNumOrders];
};

// A table, so that the free path does not divide.
constexpr CacheLimits make_cache_limits() {
  CacheLimits limits{};
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint64_t blocks = kCacheBytesPerOrder / block_bytes(order);
    limits.blocks[order] = blocks < kMinCachedBlocks ? kMinCachedBlocks : blocks > 1024 ? 1024 : blocks;
  }
  return limits;
}
inline constexpr CacheLimits kCacheLimits = make_cache_limits();

constexpr uint64_t cache_limit(unsigned order) { return kCacheLimits.blocks[order]; }
constexpr uint64_t batch_size(unsigned order) { return cache_limit(order) / 2; }
// A thread's first refill of an order takes this many blocks and each next one this many
// more, up to batch_size (a slow start, as tcmalloc grows its per-thread lists by one): a
// thread that needs a few blocks of an order does not sit on a batch of them, which adds up
// when hundreds of threads are alive at once. Linear, not doubling: at the peak of a round of
// 400 threads (threadchurn), their caches held 6.1 MiB this way and 9.2 MiB doubling.
inline constexpr uint64_t kRefillStepBlocks = 1;

struct ThreadHeap {
  // The heap's lists are bounded by kCacheLimits: a free beyond it takes the slow path,
  // which gives a batch to the pool.
  constexpr explicit ThreadHeap(MemorySource* source) : heap(source, kCacheLimits.blocks) {}
  FreeingBumpHeap heap;
  // The heap's bytes in use as last added to the process's count (see ProcessHeap).
  uint64_t published_in_use = 0;
  // The last malloc_trim request this heap has answered by giving its free memory back.
  uint64_t answered_trim = 0;
  // Blocks the last refill of each order took (0: none yet), for the slow start.
  uint16_t last_refill[kNumOrders] = {};
  // kSmallOrders, copied into every record (65 bytes): the fast malloc indexes it from the
  // record's address, where a global table costs an address computation (the library is
  // position-independent).
  SmallOrderTable small_orders = kSmallOrders;
  ThreadHeap* next_record = nullptr;  // every record ever made
  ThreadHeap* next_spare = nullptr;   // records whose thread has exited
};

// The calling thread's record, or nullptr before its first call (and after its exit).
// Initial-exec TLS (see preload/BUILD.bazel): one load from the thread pointer.
extern __thread ThreadHeap* tls_thread_heap;

class ThreadRegistry {
 public:
  // Records' heaps take their memory from `source`; the records themselves live in
  // bookkeeping pages of `platform`.
  constexpr ThreadRegistry(MemorySource* source, Platform* platform)
      : source_(source), platform_(platform) {}

  // A spare record, else a new one; nullptr if no bookkeeping page can be mapped.
  ThreadHeap* take_record();
  // A record whose thread has exited (its heap already emptied) becomes spare.
  void give_back(ThreadHeap* record);

  // Calls visit(record) for every record ever made, under the registry's lock.
  template <class Visitor>
  void for_each_record(Visitor visit) {
    LockGuard guard(lock_);
    for (ThreadHeap* record = records_; record != nullptr; record = record->next_record) visit(*record);
  }
  uint64_t records_made();

  // fork(): held across it.
  void lock() { lock_.lock(); }
  void unlock() { lock_.unlock(); }

 private:
  MemorySource* source_;
  Platform* platform_;
  Lock lock_;
  ThreadHeap* records_ = nullptr;
  ThreadHeap* spares_ = nullptr;
  uint64_t records_made_ = 0;
  uintptr_t page_next_ = 0;  // records are cut from bookkeeping pages
  uintptr_t page_end_ = 0;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_THREAD_REGISTRY_H_
