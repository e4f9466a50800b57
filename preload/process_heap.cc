#include "preload/process_heap.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <new>

#include "lib/c_api.h"
#include "preload/lock.h"

namespace freebump {

__thread ThreadHeap* tls_thread_heap;

namespace {

// ---- Sizing ----------------------------------------------------------------------------------

// The central pool keeps each order's chains whole, in an array that grows (by mapping a
// bigger one) from this many slots, so that giving and taking a chain are O(1); only when
// no bigger array can be mapped do chains join an overflow list, to be walked when taken.
constexpr size_t kFirstCentralSlots = 4096 / sizeof(FreeChain);
// malloc_trim gives back the pages inside free blocks of at least two pages.
constexpr unsigned kFirstTrimmedOrder = order_for_size(8 << 10);
// Blocks of 128 KiB and more that a thread's cache cannot keep go back to the central pool
// with their pages given back once the pool holds more than kCentralKeepBytes: a program
// that frees many large blocks shrinks, one that reuses them soon does not pay page faults.
constexpr unsigned kFirstReturnedOrder = order_for_size(128 << 10);
constexpr uint64_t kCentralKeepBytes = uint64_t{32} << 20;
// A heap that needs fresh memory first takes merged free blocks from the central pool once
// the pool holds this much, and merges again after this much (or half the pool) came in.
constexpr uint64_t kReclaimBytes = uint64_t{4} << 20;
// Recycled spans of at least this much when there are, and never less than a fresh chunk: the
// thread then bumps through them instead of coming back at once.
constexpr uint64_t kRecycledSpanBytes = uint64_t{1} << 20;
constexpr uint64_t kSmallestRecycledSpan = uint64_t{64} << 10;
// The merge's bitmap covers up to 8 GiB of heap, and is used while it has at most this many
// words (of 1 KiB of heap each) per free block to merge, or is small anyway.
constexpr uint64_t kMaxMergeBitmapBytes = uint64_t{64} << 20;
constexpr uint64_t kMergeBitmapWordsPerBlock = 64;
constexpr uint64_t kSmallMergeBitmapBytes = uint64_t{64} << 10;
constexpr uint64_t kRecordPoolBytes = uint64_t{64} << 10;

// ---- State (all constant-initialised: malloc may be called before any constructor) -----------

struct CentralOrder {
  Lock lock;
  FreeChain* chains = nullptr;  // metadata pages (LinuxSource::map_metadata)
  size_t chain_capacity = 0;
  size_t chain_count = 0;
  uint64_t available = 0;  // blocks held here; read without the lock as a hint
};

// Bytes of free blocks in the central pool (a hint, updated under the orders' locks), and
// what it held right after the last merge.
uint64_t g_central_bytes = 0;
uint64_t g_central_bytes_after_merge = 0;

enum class ThreadState : uint8_t { kNew, kActive, kExited };

LinuxSource g_source;
FreeingBumpHeap g_overflow(&g_source);  // central lists beyond the slots; never bumps
CentralOrder g_central[kNumOrders];

Lock g_registry_lock;
ThreadHeap* g_records = nullptr;
ThreadHeap* g_spares = nullptr;
uint64_t g_record_count = 0;
uintptr_t g_record_pool = 0;
uintptr_t g_record_pool_end = 0;

Lock g_orphan_lock;  // the heap of threads that allocate after their exit handler ran
FreeingBumpHeap g_orphan(&g_source);

Lock g_init_lock;
bool g_initialized = false;
pthread_key_t g_thread_key;

__thread ThreadState tls_state;
__thread HeapError tls_error;

[[noreturn]] void die_corrupt(const char* function, HeapError error, const void* pointer) {
  char line[160];
  const size_t length = format_corruption_message(line, function, error, pointer);
  ssize_t ignored = write(STDERR_FILENO, line, length);
  (void)ignored;
  abort();
}

// ---- Process and thread set-up ---------------------------------------------------------------

void on_thread_exit(void* record);

void spill(FreeingBumpHeap& heap, unsigned order, uint64_t count);

// Whether enough has come into the pool since the last merge to merge again: merging costs
// O(n log n) in the pool's blocks, so only after the pool has grown by half (and by
// kReclaimBytes), which keeps the work proportional to the memory that went through it.
bool merge_due() {
  const uint64_t after_merge = __atomic_load_n(&g_central_bytes_after_merge, __ATOMIC_RELAXED);
  const uint64_t arrived = __atomic_load_n(&g_central_bytes, __ATOMIC_RELAXED) - after_merge;
  return arrived >= (after_merge / 2 > kReclaimBytes ? after_merge / 2 : kReclaimBytes);
}

// LinuxSource's reclaimer: a recycled span from the central pool, merging its free blocks
// first when a merge is due. All central locks are held, in order.
Span reclaim_from_central(uint64_t min_bytes) {
  if (__atomic_load_n(&g_central_bytes, __ATOMIC_RELAXED) < kReclaimBytes) return Span{};
  if (merge_due() && tls_thread_heap != nullptr) {
    // The calling thread's own free blocks join the merge: scattered through the pool's
    // runs, they would otherwise cut them short. (Its heap is inside refill(), which holds
    // no reference to its lists, so emptying them here is safe.)
    FreeingBumpHeap& own = tls_thread_heap->heap;
    for (unsigned order = 0; order < kNumOrders; ++order) {
      while (own.free_count(order) != 0) spill(own, order, ~uint64_t{0});
    }
  }
  for (CentralOrder& central : g_central) central.lock.lock();
  // Fold the slots into the overflow heap, whose lists the merge and the search work on.
  for (unsigned order = 0; order < kNumOrders; ++order) {
    CentralOrder& central = g_central[order];
    while (central.chain_count > 0) g_overflow.give_free_blocks(order, central.chains[--central.chain_count]);
  }
  const uint64_t least = min_bytes > kSmallestRecycledSpan ? min_bytes : kSmallestRecycledSpan;
  const uint64_t preferred = least > kRecycledSpanBytes ? least : kRecycledSpanBytes;
  Span span = g_overflow.take_free_region(least, preferred, false);
  const bool merge = span.empty() && merge_due();
  if (merge) {
    // A bitmap of the heap for the sort (1/128 of its size; the merge scans the words
    // between its lowest and highest block). Where that is large next to the number of free
    // blocks (a big heap with a small pool) the merge sorts through the blocks instead.
    uint64_t blocks = 0;
    for (unsigned order = 0; order < kNumOrders; ++order) blocks += g_overflow.free_count(order);
    const size_t words = merge_bitmap_words(g_source.high_water() - g_source.base());
    const bool by_bitmap = words * 8 <= kMaxMergeBitmapBytes &&
                           (words <= kMergeBitmapWordsPerBlock * blocks || words * 8 <= kSmallMergeBitmapBytes);
    MergeScratch scratch;
    void* pages = by_bitmap ? g_source.map_metadata(words * 8) : nullptr;
    if (pages != nullptr) scratch = MergeScratch{static_cast<uint64_t*>(pages), words};
    span = g_overflow.take_free_region(least, preferred, true, scratch);
    if (pages != nullptr) g_source.unmap_metadata(pages, words * 8);
  }
  uint64_t bytes = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint64_t count = g_overflow.free_count(order);
    __atomic_store_n(&g_central[order].available, count, __ATOMIC_RELAXED);
    bytes += count * block_bytes(order);
  }
  __atomic_store_n(&g_central_bytes, bytes, __ATOMIC_RELAXED);
  // Arrivals are counted from the last merge, or from a pool that has shrunk since.
  if (merge || bytes < g_central_bytes_after_merge) {
    __atomic_store_n(&g_central_bytes_after_merge, bytes, __ATOMIC_RELAXED);
  }
  for (unsigned order = kNumOrders; order-- > 0;) g_central[order].lock.unlock();
  return span;
}

bool init_process() {
  if (__atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE)) return true;
  LockGuard guard(g_init_lock);
  if (g_initialized) return true;
  // Neither call allocates, so a malloc that arrives here from the loader is safe.
  if (!g_source.reserve() || pthread_key_create(&g_thread_key, on_thread_exit) != 0) {
    return false;
  }
  g_source.set_reclaimer(reclaim_from_central);
  __atomic_store_n(&g_initialized, true, __ATOMIC_RELEASE);
  return true;
}

