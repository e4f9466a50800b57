// The real wasm32 linear memory (memory 0) for LinearMemorySource: the linker's heap
// symbols and the memory.size / memory.grow instructions.
#ifndef FREEBUMP_WASM_WASM_MEMORY_H_
#define FREEBUMP_WASM_WASM_MEMORY_H_

#include <stddef.h>
#include <stdint.h>

#include "wasm/linear_memory_source.h"

#if !defined(__wasm32__)
#error "wasm/wasm_memory.h is for wasm32 targets only"
#endif

// Defined by wasm-ld: the first byte after the static data and the stack, and (wasm-ld 15+)
// the end of the initial memory. __heap_end is weak: its address is 0 when the linker does
// not define it (wasm-ld 14 does not).
extern "C" unsigned char __heap_base;
extern "C" __attribute__((weak)) unsigned char __heap_end;

namespace freebump {
namespace wasm {

struct WasmMemory {
  static uint64_t heap_base() { return reinterpret_cast<uintptr_t>(&__heap_base); }
  static uint64_t heap_end() { return reinterpret_cast<uintptr_t>(&__heap_end); }
  static uint64_t page_count() { return __builtin_wasm_memory_size(0); }
  // The old page count, or kGrowFailed. `pages` <= kMaxPages fits memory.grow's i32.
  static uint64_t grow(uint64_t pages) {
    const size_t old = __builtin_wasm_memory_grow(0, static_cast<size_t>(pages));
    return old == SIZE_MAX ? kGrowFailed : old;
  }
};

using WasmMemorySource = LinearMemorySource<WasmMemory>;

}  // namespace wasm
}  // namespace freebump

#endif  // FREEBUMP_WASM_WASM_MEMORY_H_
