// The Linux platform: where the preload library's heaps get their memory.
//
// - The heap's address space is taken as it is needed, so that an address-space limit
//   (ulimit -v, RLIMIT_AS) counts only memory in use, as it does for glibc: ranges mapped
//   read-write in 4 MiB steps, each step placed right after the last (MAP_FIXED_NOREPLACE),
//   so the heap stays one run of memory. Its first range is placed at a random address in a
//   part of the address space the kernel leaves empty (between 1/16 and 1/4 of the way up to
//   the stack), where the run can grow undisturbed. Should another mapping stand in the way,
//   a new range opens above it, within reach of the tags' links (header_tag.h); heaps see the
//   first run through high_water() and the other ranges through owner_of().
// - Every thread's heap bumps through chunks of these ranges, so all blocks share one base
//   for their tags.
// - Huge blocks (above kHugeThreshold) are whole pages, each recorded (live, then freed:
//   huge_registry.h) so that owner_of() can judge a pointer without reading it. Up to
//   kLargestExtent they are extents of an arena (extent_arena.h), whose freed extents join
//   their neighbours and serve the next request of any size that fits, as glibc's heap serves
//   repeated large allocations instead of paying mmap and page faults each time. Larger ones
//   are mappings of their own, freed ones kept in a small cache for a request of about the
//   same size. When address space runs out, free extents and cached mappings go first, and
//   those nobody has reused for a while (the pool's idle time) go too: a program that freed a
//   large buffer in one phase does not keep its pages through the next.
// - Memory goes back to the kernel through munmap (idle extents, huge mappings beyond the cache) and
//   madvise(MADV_DONTNEED) on the page-aligned inside of large free blocks (discard()).
//
// Thread-safe; every system call keeps the caller's errno. Nothing here knows of the layers
// above (platform.h).
#ifndef FREEBUMP_PRELOAD_LINUX_SOURCE_H_
#define FREEBUMP_PRELOAD_LINUX_SOURCE_H_

#include <stdint.h>

#include "preload/extent_arena.h"
#include "preload/huge_registry.h"
#include "preload/lock.h"
#include "preload/platform.h"

namespace freebump {

struct LinuxSourceStats {
  uint64_t heap_mapped;    // bytes mapped for the heap
  uint64_t heap_ranges;    // in how many ranges (1 unless another mapping stood in the way)
  uint64_t handed_out;     // of which handed to heaps
  uint64_t huge_mapped;    // bytes in huge mappings now (live or cached)
  uint64_t huge_cached;    // of which cached for reuse
  uint64_t peak_mapped;    // peak of heap_mapped + huge_mapped
  uint64_t returned;       // bytes given back with munmap or madvise, in total
};

class LinuxSource final : public Platform, private ExtentPages {
 public:
  // Requests above 64 KiB are huge blocks, whole pages each: extents of the arena up to
  // kLargestExtent (extent_arena.h: freed ones join their neighbours and serve any size, with
  // no system call and no page fault), mappings of their own above it. glibc's dynamic mmap
  // threshold stops rising at the same 32 MiB (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit).
  static constexpr uint64_t kHugeThreshold = uint64_t{64} << 10;
  static constexpr uint64_t kLargestExtent = uint64_t{32} << 20;
  // Free huge memory (free extents, cached mappings) that stays mapped when fresh memory is
  // mapped: 1/kIdleShare of the live huge blocks, kMinIdleBytes at least (make_way_locked).
  // As much as is live: with half, buffers grown by realloc faulted in twice the pages (their
  // free neighbours went back), for a tenth less peak memory with two huge blocks alive.
  static constexpr uint64_t kIdleShare = 1;
  static constexpr uint64_t kMinIdleBytes = uint64_t{4} << 20;
  // When the heap grows, free huge memory beyond kMinIdleBytes idle this long goes back (grow).
  static constexpr uint64_t kHeapGrowthIdleMs = 100;
  // A huge block that moves to grow gets 1/kGrowthRoomShare of its size on top, and keeps a
  // tail under that share when it shrinks (resize_huge).
  static constexpr uint64_t kGrowthRoomShare = 4;

  constexpr LinuxSource() : Platform(kHugeThreshold, true), arena_(this) {}