ThreadHeap* new_record() {
  LockGuard guard(g_registry_lock);
  if (g_spares != nullptr) {
    ThreadHeap* record = g_spares;
    g_spares = record->next_spare;
    return record;
  }
  constexpr uintptr_t kRecordBytes = (sizeof(ThreadHeap) + 63) & ~uintptr_t{63};
  if (g_record_pool_end - g_record_pool < kRecordBytes) {
    void* pool = g_source.map_metadata(kRecordPoolBytes);
    if (pool == nullptr) return nullptr;
    g_record_pool = reinterpret_cast<uintptr_t>(pool);
    g_record_pool_end = g_record_pool + kRecordPoolBytes;
  }
  ThreadHeap* record = new (reinterpret_cast<void*>(g_record_pool)) ThreadHeap(&g_source);
  g_record_pool += kRecordBytes;
  record->next_record = g_records;
  g_records = record;
  g_record_count++;
  return record;
}

// The calling thread's heap, made on its first call; nullptr after the thread's exit
// handler ran (or if the process cannot reserve memory): callers use the orphan heap.
ThreadHeap* attach_thread() {
  if (tls_state == ThreadState::kExited || !init_process()) return nullptr;
  ThreadHeap* record = new_record();
  if (record == nullptr) return nullptr;
  tls_thread_heap = record;
  tls_state = ThreadState::kActive;
  // May allocate (glibc's second-level key arrays): the heap above is already in place.
  pthread_setspecific(g_thread_key, record);
  return record;
}

