#include "preload/process_heap.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/c_api.h"
#include "preload/lock.h"
#include "preload/valgrind_heap.h"

namespace freebump {
namespace {

// A heap's bytes in use reach the process's count once they have changed by this much, so
// that the count (and its peak) costs an atomic add per 64 KiB, not per call.
constexpr uint64_t kPublishBytes = uint64_t{64} << 10;
// Slow paths that refill no list (free, usable_size) pass this size.
constexpr size_t kNoRefill = ~size_t{0};

// ---- State (all constant-initialised: malloc may be called before any constructor) -----------

enum class ThreadState : uint8_t { kNew, kActive, kExited };

LinuxSource g_platform;
CentralPool g_pool(&g_platform, LinuxSource::kHugeThreshold, true);
ThreadRegistry g_registry(&g_pool, &g_platform);

Lock g_orphan_lock;  // the heap of threads that allocate after their exit handler ran
ThreadHeap g_orphan(&g_pool);
// Under valgrind the shared heap serves every thread, describing its blocks to the tool.
ValgrindHeap g_valgrind(&g_orphan.heap, &g_orphan_lock, &g_platform);
bool g_under_valgrind = false;

Lock g_init_lock;
bool g_initialized = false;
pthread_key_t g_thread_key;

uint64_t g_trim_requests = 0;  // malloc_trim calls so far
uint64_t g_in_use = 0;         // the sum of the heaps' published bytes in use (modular)
uint64_t g_peak_in_use = 0;

__thread ThreadState tls_state;

// Heap corruption found outside any call of the C layer (a thread's exit, malloc_trim).
[[noreturn]] void die_corrupt(const char* function, HeapError error) {
  char line[kCorruptionMessageBytes];
  const size_t length = format_corruption_message(line, function, error, nullptr);
  ssize_t ignored = write(STDERR_FILENO, line, length);
  (void)ignored;
  abort();
}

// ---- Threads coming and going ----------------------------------------------------------------

void on_thread_exit(void* record);

bool init_process() {
  if (__atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE)) return true;
  LockGuard guard(g_init_lock);
  if (g_initialized) return true;
  // Neither call allocates, so a malloc that arrives here from the loader is safe.
  if (!g_platform.start() || pthread_key_create(&g_thread_key, on_thread_exit) != 0) {
    return false;
  }
  g_under_valgrind = valgrind_checks_heap();
  __atomic_store_n(&g_initialized, true, __ATOMIC_RELEASE);
  return true;
}

// The calling thread's heap, made on its first call; nullptr after the thread's exit
// handler ran (or if the process cannot map any memory): callers use the orphan heap.
ThreadHeap* attach_thread() {
  if (tls_state == ThreadState::kExited || !init_process() || g_under_valgrind) return nullptr;
  ThreadHeap* record = g_registry.take_record();
  if (record == nullptr) return nullptr;
  record->answered_trim = __atomic_load_n(&g_trim_requests, __ATOMIC_RELAXED);
  for (uint16_t& blocks : record->last_refill) blocks = 0;
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

// Adds what a heap's bytes in use (blocks and huge mappings) changed by since it last did to
// the process's count, and raises the peak. Heaps free each other's blocks, so one heap's
// change may be negative (modular) and the sum may dip below zero for a moment, when one
// thread has counted frees of blocks whose allocation another has not counted yet.
void publish_in_use(ThreadHeap& record, uint64_t at_least) {
  const HeapTotals& totals = record.heap.totals();
  const uint64_t in_use = totals.bytes_in_use + totals.huge_bytes;
  const uint64_t change = in_use - record.published_in_use;
  const uint64_t size = change < (uint64_t{1} << 63) ? change : ~change + 1;
  if (size < at_least || size == 0) return;
  record.published_in_use = in_use;
  const uint64_t total = __atomic_add_fetch(&g_in_use, change, __ATOMIC_RELAXED);
  if (total >= (uint64_t{1} << 63)) return;
  uint64_t peak = __atomic_load_n(&g_peak_in_use, __ATOMIC_RELAXED);
  while (total > peak && !__atomic_compare_exchange_n(&g_peak_in_use, &peak, total, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

void on_thread_exit(void* argument) {
  ThreadHeap* record = static_cast<ThreadHeap*>(argument);
  tls_thread_heap = nullptr;
  tls_state = ThreadState::kExited;
  const HeapError error = g_pool.take_all_from(record->heap);
  if (error != HeapError::kNone) die_corrupt("pthread_exit", error);
  publish_in_use(*record, 0);
  g_registry.give_back(record);
}

// ---- The thread's lists and the pool ---------------------------------------------------------

// malloc_trim asks every thread to give its free memory to the pool; each answers at its
// next slow path.
HeapError answer_trim_request(ThreadHeap& record) {
  const uint64_t requests = __atomic_load_n(&g_trim_requests, __ATOMIC_RELAXED);
  if (__builtin_expect(record.answered_trim == requests, 1)) return HeapError::kNone;
  record.answered_trim = requests;
  return g_pool.take_all_from(record.heap);
}

// A request whose order's list is empty takes blocks from the pool before the heap bumps,
// one more at each refill (kRefillStepBlocks).
HeapError refill_for(ThreadHeap& record, size_t size) {
  if (size > LinuxSource::kHugeThreshold) return HeapError::kNone;
  const unsigned order = order_for_size(size);
  if (record.heap.free_count(order) != 0) return HeapError::kNone;
  uint16_t& last = record.last_refill[order];
  const uint64_t grown = uint64_t{last} + kRefillStepBlocks;
  const uint64_t blocks = grown < batch_size(order) ? grown : batch_size(order);
  last = static_cast<uint16_t>(blocks);
  const HeapError error = g_pool.give_to(record.heap, order, blocks);
  if (error != HeapError::kNone || record.heap.free_count(order) != 0 ||
      record.heap.bump_room() >= block_bytes(order) || !g_pool.merge_due()) {
    return error;
  }
  // The heap is about to ask the pool for bump space and the pool to merge: the heap's own
  // free blocks join the merge.
  return g_pool.take_all_from(record.heap);
}

// A list over its bound gives a batch to the pool.
HeapError keep_bounded(FreeingBumpHeap& heap, unsigned order) {
  if (order >= kNumOrders || heap.free_count(order) <= cache_limit(order)) return HeapError::kNone;
  return g_pool.take_from(heap, order, batch_size(order));
}

// A slow path's result carrying an error of the thread's lists instead.
Allocated failed(HeapError error, Allocated) { return Allocated::failure(error); }
HeapError failed(HeapError error, HeapError) { return error; }

// Every slow path: the calling thread's heap (or, after its exit, the orphan heap), the list
// of the order a request needs refilled from the pool first, then the operation, which says
// which order's list a block joined so that an overfull list gives a batch back.
template <class Operation>
auto on_thread_heap(size_t refill_size, Operation operation) {
  using Result = decltype(operation(g_orphan.heap, nullptr));
  unsigned freed_order = kNumOrders;
  ThreadHeap* record = current();
  if (record == nullptr) {
    LockGuard guard(g_orphan_lock);
    init_process();
    const Result result = operation(g_orphan.heap, &freed_order);
    publish_in_use(g_orphan, kPublishBytes);
    return result;
  }
  HeapError error = answer_trim_request(*record);
  if (error == HeapError::kNone && refill_size != kNoRefill) error = refill_for(*record, refill_size);
  if (error != HeapError::kNone) return failed(error, Result{});
  const Result result = operation(record->heap, &freed_order);
  error = keep_bounded(record->heap, freed_order);
  publish_in_use(*record, kPublishBytes);
  return error != HeapError::kNone ? failed(error, Result{}) : result;
}

// Whether the valgrind heap serves this call: only a thread without a heap of its own asks,
// and under valgrind no thread has one.
bool valgrind_serves_this_call() {
  return tls_thread_heap == nullptr && init_process() && g_under_valgrind;
}

// A call the valgrind heap served, counted in the process's figures.
template <class Result>
Result counted(Result result) {
  LockGuard guard(g_orphan_lock);
  publish_in_use(g_orphan, kPublishBytes);
  return result;
}

__attribute__((constructor)) void register_fork_handlers() {
  pthread_atfork(ProcessHeap::before_fork, ProcessHeap::after_fork, ProcessHeap::after_fork);
}

void add_stats(HeapStats& sum, const HeapStats& stats) {
  sum.bytes_in_use += stats.bytes_in_use;
  sum.address_space += stats.address_space;
  sum.huge_live += stats.huge_live;
  sum.huge_bytes += stats.huge_bytes;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    sum.orders[order].live += stats.orders[order].live;
    sum.orders[order].free += stats.orders[order].free;
    sum.orders[order].allocations += stats.orders[order].allocations;
  }
}

}  // namespace

// ---- The Heap interface ----------------------------------------------------------------------

Allocated ProcessHeap::allocate(size_t size) {
  if (valgrind_serves_this_call()) return counted(g_valgrind.allocate(size, false));
  return on_thread_heap(size, [&](FreeingBumpHeap& heap, unsigned*) { return heap.allocate(size); });
}

HeapError ProcessHeap::free(void* payload, Origin origin) {
  // Under valgrind no origin is recorded (memcheck reports mismatched frees itself).
  if (valgrind_serves_this_call()) return counted(g_valgrind.free(payload));
  return on_thread_heap(kNoRefill, [&](FreeingBumpHeap& heap, unsigned* freed_order) {
    return heap.free(payload, freed_order, origin);
  });
}

#if FREEBUMP_CHECKED
HeapError ProcessHeap::set_origin(void* payload, Origin origin) {
  if (valgrind_serves_this_call()) return HeapError::kNone;
  return on_thread_heap(kNoRefill, [&](FreeingBumpHeap& heap, unsigned*) { return heap.set_origin(payload, origin); });
}
#endif

Allocated ProcessHeap::allocate_zeroed(size_t size) {
  if (valgrind_serves_this_call()) return counted(g_valgrind.allocate(size, true));
  return on_thread_heap(size, [&](FreeingBumpHeap& heap, unsigned*) { return heap.allocate_zeroed(size); });
}

Allocated ProcessHeap::allocate_aligned(size_t alignment, size_t size) {
  if (valgrind_serves_this_call()) return counted(g_valgrind.allocate_aligned(alignment, size));
  // The block behind an over-aligned payload is alignment - 16 bytes bigger.
  const size_t slack = alignment > kPayloadAlignment ? alignment - kPayloadAlignment : 0;
  return on_thread_heap(size <= SIZE_MAX - slack ? size + slack : kNoRefill,
                        [&](FreeingBumpHeap& heap, unsigned*) { return heap.allocate_aligned(alignment, size); });
}

Allocated ProcessHeap::reallocate(void* payload, size_t size) {
  if (valgrind_serves_this_call()) return counted(g_valgrind.reallocate(payload, size));
  return on_thread_heap(size, [&](FreeingBumpHeap& heap, unsigned* freed_order) {
    return heap.reallocate(payload, size, freed_order);
  });
}

HeapError ProcessHeap::usable_size(const void* payload, size_t* size) {
  if (valgrind_serves_this_call()) return g_valgrind.usable_size(payload, size);
  return on_thread_heap(kNoRefill, [&](FreeingBumpHeap& heap, unsigned*) { return heap.usable_size(payload, size); });
}

// ---- Trimming, figures, fork -----------------------------------------------------------------

uint64_t ProcessHeap::trim() {
  if (!init_process()) return 0;
  AllocatorAtWork at_work;  // under valgrind: the pool merges and discards no-access memory
  const uint64_t requests = __atomic_add_fetch(&g_trim_requests, 1, __ATOMIC_RELAXED);
  if (ThreadHeap* record = tls_thread_heap) {
    record->answered_trim = requests;
    const HeapError error = g_pool.take_all_from(record->heap);
    if (error != HeapError::kNone) die_corrupt("malloc_trim", error);
  }
  {
    LockGuard guard(g_orphan_lock);
    const HeapError error = g_pool.take_all_from(g_orphan.heap);
    if (error != HeapError::kNone) die_corrupt("malloc_trim", error);
  }
  return g_pool.return_free_pages() + g_platform.drop_huge_cache();
}

ProcessTotals ProcessHeap::totals() {
  ProcessTotals totals{};
  g_registry.for_each_record([&](const ThreadHeap& record) {
    add_stats(totals.heaps, record.heap.stats());
    totals.bump_room += record.heap.bump_room();
  });
  {
    LockGuard guard(g_orphan_lock);
    add_stats(totals.heaps, g_orphan.heap.stats());
    totals.bump_room += g_orphan.heap.bump_room();
  }
  totals.in_use = __atomic_load_n(&g_in_use, __ATOMIC_RELAXED);
  totals.peak_in_use = __atomic_load_n(&g_peak_in_use, __ATOMIC_RELAXED);
  totals.thread_heaps = g_registry.records_made();
  totals.pool = g_pool.stats();
  totals.source = g_platform.stats();
  return totals;
}

void ProcessHeap::before_fork() {
  g_init_lock.lock();
  g_registry.lock();
  g_orphan_lock.lock();
  g_pool.lock_all();
  g_platform.lock_all();
}

void ProcessHeap::after_fork() {
  g_platform.unlock_all();
  g_pool.unlock_all();
  g_orphan_lock.unlock();
  g_registry.unlock();
  g_init_lock.unlock();
}

}  // namespace freebump
