// The Linux platform: where the preload library's heaps get their memory.
//
// - The heap lives in one large reservation (PROT_NONE, so it costs no commit charge),
//   committed with mprotect in steps as the heaps grow and handed out in chunks; every
//   thread's heap bumps through chunks of it, so all blocks share one base for their tags.
// - Huge blocks (above kHugeThreshold) are mappings of their own, each recorded (live, then
//   freed: huge_registry.h) so that owner_of() can judge a pointer without reading it. Freed
//   ones are kept in a small cache and handed out again for a request of about the same size,
//   as glibc reuses memory for repeated large allocations instead of paying mmap and page
//   faults each time.
// - Memory goes back to the kernel through munmap (huge blocks beyond the cache) and
//   madvise(MADV_DONTNEED) on the page-aligned inside of large free blocks (discard()).
//
// Thread-safe; every system call keeps the caller's errno. Nothing here knows of the layers
// above (platform.h).
#ifndef FREEBUMP_PRELOAD_LINUX_SOURCE_H_
#define FREEBUMP_PRELOAD_LINUX_SOURCE_H_

#include <stdint.h>

#include "preload/huge_registry.h"
#include "preload/lock.h"
#include "preload/platform.h"

namespace freebump {

struct LinuxSourceStats {
  uint64_t reserved;       // address space reserved for the heap
  uint64_t committed;      // of which made readable and writable
  uint64_t handed_out;     // of which handed to heaps
  uint64_t huge_mapped;    // bytes in huge mappings now (live or cached)
  uint64_t huge_cached;    // of which cached for reuse
  uint64_t peak_mapped;    // peak of committed + huge_mapped
  uint64_t returned;       // bytes given back with munmap or madvise, in total
};

class LinuxSource final : public Platform {
 public:
  // Requests above 1 MiB get a mapping of their own: page granularity wastes less than a
  // power-of-two block there, and glibc's dynamic mmap threshold ends up in this range too.
  static constexpr uint64_t kHugeThreshold = uint64_t{1} << 20;

  constexpr LinuxSource() : Platform(kHugeThreshold, true) {}

  // Reserves the address space; false if even the smallest reservation fails. Idempotent.
  bool reserve();

  Span grow(uint64_t min_bytes) override;
  uintptr_t base() const override { return reservation_begin_; }
  Span map_huge(uint64_t bytes, bool* zeroed) override;
  void unmap_huge(Span mapping) override;
  Span remap_huge(Span mapping, uint64_t bytes) override;
  Ownership owner_of(uintptr_t address, uint64_t bytes) const override;

  void* map_metadata(uint64_t bytes) override;
  void unmap_metadata(void* pages, uint64_t bytes) override;
  uint64_t discard(uintptr_t begin, uintptr_t end) override;  // madvise(MADV_DONTNEED)
  uint64_t now_ms() override;                                 // CLOCK_MONOTONIC_COARSE
  // Unmaps every cached huge mapping; returns the bytes released.
  uint64_t drop_huge_cache();

  LinuxSourceStats stats();

  // fork(): held across it so that the child inherits consistent state.
  void lock_all();
  void unlock_all();

 private:
  static constexpr int kHugeCacheSlots = 4;
  static constexpr uint64_t kHugeCacheMaxBytes = uint64_t{64} << 20;

  void note_mapped_locked();
  // mremap without the registry (the caller records the result).
  Span remap(Span mapping, uint64_t bytes);
  void release_mapping(Span mapping);

  Lock grow_lock_;
  uintptr_t reservation_begin_ = 0;
  uintptr_t reservation_end_ = 0;
  uintptr_t committed_end_ = 0;
  uintptr_t next_ = 0;

  mutable Lock huge_lock_;  // owner_of() takes it too
  HugeRegistry huge_registry_;
  Span huge_cache_[kHugeCacheSlots] = {};
  uint64_t huge_cached_bytes_ = 0;
  uint64_t committed_bytes_ = 0;  // committed_end_ - reservation_begin_, under huge_lock_
  uint64_t huge_mapped_bytes_ = 0;
  uint64_t peak_mapped_ = 0;
  uint64_t returned_bytes_ = 0;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_LINUX_SOURCE_H_
