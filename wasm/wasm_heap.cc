#include "wasm/wasm_heap.h"

#include "wasm/wasm_memory.h"

namespace freebump {
namespace wasm {
namespace {

// The source is a constant-initialised global (a few bytes of data: its vtable pointer and
// limits). The heap starts all zero, so it costs no module bytes, and is bound to the
// source on first use; a heap holding the source's address from the start would be stored
// whole in the data segment (hundreds of bytes, mostly zeros).
WasmMemorySource source;

}  // namespace

FreeingBumpHeap g_instance_heap;

// Out of line: the first-use check then exists once in the module instead of once in every
// export that reaches the heap, at the cost of a call per slow path.
__attribute__((noinline)) FreeingBumpHeap& instance_heap() {
  if (__builtin_expect(!g_instance_heap.bound(), 0)) g_instance_heap.bind(&source);
  return g_instance_heap;
}

}  // namespace wasm
}  // namespace freebump