inline ThreadHeap* current() {
  ThreadHeap* record = tls_thread_heap;
  return record != nullptr ? record : attach_thread();
}

// ---- The central pool ------------------------------------------------------------------------

// Room for one more chain (under the order's lock); false if no bigger array can be mapped.
bool make_room_for_chain(CentralOrder& central) {
  if (central.chain_count < central.chain_capacity) return true;
  const size_t capacity =
      central.chain_capacity == 0 ? kFirstCentralSlots : 2 * central.chain_capacity;
  void* pages = g_source.map_metadata(capacity * sizeof(FreeChain));
  if (pages == nullptr) return false;
  FreeChain* chains = static_cast<FreeChain*>(pages);
  for (size_t i = 0; i < central.chain_count; ++i) chains[i] = central.chains[i];
  if (central.chains != nullptr) {
    g_source.unmap_metadata(central.chains, central.chain_capacity * sizeof(FreeChain));
  }
  central.chains = chains;
  central.chain_capacity = capacity;
  return true;
}

void give_to_central(unsigned order, const FreeChain& chain) {
  CentralOrder& central = g_central[order];
  LockGuard guard(central.lock);
  if (make_room_for_chain(central)) {
    central.chains[central.chain_count++] = chain;
  } else {
    g_overflow.give_free_blocks(order, chain);
  }
  __atomic_store_n(&central.available, central.available + chain.count, __ATOMIC_RELAXED);
  __atomic_fetch_add(&g_central_bytes, chain.count * block_bytes(order), __ATOMIC_RELAXED);
}

void take_from_central(unsigned order, FreeingBumpHeap& heap) {
  CentralOrder& central = g_central[order];
  if (__atomic_load_n(&central.available, __ATOMIC_RELAXED) == 0) return;
  FreeChain chain;
  HeapError error = HeapError::kNone;
  {
    LockGuard guard(central.lock);
    if (central.chain_count > 0) {
      chain = central.chains[--central.chain_count];
    } else {
      error = g_overflow.take_free_blocks(order, batch_size(order), &chain);
    }
    __atomic_store_n(&central.available, central.available - chain.count, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&g_central_bytes, chain.count * block_bytes(order), __ATOMIC_RELAXED);
  }
  if (error != HeapError::kNone) die_corrupt("malloc", error, nullptr);
  heap.give_free_blocks(order, chain);
}

void discard_block_pages(uintptr_t header, unsigned order) {
  g_source.discard(header + kHeaderBytes, header + static_cast<uintptr_t>(block_bytes(order)));
}

