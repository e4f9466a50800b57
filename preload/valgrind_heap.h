// The process's heap as valgrind's tools see it. Under valgrind (RUNNING_ON_VALGRIND, asked
// once at start-up) every call of the malloc family comes here instead of the thread heaps,
// and each block is described to the tool with valgrind's client requests, so that memcheck
// reports a program's leaks, heap overruns and uses after free on libfreebump's blocks as it
// reports them under its own allocator:
//
// - A block is announced with VALGRIND_MALLOCLIKE_BLOCK at the size the program asked for,
//   and is kRedZone bytes bigger than that: behind every block lie at least kRedZone no-access
//   bytes (then the next block's header tag), as memcheck's own allocator keeps red zones, so
//   an overrun of up to that much is an invalid access and memcheck names the right block (it
//   looks kRedZone bytes around each block for the one an address belongs to). The platform
//   marks fresh heap memory and huge mappings no-access as it maps them (linux_source.cc);
//   freed blocks are marked by VALGRIND_FREELIKE_BLOCK. The allocator's own reads and writes
//   of that memory (tags, free lists, merging) run with error reporting off.
// - malloc_usable_size answers the size asked for, as under memcheck's own allocator (the
//   rounding is not the program's to use); realloc stays in place (VALGRIND_RESIZEINPLACE_
//   BLOCK) when the block holds the new size, else it allocates, copies and frees.
// - Freed blocks wait in a quarantine of kQuarantineBytes (memcheck's own --freelist-vol)
//   before the heap reuses them, so a use after free finds no-access memory; blocks above
//   kQuarantinedBlockLimit go back at once (their mappings are unmapped or no-access).
// - A free of a pointer that is no live block is shown to the tool (its "Invalid free()"
//   report, with where the block was allocated and freed) before the library's own one-line
//   diagnostic and abort.
//
// One heap under one lock: valgrind runs one thread at a time anyway. The requested sizes live
// in a table in bookkeeping pages, the addresses scrambled so that memcheck's leak check does
// not take the table for pointers to the blocks. Outside valgrind none of this runs: the
// fast paths are unchanged.
#ifndef FREEBUMP_PRELOAD_VALGRIND_HEAP_H_
#define FREEBUMP_PRELOAD_VALGRIND_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include "lib/heap.h"
#include "preload/lock.h"
#include "preload/metadata_ring.h"
#include "preload/platform.h"

namespace freebump {

// Whether the process runs under a valgrind tool that checks heap memory (memcheck, and the
// other tools that replace malloc: each loads a vgpreload_<tool> library into the program).
// Under the tools that only count or time what runs (callgrind, cachegrind: vgpreload_core
// alone) the program keeps the real allocator, which is what they are there to profile.
// A handful of instructions outside valgrind, no system call.
bool valgrind_checks_heap();

// While one is alive, the tool reports no errors in this thread: the allocator is at work on
// memory that is no-access to the program. Outside valgrind, a few instructions that do nothing.
class AllocatorAtWork {
 public:
  AllocatorAtWork();
  ~AllocatorAtWork();
  AllocatorAtWork(const AllocatorAtWork&) = delete;
  AllocatorAtWork& operator=(const AllocatorAtWork&) = delete;
};

class ValgrindHeap {
 public:
  static constexpr uint64_t kQuarantineBytes = 20000000;
  static constexpr uint64_t kQuarantinedBlockLimit = uint64_t{1} << 20;
  // memcheck's own default red zone (--redzone-size).
  static constexpr uint64_t kRedZone = 16;

  // The heap and its lock are the caller's (the process heap's shared heap), and so are the
  // bookkeeping pages' platform.
  constexpr ValgrindHeap(FreeingBumpHeap* heap, Lock* lock, Platform* platform)
      : heap_(heap), lock_(lock), platform_(platform) {}
  ValgrindHeap(const ValgrindHeap&) = delete;
  ValgrindHeap& operator=(const ValgrindHeap&) = delete;

  // As FreeingBumpHeap's.
  Allocated allocate(size_t size, bool zeroed);
  Allocated allocate_aligned(size_t alignment, size_t size);
  Allocated reallocate(void* payload, size_t size);
  HeapError free(void* payload);
  HeapError usable_size(const void* payload, size_t* size);

 private:
  struct Slot {
    uintptr_t scrambled;  // the payload's address ^ kScramble; 0 empty, kErased erased
    uint64_t size;
  };
  struct Quarantined {
    uintptr_t payload;
    uint64_t size;
  };
  static constexpr uintptr_t kScramble = 0xA5A5A5A5A5A5A5A5u;
  static constexpr uintptr_t kErased = 1;

  Allocated announce(Allocated block, size_t size, bool zeroed);
  HeapError release_locked(uintptr_t payload, uint64_t size);
  HeapError misused_locked(uintptr_t payload);
  // The table of requested sizes (open addressing, linear probing).
  Slot* find_slot(uintptr_t payload) const;
  bool insert(uintptr_t payload, uint64_t size);
  bool grow_table();

  FreeingBumpHeap* heap_;
  Lock* lock_;
  Platform* platform_;
  Slot* slots_ = nullptr;
  size_t capacity_ = 0;  // a power of two
  size_t used_ = 0;      // live and erased slots
  MetadataRing<Quarantined> quarantine_;
  uint64_t quarantined_bytes_ = 0;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_VALGRIND_HEAP_H_