  // Maps the heap's first range (its base); false if no address space can be had. Idempotent.
  bool start();

  Span grow(uint64_t min_bytes) override;
  uintptr_t base() const override { return __atomic_load_n(&ranges_[0].begin, __ATOMIC_ACQUIRE); }
  Span map_huge(uint64_t bytes, bool* zeroed) override;
  void unmap_huge(Span mapping) override;
  Span remap_huge(Span mapping, uint64_t bytes) override;
  Ownership owner_of(uintptr_t address, uint64_t bytes) const override;
#if FREEBUMP_CHECKED
  uint64_t tag_key() const override { return tag_key_; }  // set by start()
#endif

  void* map_metadata(uint64_t bytes) override;
  void unmap_metadata(void* pages, uint64_t bytes) override;
  uint64_t discard(uintptr_t begin, uintptr_t end) override;  // madvise(MADV_DONTNEED)
  uint64_t now_ms() override;                                 // CLOCK_MONOTONIC_COARSE
  // Unmaps the cached huge mappings cached at or before idle_since_ms.
  uint64_t release_idle(uint64_t idle_since_ms) override;
  // Unmaps every cached huge mapping; returns the bytes released.
  uint64_t drop_huge_cache() { return drop_cached_since(~uint64_t{0}); }

  LinuxSourceStats stats();

  // fork(): held across it so that the child inherits consistent state.
  void lock_all();
  void unlock_all();

 private:
  static constexpr int kHugeCacheSlots = 4;
  static constexpr uint64_t kHugeCacheMaxBytes = uint64_t{64} << 20;
  // Ranges of the heap beyond this many (other mappings in the way each time) are not opened.
  static constexpr int kMaxRanges = 64;

  // [begin, end) mapped read-write for the heap; `end` grows as the range is extended. Both are
  // read without the lock by owner_of(): a range is filled in before range_count_ counts it.
  struct Range {
    uintptr_t begin;
    uintptr_t end;
  };
  enum class MapResult { kMapped, kTaken, kNoMemory };

  static MapResult map_exactly(uintptr_t at, uint64_t bytes);
  bool start_locked();
  bool make_room_locked(uint64_t bytes);
  MapResult extend_range_locked(uint64_t bytes);
  MapResult open_range_locked(uint64_t bytes);
  void add_range_locked(uintptr_t begin, uint64_t bytes);
  void note_heap_mapped_locked(uint64_t bytes);
  void note_mapped_locked();
  // mremap without the registry (the caller records the result).
  Span remap(Span mapping, uint64_t bytes);
  Span obtain_huge(uint64_t length, bool* zeroed);
  Span resize_huge(Span block, uint64_t length);
  void release_huge(Span block);
  void give_extent_locked(Span extent);
  void make_way_locked();
  uint64_t release_free_locked(uint64_t kept, uint64_t idle_since_ms);
  void release_mapping(Span mapping);
  // ExtentPages: the arena's mappings.
  Span map_pages(uint64_t bytes) override;
  void unmap_pages(Span span) override;
  uint64_t drop_cached_since(uint64_t cached_ms);

  Lock grow_lock_;
  Range ranges_[kMaxRanges] = {};
  int range_count_ = 0;
  uintptr_t next_ = 0;  // where the next span starts, in the last range
  uint64_t handed_out_bytes_ = 0;

  mutable Lock huge_lock_;  // owner_of() takes it too
  HugeRegistry huge_registry_;
  Span huge_cache_[kHugeCacheSlots] = {};
  uint64_t huge_cached_ms_[kHugeCacheSlots] = {};  // when each went into the cache
  uint64_t huge_cached_bytes_ = 0;
  ExtentArena arena_;  // under huge_lock_
  uint64_t heap_mapped_bytes_ = 0;  // under huge_lock_, for the peak
  uint64_t huge_mapped_bytes_ = 0;  // in mappings of their own (the arena counts its own)
  uint64_t peak_mapped_ = 0;
  uint64_t returned_bytes_ = 0;
#if FREEBUMP_CHECKED
  uint64_t tag_key_ = 0;
#endif
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_LINUX_SOURCE_H_
