// The huge mappings a platform has handed out, so that a pointer can be judged without reading
// memory that may not be ours: inside a live huge block's mapping, inside one freed since (a
// second free is a double free, even once the mapping is gone), or neither.
//
// Records are kept sorted by address in bookkeeping pages of the platform, never overlapping:
// every live mapping, and the most recently freed ones (kFreedRecords of them: the oldest goes
// when there are more; any record a new mapping overlaps goes too, as the kernel reuses
// addresses). Not thread-safe: the platform locks.
#ifndef FREEBUMP_PRELOAD_HUGE_REGISTRY_H_
#define FREEBUMP_PRELOAD_HUGE_REGISTRY_H_

#include <stddef.h>
#include <stdint.h>

#include "preload/platform.h"

namespace freebump {

class HugeRegistry {
 public:
  // Freed mappings remembered, so that the last this many huge blocks freed twice are named as
  // double frees.
  static constexpr uint64_t kFreedRecords = 1024;

  constexpr HugeRegistry() = default;
  HugeRegistry(const HugeRegistry&) = delete;
  HugeRegistry& operator=(const HugeRegistry&) = delete;

  // Makes room for one more record before a mapping is made, so that recording it cannot
  // fail afterwards; false if no bookkeeping page can be mapped. Each reservation is used by
  // one add_live or resize_live, or given back by release_room.
  bool reserve_room(Platform& platform);
  void release_room() { reserved_--; }

  // A mapping handed out (fresh, or a freed one handed out again): live from now on.
  void add_live(Span mapping);
  // A live mapping freed.
  void mark_freed(Span mapping);
  // A live mapping resized to `resized` (moved, or at the same address).
  void resize_live(Span mapping, Span resized);

  // Where the `bytes` at `address` lie: kLiveHuge or kFreedHuge if inside one mapping's record,
  // else kNotOurs.
  Ownership find(uintptr_t address, uint64_t bytes) const;

  uint64_t live_count() const { return count_ - freed_count_; }

 private:
  struct Record {
    uintptr_t begin;
    uintptr_t end;
    uint64_t freed_at;  // 0 while live; else when it was freed (a sequence number)
  };

  // The first record that ends above `address` (count_ if none).
  size_t first_ending_above(uintptr_t address) const;
  // The record that starts at `begin` (count_ if none).
  size_t find_start(uintptr_t begin) const;
  void erase(size_t index);
  // Drops the records that overlap [begin, end).
  void drop_overlapping(uintptr_t begin, uintptr_t end);
  void drop_oldest_freed();

  Record* records_ = nullptr;
  size_t count_ = 0;
  size_t capacity_ = 0;
  size_t reserved_ = 0;  // room promised by reserve_room and not yet used
  uint64_t freed_count_ = 0;
  uint64_t next_freed_at_ = 1;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_HUGE_REGISTRY_H_