// Moves up to `count` of a heap's free blocks of one order to the central pool.
void spill(FreeingBumpHeap& heap, unsigned order, uint64_t count) {
  FreeChain chain;
  const HeapError error = heap.take_free_blocks(order, count, &chain);
  if (error != HeapError::kNone) die_corrupt("free", error, nullptr);
  if (chain.count == 0) return;
  if (order >= kFirstReturnedOrder &&
      __atomic_load_n(&g_central_bytes, __ATOMIC_RELAXED) > kCentralKeepBytes) {
    // The chain was just checked link by link: follow it without checking again.
    for (uintptr_t header = chain.head; header != 0;) {
      discard_block_pages(header, order);
      header = header == chain.tail
                   ? 0
                   : heap.codec().link_target(heap.codec().decode(header, load_tag(header)).value);
    }
  }
  give_to_central(order, chain);
}

void on_thread_exit(void* argument) {
  ThreadHeap* record = static_cast<ThreadHeap*>(argument);
  tls_thread_heap = nullptr;
  tls_state = ThreadState::kExited;
  record->heap.retire_bump_region();
  for (unsigned order = 0; order < kNumOrders; ++order) {
    while (record->heap.free_count(order) != 0) spill(record->heap, order, batch_size(order));
  }
  LockGuard guard(g_registry_lock);
  record->next_spare = g_spares;
  g_spares = record;
}

// A request refills an empty list from the central pool before it bumps.
inline void refill_order_for(FreeingBumpHeap& heap, uint64_t size) {
  if (size > LinuxSource::kHugeThreshold) return;
  const unsigned order = order_for_size(size);
  if (heap.free_count(order) == 0) take_from_central(order, heap);
}

template <class Call>
auto with_orphan_heap(Call call) {
  LockGuard guard(g_orphan_lock);
  init_process();
  auto result = call(g_orphan);
  tls_error = g_orphan.last_error();
  return result;
}

void add_stats(HeapStats& sum, const HeapStats& stats) {
  sum.bytes_in_use += stats.bytes_in_use;
  sum.peak_bytes_in_use += stats.peak_bytes_in_use;
  sum.address_space += stats.address_space;
  sum.huge_live += stats.huge_live;
  sum.huge_bytes += stats.huge_bytes;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    sum.orders[order].live += stats.orders[order].live;
    sum.orders[order].free += stats.orders[order].free;
    sum.orders[order].allocations += stats.orders[order].allocations;
  }
}

void discard_free_pages(const FreeingBumpHeap& heap) {
  for (unsigned order = kFirstTrimmedOrder; order < kNumOrders; ++order) {
    heap.for_each_free_block(order, [order](uintptr_t header) { discard_block_pages(header, order); });
  }
}

__attribute__((constructor)) void register_fork_handlers() {
  pthread_atfork(ProcessHeap::before_fork, ProcessHeap::after_fork, ProcessHeap::after_fork);
}

}  // namespace

// ---- The Heap interface ----------------------------------------------------------------------
// (allocate and free are inline in process_heap.h; these are their slow paths)

void* ProcessHeap::allocate_slow(size_t size) {
  ThreadHeap* record = current();
  if (record == nullptr) return with_orphan_heap([&](FreeingBumpHeap& h) { return h.allocate(size); });
  refill_order_for(record->heap, size);
  void* payload = record->heap.allocate(size);
  if (payload == nullptr) tls_error = record->heap.last_error();
  return payload;
}

HeapError ProcessHeap::free_slow(void* payload) {
  ThreadHeap* record = current();
  if (record == nullptr) return with_orphan_heap([&](FreeingBumpHeap& h) { return h.free(payload); });
  unsigned order;
  const HeapError error = record->heap.free(payload, &order);
  if (error == HeapError::kNone && order < kNumOrders &&
      record->heap.free_count(order) > cache_limit(order)) {
    spill(record->heap, order, batch_size(order));
  }
  return error;
}

void ProcessHeap::spill_excess(ThreadHeap* record, unsigned order) {
  spill(record->heap, order, batch_size(order));
}


void* ProcessHeap::allocate_zeroed(size_t size) {
  ThreadHeap* record = current();
  if (record == nullptr) {
    return with_orphan_heap([&](FreeingBumpHeap& h) { return h.allocate_zeroed(size); });
  }
  refill_order_for(record->heap, size);
  void* payload = record->heap.allocate_zeroed(size);
  if (payload == nullptr) tls_error = record->heap.last_error();
  return payload;
}

