// The one heap of a wasm32 instance, shared by the WASI and the freestanding builds.
#ifndef FREEBUMP_WASM_WASM_HEAP_H_
#define FREEBUMP_WASM_WASM_HEAP_H_

#include "lib/heap.h"

namespace freebump {
namespace wasm {

// Constant-initialised (no constructor runs: with --no-entry wasm-ld would re-run dynamic
// initialisers around every export). Single-threaded, like wasm32 instances without threads.
FreeingBumpHeap& instance_heap();

}  // namespace wasm
}  // namespace freebump

#endif  // FREEBUMP_WASM_WASM_HEAP_H_
