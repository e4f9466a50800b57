#include "wasm/wasm_heap.h"

#include <stddef.h>

#include "wasm/wasm_memory.h"

namespace freebump {
namespace wasm {
namespace {

// Construction in place without <new> (there is no C++ library in a freestanding build): a
// placement allocation function of our own, told apart from the standard one by its tag.
struct InPlace {};

// The heap and its source are built in zeroed storage on first use rather than being
// initialised globals: a global with any non-zero field (the source pointer, a vtable) is
// stored whole in the module's data segment, zeros included (about 1 KB for the heap),
// whereas zeroed storage costs no module bytes. Constructing them is a handful of stores.
alignas(WasmMemorySource) unsigned char source_storage[sizeof(WasmMemorySource)];
alignas(FreeingBumpHeap) unsigned char heap_storage[sizeof(FreeingBumpHeap)];
bool ready = false;

}  // namespace
}  // namespace wasm
}  // namespace freebump

inline void* operator new(size_t, freebump::wasm::InPlace, void* where) noexcept { return where; }

namespace freebump {
namespace wasm {

FreeingBumpHeap& instance_heap() {
  if (__builtin_expect(!ready, 0)) {
    new (InPlace{}, heap_storage) FreeingBumpHeap(new (InPlace{}, source_storage) WasmMemorySource());
    ready = true;
  }
  return *reinterpret_cast<FreeingBumpHeap*>(heap_storage);
}

}  // namespace wasm
}  // namespace freebump
