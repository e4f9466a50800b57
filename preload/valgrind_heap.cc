#include "preload/valgrind_heap.h"

#include <string.h>
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

extern char** environ;

namespace freebump {
namespace {

size_t slot_index(uintptr_t scrambled, size_t capacity) {
  return static_cast<size_t>((scrambled >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (capacity - 1);
}

// What a quarantined block counts against the quarantine: at least a header's worth, so that
// blocks of size 0 are bounded too.
uint64_t quarantine_cost(uint64_t size) { return size + kHeaderBytes; }

// The block a request of `size` takes: a red zone bigger (a size too large stays too large).
size_t with_red_zone(size_t size) {
  return size <= kMaxRequest - ValgrindHeap::kRedZone ? size + ValgrindHeap::kRedZone : SIZE_MAX;
}

}  // namespace

bool valgrind_checks_heap() {
  if (RUNNING_ON_VALGRIND == 0) return false;
  // Read from environ: the first malloc may come before anything that would copy it.
  if (environ == nullptr) return true;
  static const char kVariable[] = "LD_PRELOAD=";
  static const char kToolLibrary[] = "vgpreload_";
  static const char kCoreOnly[] = "core";
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (strncmp(*entry, kVariable, sizeof kVariable - 1) != 0) continue;
    for (const char* at = strstr(*entry, kToolLibrary); at != nullptr; at = strstr(at + 1, kToolLibrary)) {
      if (strncmp(at + sizeof kToolLibrary - 1, kCoreOnly, sizeof kCoreOnly - 1) != 0) return true;
    }
    return false;
  }
  return true;  // valgrind always preloads its core: no LD_PRELOAD at all is not the usual case
}

// The allocator's own accesses to memory the tool sees as no-access (tags, free lists,
// merging) are not the program's errors.
AllocatorAtWork::AllocatorAtWork() { VALGRIND_DISABLE_ERROR_REPORTING; }
AllocatorAtWork::~AllocatorAtWork() { VALGRIND_ENABLE_ERROR_REPORTING; }

Allocated ValgrindHeap::allocate(size_t size, bool zeroed) {
  LockGuard guard(*lock_);
  Allocated block;
  {
    AllocatorAtWork at_work;
    block = zeroed ? heap_->allocate_zeroed(with_red_zone(size)) : heap_->allocate(with_red_zone(size));
  }
  return announce(block, size, zeroed);
}

Allocated ValgrindHeap::allocate_aligned(size_t alignment, size_t size) {
  LockGuard guard(*lock_);
  Allocated block;
  {
    AllocatorAtWork at_work;
    block = heap_->allocate_aligned(alignment, with_red_zone(size));
  }
  return announce(block, size, false);
}

// Records a block the heap just returned (or passes its failure on) and announces it to the
// tool.
Allocated ValgrindHeap::announce(Allocated block, size_t size, bool zeroed) {
  if (block.payload() == nullptr) return block;
  AllocatorAtWork at_work;
  if (!insert(reinterpret_cast<uintptr_t>(block.payload()), size)) {
    heap_->free(block.payload());
    return Allocated::failure(HeapError::kOutOfMemory);
  }
  VALGRIND_MALLOCLIKE_BLOCK(block.payload(), size, kRedZone, zeroed);
  return block;
}

HeapError ValgrindHeap::free(void* payload) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  LockGuard guard(*lock_);
  uint64_t size;
  {
    AllocatorAtWork at_work;
    Slot* slot = find_slot(address);
    if (slot == nullptr) {
      const HeapError error = misused_locked(address);
      // The tool's own report first (where the block was allocated and freed), then ours.
      VALGRIND_ENABLE_ERROR_REPORTING;
      VALGRIND_FREELIKE_BLOCK(payload, kRedZone);
      VALGRIND_DISABLE_ERROR_REPORTING;
      return error;
    }
    size_t usable;
    const HeapError error = heap_->usable_size(payload, &usable);  // its tag intact
    if (error != HeapError::kNone) return error;
    size = slot->size;
    slot->scrambled = kErased;
  }
  VALGRIND_FREELIKE_BLOCK(payload, kRedZone);
  AllocatorAtWork at_work;
  return release_locked(address, size);
}

Allocated ValgrindHeap::reallocate(void* payload, size_t size) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  LockGuard guard(*lock_);
  uint64_t old_size;
  Allocated moved;
  {
    AllocatorAtWork at_work;
    Slot* slot = find_slot(address);
    size_t usable = 0;
    if (slot == nullptr) {
      const HeapError error = misused_locked(address);
      VALGRIND_ENABLE_ERROR_REPORTING;
      VALGRIND_FREELIKE_BLOCK(payload, kRedZone);  // the tool's "Invalid ... realloc()" report
      VALGRIND_DISABLE_ERROR_REPORTING;
      return Allocated::failure(error);
    }
    const HeapError error = heap_->usable_size(payload, &usable);  // its tag intact
    if (error != HeapError::kNone) return Allocated::failure(error);
    old_size = slot->size;
    if (with_red_zone(size) <= usable) {
      slot->size = size;
      VALGRIND_RESIZEINPLACE_BLOCK(payload, old_size, size, kRedZone);
      return Allocated{payload};
    }
    moved = heap_->allocate(with_red_zone(size));
    if (moved.payload() == nullptr) return moved;
  }
  moved = announce(moved, size, false);
  if (moved.payload() == nullptr) return moved;
  // Copied with the tool watching, so that what was undefined stays undefined.
  __builtin_memcpy(moved.payload(), payload, static_cast<size_t>(old_size < size ? old_size : size));
  {
    AllocatorAtWork at_work;
    find_slot(address)->scrambled = kErased;
  }
  VALGRIND_FREELIKE_BLOCK(payload, kRedZone);
  AllocatorAtWork at_work;
  const HeapError error = release_locked(address, old_size);
  return error == HeapError::kNone ? moved : Allocated::failure(error);
}

