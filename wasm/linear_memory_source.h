// The wasm32 platform of the core: a MemorySource over a linear memory that grows with
// memory.grow.
//
// Layout of a wasm32 linear memory (what wasm-ld leaves us):
//
//   0          data, stack         __heap_base            __heap_end / memory end
//   +---------------------------------+--------------------------+ - - - - - - - - +
//   |  the program's static memory    |  free: our first span     |  later growth   |
//   +---------------------------------+--------------------------+ - - - - - - - - +
//
// - The heap starts at __heap_base. The first span ends at __heap_end where the linker
//   defines it (wasm-ld 15+; a weak symbol, 0 when absent), else at the memory's end.
// - Later spans come from memory.grow. Other code (a JS host, another allocator, a language
//   runtime) may grow memory too: if the memory's end is no longer where our last span
//   ended, the new span starts at the new end, and the heap retires the old span's tail into
//   free blocks (FreeingBumpHeap::adopt_span). We never touch memory we did not grow.
// - Growth policy, to keep peak memory low: exactly the pages the request needs, as
//   dlmalloc's sbrk does. A page is 64 KiB, so a program makes at most one grow call per
//   64 KiB it comes to use; growing by a share of the memory ahead of need cost the wasm
//   workloads' peaks up to that share (benchmarks/results/wasm32.md).
// - All arithmetic is 64-bit: 65536 pages of 64 KiB end exactly at 2^32, which a 32-bit
//   uintptr_t cannot hold (Substrate's u32 bumper wrapped there). Spans are capped at
//   kAddressLimit; a request that cannot fit is refused before memory.grow is called, so a
//   failed request never grows memory.
//
// The memory itself is a template parameter (`Memory`: static heap_base(), heap_end(),
// page_count(), grow(pages)), so the same growth logic runs on real wasm memory
// (wasm_memory.h) and, in tests, on a simulated one on any target.
#ifndef FREEBUMP_WASM_LINEAR_MEMORY_SOURCE_H_
#define FREEBUMP_WASM_LINEAR_MEMORY_SOURCE_H_

#include <stdint.h>

#include "lib/bits.h"
#include "lib/memory_source.h"

// FREEBUMP_MEMORY_GROWTH=0 builds a source that never calls memory.grow (the heap lives in
// the memory the module starts with): only for measuring what growth costs in code
// (//lib:size_probe, the wasm size figures), never shipped.
#ifndef FREEBUMP_MEMORY_GROWTH
#error "FREEBUMP_MEMORY_GROWTH comes from //lib:core (lib/footprint.bzl)"
#endif

namespace freebump {
namespace wasm {

inline constexpr uint64_t kPageBytes = 65536;
// wasm32 addresses are below 2^32; spans end at most 16 bytes short of it so that every
// end is representable and 16-byte aligned.
inline constexpr uint64_t kMaxPages = 65536;
inline constexpr uint64_t kAddressLimit = kMaxPages * kPageBytes - 16;
// What Memory::grow returns when memory.grow fails.
inline constexpr uint64_t kGrowFailed = ~uint64_t{0};

template <class Memory>
class LinearMemorySource final : public MemorySource {
 public:
  // Fresh wasm pages are zero, and so is the memory above __heap_base at instantiation.
  constexpr LinearMemorySource() : MemorySource(kNoHugeBlocks, true) {}

  Span grow(uint64_t min_bytes) override {
    const uint64_t pages = Memory::page_count();
    const uint64_t memory_end = pages * kPageBytes;
    // Ours so far ends at end_ (at __heap_base before the first span; the first span may
    // not pass __heap_end). If the memory's end has moved past end_, someone else grew it:
    // our next span starts at the memory's end.
    uint64_t begin = end_;
    uint64_t limit = memory_end;
    if (end_ == 0) {
      begin = Memory::heap_base();
      const uint64_t heap_end = Memory::heap_end();
      if (heap_end != 0 && heap_end < limit) limit = heap_end;
      if (begin > limit) return Span{};
    } else if (end_ != memory_end) {
      begin = memory_end;
    }
    if (limit - begin >= min_bytes) return span(begin, limit);
    if (!FREEBUMP_MEMORY_GROWTH) return Span{};
    if (limit != memory_end) begin = memory_end;  // growth cannot continue a span capped early
    const uint64_t need_pages = divide_rounding_up(min_bytes - (memory_end - begin), kPageBytes);
    if (min_bytes > kMaxPages * kPageBytes || need_pages > kMaxPages - pages) {
      return Span{};  // fails without calling memory.grow
    }
    if (Memory::grow(need_pages) != pages) {
      return Span{};  // memory.grow failed (or another grower raced us, impossible on one thread)
    }
    return span(begin, (pages + need_pages) * kPageBytes);
  }

  uintptr_t base() const override { return static_cast<uintptr_t>(Memory::heap_base()); }

 private:
  Span span(uint64_t begin, uint64_t end) {
    end_ = end;
    if (end > kAddressLimit) end = kAddressLimit;
    raise_high_water(static_cast<uintptr_t>(end));
    return Span{static_cast<uintptr_t>(begin), static_cast<uintptr_t>(end)};
  }

  // The end of the last span handed out (uncapped, so it compares with the memory's end);
  // 0 before the first.
  uint64_t end_ = 0;
};

}  // namespace wasm
}  // namespace freebump

#endif  // FREEBUMP_WASM_LINEAR_MEMORY_SOURCE_H_
