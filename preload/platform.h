// The preload library's platform seam: what its layers need from the operating system.
//
// A Platform is a MemorySource (lib/memory_source.h: heap spans from its ranges, huge
// mappings) plus what the central pool needs on top: pages for the allocator's own
// bookkeeping, giving the pages of free memory back, and a clock to tell how long memory has
// been idle. Linux implements it (linux_source.h); the pool's tests implement it over a fixed
// buffer with a clock they move by hand. Nothing here calls back up.
#ifndef FREEBUMP_PRELOAD_PLATFORM_H_
#define FREEBUMP_PRELOAD_PLATFORM_H_

#include <stdint.h>

#include "lib/memory_source.h"

namespace freebump {

// The page size of every platform the preload library runs on (x86-64 and arm64 Linux with
// 4 KiB pages): the unit of mappings and of pages given back.
inline constexpr uint64_t kPageBytes = 4096;

class Platform : public MemorySource {
 public:
  // Zeroed pages for bookkeeping (outside the heap), or nullptr; and giving them back.
  virtual void* map_metadata(uint64_t bytes) = 0;
  virtual void unmap_metadata(void* pages, uint64_t bytes) = 0;
  // Gives back the whole pages inside [begin, end) of a span this platform handed out: they
  // stay mapped, cost no memory until written again, and then read as zero. Returns the
  // bytes given back.
  virtual uint64_t discard(uintptr_t begin, uintptr_t end) = 0;
  // Milliseconds on a monotonic clock.
  virtual uint64_t now_ms() = 0;
  // Gives back memory the platform keeps for reuse of its own accord (freed huge mappings)
  // that nobody has reused since idle_since_ms; returns the bytes. The pool calls it when it
  // looks for its own idle memory.
  virtual uint64_t release_idle(uint64_t idle_since_ms) {
    static_cast<void>(idle_since_ms);
    return 0;
  }

 protected:
  constexpr Platform(uint64_t huge_threshold, bool spans_are_zeroed)
      : MemorySource(huge_threshold, spans_are_zeroed) {}
  ~Platform() = default;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_PLATFORM_H_
