// Mid-sized huge blocks: page-aligned extents cut from larger mappings, with their free
// extents joined to their neighbours as soon as they are freed, and the smallest free extent
// that holds a request cut for it (best fit, as jemalloc serves its large size classes).
//
// Why: size classes hold their free blocks for their own size only, and at a few dozen blocks
// per class the classes' peaks add up: around a live set of mixed sizes up to 1 MiB, the
// free blocks of classes above 64 KiB were a fifth of the process's memory. An extent freed
// here serves any size at once, and a run of freed extents serves a larger one. Extents are
// whole pages, so rounding costs under a page where a class costs up to a fifth.
//
// Free extents are kept sorted by address in bookkeeping pages of the platform; a request
// scans them (there are as many as there are gaps between live extents). Mappings are taken
// from the kernel kChunkBytes at a time (the rest is a free extent), and free extents nobody
// has used for a while are unmapped: the whole of their pages goes back. Not thread-safe: the
// platform locks.
#ifndef FREEBUMP_PRELOAD_EXTENT_ARENA_H_
#define FREEBUMP_PRELOAD_EXTENT_ARENA_H_

#include <stddef.h>
#include <stdint.h>

#include "preload/platform.h"

namespace freebump {

// What the arena needs from the operating system; LinuxSource gives it mmap and munmap.
class ExtentPages {
 public:
  virtual Span map_pages(uint64_t bytes) = 0;  // empty if the kernel refuses
  virtual void unmap_pages(Span span) = 0;
  virtual void* map_metadata(uint64_t bytes) = 0;
  virtual void unmap_metadata(void* pages, uint64_t bytes) = 0;

 protected:
  ~ExtentPages() = default;
};

class ExtentArena {
 public:
  static constexpr uint64_t kChunkBytes = uint64_t{4} << 20;

  constexpr explicit ExtentArena(ExtentPages* pages) : pages_(pages) {}
  ExtentArena(const ExtentArena&) = delete;
  ExtentArena& operator=(const ExtentArena&) = delete;

  // An extent of `bytes` (a multiple of kPageBytes), or an empty span if no memory can be
  // had. *zeroed tells whether it is known to read as zero (never used since it was mapped).
  // What a new mapping holds beyond the extent is free from now_ms.
  Span take(uint64_t bytes, uint64_t now_ms, bool* zeroed);
  // An extent given back (whole, or the tail of a live one), free from now_ms; unmapped at
  // once if no bookkeeping page can be had to record it.
  void give(Span extent, uint64_t now_ms);
  // Grows a live extent in place into the free extent right after it, if that holds
  // `bytes` more; false otherwise.
  bool extend(Span extent, uint64_t bytes);

  // Whether a free extent holds `bytes`: take() would not map.
  bool fits(uint64_t bytes) const;
  // When the free extent idle longest was freed; ~0 if there is none.
  uint64_t oldest_free_ms() const;
  // Unmaps up to `bytes` (whole pages) from the end of the free extent idle longest; returns
  // the bytes.
  uint64_t release_oldest(uint64_t bytes);

  uint64_t mapped_bytes() const { return mapped_bytes_; }
  uint64_t free_bytes() const { return free_bytes_; }

  // For tests: the free extents, in address order.
  size_t free_count() const { return count_; }
  Span free_extent(size_t i) const { return Span{extents_[i].begin, extents_[i].end}; }

 private:
  struct FreeExtent {
    uintptr_t begin;
    uintptr_t end;
    uint64_t freed_ms;  // when it was last freed (joined extents: the latest)
    bool zeroed;        // never written since it was mapped
  };

  // The first free extent that ends at or above `address` (count_ if none).
  size_t first_ending_from(uintptr_t address) const;
  size_t oldest() const;  // count_ if none
  bool add_free(Span extent, uint64_t now_ms, bool zeroed);
  bool make_room();
  void insert(size_t at, const FreeExtent& extent);
  void erase(size_t at);

  ExtentPages* pages_;
  FreeExtent* extents_ = nullptr;
  size_t count_ = 0;
  size_t capacity_ = 0;
  uint64_t mapped_bytes_ = 0;
  uint64_t free_bytes_ = 0;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_EXTENT_ARENA_H_
