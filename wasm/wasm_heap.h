// The one heap of a wasm32 instance, shared by the WASI and the freestanding builds.
#ifndef FREEBUMP_WASM_WASM_HEAP_H_
#define FREEBUMP_WASM_WASM_HEAP_H_

#include <stddef.h>

#include "lib/heap.h"

namespace freebump {
namespace wasm {

// Constant-initialised (no constructor runs: with --no-entry wasm-ld would re-run dynamic
// initialisers around every export). Single-threaded, like wasm32 instances without threads.
// Its memory source is bound by instance_heap() on first use.
extern FreeingBumpHeap g_instance_heap;
FreeingBumpHeap& instance_heap();

// The heap as CApi (lib/c_api.h) sees it. Where the core has inline fast paths (the WASI
// build) they run inline in malloc and free, without the calls into the heap; they need no
// bound source (an unbound heap has empty lists and no known memory, so they just decline).
// Without them (the freestanding module) malloc and free call the heap directly.
struct InstanceHeap {
  void* try_allocate(size_t size) {
#if FREEBUMP_INLINE_FAST_PATHS
    return g_instance_heap.try_allocate(size);
#else
    static_cast<void>(size);
    return nullptr;
#endif
  }
  bool try_free(void* payload) {
#if FREEBUMP_INLINE_FAST_PATHS
    return g_instance_heap.try_free(payload);
#else
    static_cast<void>(payload);
    return false;
#endif
  }
  Allocated allocate(size_t size) { return instance_heap().allocate(size); }
  HeapError free(void* payload) { return instance_heap().free(payload); }
  Allocated allocate_zeroed(size_t size) { return instance_heap().allocate_zeroed(size); }
  Allocated allocate_aligned(size_t alignment, size_t size) {
    return instance_heap().allocate_aligned(alignment, size);
  }
  Allocated reallocate(void* payload, size_t size) { return instance_heap().reallocate(payload, size); }
  HeapError usable_size(const void* payload, size_t* size) {
    return instance_heap().usable_size(payload, size);
  }
};

}  // namespace wasm
}  // namespace freebump

#endif  // FREEBUMP_WASM_WASM_HEAP_H_