HeapError ValgrindHeap::usable_size(const void* payload, size_t* size) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
  LockGuard guard(*lock_);
  AllocatorAtWork at_work;
  const Slot* slot = find_slot(address);
  if (slot == nullptr) return misused_locked(address);
  *size = static_cast<size_t>(slot->size);
  return HeapError::kNone;
}

// A freed block waits in the quarantine; the oldest ones go back to the heap.
HeapError ValgrindHeap::release_locked(uintptr_t payload, uint64_t size) {
  if (size > kQuarantinedBlockLimit || !quarantine_.push_newest(*platform_, Quarantined{payload, size})) {
    return heap_->free(reinterpret_cast<void*>(payload));
  }
  quarantined_bytes_ += quarantine_cost(size);
  while (quarantined_bytes_ > kQuarantineBytes) {
    const Quarantined oldest = quarantine_.pop_oldest();
    quarantined_bytes_ -= quarantine_cost(oldest.size);
    const HeapError error = heap_->free(reinterpret_cast<void*>(oldest.payload));
    if (error != HeapError::kNone) return error;
  }
  return HeapError::kNone;
}

// What is wrong with a pointer that is no live block: a block in the quarantine was freed
// already; for anything else the heap's own checks tell (its tags are intact: only the
// quarantine holds blocks the table does not).
HeapError ValgrindHeap::misused_locked(uintptr_t payload) {
  for (size_t i = 0; i < quarantine_.size(); ++i) {
    if (quarantine_.from_newest(i).payload == payload) return HeapError::kDoubleFree;
  }
  size_t usable;
  const HeapError error = heap_->usable_size(reinterpret_cast<const void*>(payload), &usable);
  return error != HeapError::kNone ? error : HeapError::kInvalidPointer;
}

ValgrindHeap::Slot* ValgrindHeap::find_slot(uintptr_t payload) const {
  if (capacity_ == 0) return nullptr;
  const uintptr_t scrambled = payload ^ kScramble;
  for (size_t i = slot_index(scrambled, capacity_);; i = (i + 1) & (capacity_ - 1)) {
    if (slots_[i].scrambled == scrambled) return &slots_[i];
    if (slots_[i].scrambled == 0) return nullptr;
  }
}

bool ValgrindHeap::insert(uintptr_t payload, uint64_t size) {
  // At most three quarters full (erased slots included), so that probes stay short and end.
  if ((used_ + 1) * 4 > capacity_ * 3 && !grow_table()) return false;
  const uintptr_t scrambled = payload ^ kScramble;
  size_t i = slot_index(scrambled, capacity_);
  while (slots_[i].scrambled != 0) i = (i + 1) & (capacity_ - 1);
  slots_[i] = Slot{scrambled, size};
  used_++;
  return true;
}

// Moves the live entries to a table twice as large (or as large, when erased slots made
// this one look full); the old pages go back.
bool ValgrindHeap::grow_table() {
  size_t live = 0;
  for (size_t i = 0; i < capacity_; ++i) live += slots_[i].scrambled > kErased;
  size_t capacity = capacity_ == 0 ? kPageBytes / sizeof(Slot) : capacity_;
  while ((live + 1) * 2 > capacity) capacity *= 2;
  auto* slots = static_cast<Slot*>(platform_->map_metadata(capacity * sizeof(Slot)));
  if (slots == nullptr) return false;
  for (size_t i = 0; i < capacity_; ++i) {
    if (slots_[i].scrambled <= kErased) continue;
    size_t j = slot_index(slots_[i].scrambled, capacity);
    while (slots[j].scrambled != 0) j = (j + 1) & (capacity - 1);
    slots[j] = slots_[i];
  }
  if (slots_ != nullptr) platform_->unmap_metadata(slots_, capacity_ * sizeof(Slot));
  slots_ = slots;
  capacity_ = capacity;
  used_ = live;
  return true;
}

}  // namespace freebump