void* ProcessHeap::allocate_aligned(size_t alignment, size_t size) {
  ThreadHeap* record = current();
  if (record == nullptr) {
    return with_orphan_heap([&](FreeingBumpHeap& h) { return h.allocate_aligned(alignment, size); });
  }
  // The block behind an over-aligned payload is alignment - 16 bytes bigger.
  const size_t slack = alignment > kPayloadAlignment ? alignment - kPayloadAlignment : 0;
  if (size <= SIZE_MAX - slack) refill_order_for(record->heap, size + slack);
  void* payload = record->heap.allocate_aligned(alignment, size);
  if (payload == nullptr) tls_error = record->heap.last_error();
  return payload;
}

void* ProcessHeap::reallocate(void* payload, size_t size) {
  ThreadHeap* record = current();
  if (record == nullptr) {
    return with_orphan_heap([&](FreeingBumpHeap& h) { return h.reallocate(payload, size); });
  }
  // Like allocate: an empty list takes from the central pool before the heap bumps, and a
  // list the old block overfills gives a batch back.
  refill_order_for(record->heap, size);
  unsigned freed_order;
  void* moved = record->heap.reallocate(payload, size, &freed_order);
  if (moved == nullptr) tls_error = record->heap.last_error();
  if (freed_order < kNumOrders && record->heap.free_count(freed_order) > cache_limit(freed_order)) {
    spill(record->heap, freed_order, batch_size(freed_order));
  }
  return moved;
}

HeapError ProcessHeap::usable_size(const void* payload, size_t* size) {
  ThreadHeap* record = current();
  if (record == nullptr) {
    return with_orphan_heap([&](FreeingBumpHeap& h) { return h.usable_size(payload, size); });
  }
  return record->heap.usable_size(payload, size);
}

HeapError ProcessHeap::last_error() const { return tls_error; }

// ---- Trimming, figures, fork -----------------------------------------------------------------

uint64_t ProcessHeap::trim() {
  if (!init_process()) return 0;
  const uint64_t returned_before = g_source.stats().returned;
  for (unsigned order = kFirstTrimmedOrder; order < kNumOrders; ++order) {
    CentralOrder& central = g_central[order];
    LockGuard guard(central.lock);
    // Fold the slots into the overflow list so that one walk sees every block.
    while (central.chain_count > 0) {
      g_overflow.give_free_blocks(order, central.chains[--central.chain_count]);
    }
    g_overflow.for_each_free_block(order,
                                   [order](uintptr_t header) { discard_block_pages(header, order); });
  }
  if (tls_thread_heap != nullptr) discard_free_pages(tls_thread_heap->heap);
  {
    LockGuard guard(g_orphan_lock);
    discard_free_pages(g_orphan);
  }
  g_source.drop_huge_cache();
  return g_source.stats().returned - returned_before;
}

ProcessTotals ProcessHeap::totals() {
  ProcessTotals totals{};
  {
    LockGuard guard(g_registry_lock);
    for (ThreadHeap* record = g_records; record != nullptr; record = record->next_record) {
      add_stats(totals.heaps, record->heap.stats());
    }
    totals.thread_heaps = g_record_count;
  }
  {
    LockGuard guard(g_orphan_lock);
    add_stats(totals.heaps, g_orphan.stats());
  }
  for (unsigned order = 0; order < kNumOrders; ++order) {
    totals.central_free[order] = __atomic_load_n(&g_central[order].available, __ATOMIC_RELAXED);
  }
  totals.source = g_source.stats();
  return totals;
}

void ProcessHeap::before_fork() {
  g_init_lock.lock();
  g_registry_lock.lock();
  for (CentralOrder& central : g_central) central.lock.lock();
  g_orphan_lock.lock();
  g_source.lock_all();
}

void ProcessHeap::after_fork() {
  g_source.unlock_all();
  g_orphan_lock.unlock();
  for (unsigned order = kNumOrders; order-- > 0;) g_central[order].lock.unlock();
  g_registry_lock.unlock();
  g_init_lock.unlock();
}

}  // namespace freebump
