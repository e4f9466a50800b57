// An independent reference model of sc-allocator's FreeingBumpHeapAllocator, for tests only.
//
// It is written from the rules (allocator.h's comment, which states them from sc-allocator's
// source), not from allocator.cc: it shares only the result types with the allocator, and
// restates on purpose every constant and rule the allocator takes from layout.h, in plainer
// arithmetic (64-bit throughout where the rule allows, sizes rounded by doubling in a loop,
// headers assembled byte by byte). The reproduced upstream tests run on both
// (upstream_test.cc), and the golden table of the differential test is this model's output
// (golden_generator.cc), which the allocator must then match row for row.
#ifndef FREEBUMP_SUBSTRATE_REFERENCE_MODEL_H_
#define FREEBUMP_SUBSTRATE_REFERENCE_MODEL_H_

#include <stdint.h>

#include "substrate/allocator.h"
#include "substrate/linear_memory.h"

namespace freebump {
namespace substrate {
namespace testing {

class ReferenceModel {
 public:
  static constexpr uint32_t kNoBlock = 0xFFFFFFFFu;

  explicit ReferenceModel(uint32_t heap_base)
      // Rounded up to a multiple of 8 in 32-bit arithmetic.
      : base_(static_cast<uint32_t>(heap_base + 7u) & ~7u), bump_(base_) {
    for (int i = 0; i < 23; ++i) lists_[i] = kNoBlock;
  }

  Allocation allocate(LinearMemory& memory, uint32_t size) {
    if (dead_) return Allocation{0, Error::kPoisoned};
    uint32_t result = 0;
    const Error error = try_allocate(memory, size, &result);
    if (error != Error::kNone) dead_ = true;
    return Allocation{result, error};
  }

  Error deallocate(LinearMemory& memory, uint32_t pointer) {
    if (dead_) return Error::kPoisoned;
    const Error error = try_deallocate(memory, pointer);
    if (error != Error::kNone) dead_ = true;
    return error;
  }

  const AllocationStats& stats() const { return stats_; }
  bool poisoned() const { return dead_; }
  uint32_t heap_base() const { return base_; }
  uint32_t bumper() const { return bump_; }
  uint32_t free_list_head(unsigned order) const { return lists_[order]; }

 private:
  Error try_allocate(LinearMemory& memory, uint32_t size, uint32_t* result) {
    const uint64_t memory_size = uint64_t{memory.pages()} * 65536;
    if (memory_size < seen_size_) return Error::kMemoryShrank;
    seen_size_ = memory_size;
    if (size > 32u * 1024 * 1024) return Error::kRequestedAllocationTooLarge;

    int order = 0;
    uint64_t payload = 8;
    while (payload < size) {
      payload *= 2;
      order++;
    }
    const uint64_t block = payload + 8;

    uint64_t where;
    if (lists_[order] != kNoBlock) {
      where = lists_[order];
      if (where + block > memory_size) return Error::kInvalidHeaderPointer;
      uint64_t word;
      if (!load(memory, where, &word)) return Error::kReadOutOfBounds;
      const uint32_t low = static_cast<uint32_t>(word & 0xFFFFFFFFu);
      if ((word >> 32) & 1) return low >= 23 ? Error::kInvalidOrder : Error::kFreeListPointsToOccupied;
      lists_[order] = low;
    } else {
      const uint64_t needed = uint64_t{bump_} + block;
      if (needed > uint64_t{memory.pages()} * 65536) {
        const uint64_t needed_pages = (needed + 65535) / 65536;
        const uint64_t pages = memory.pages();
        const uint64_t limit = memory.max_pages();
        if (pages >= limit) return Error::kAllocatorOutOfSpace;
        if (needed_pages > limit) return Error::kAllocatorOutOfSpace;
        uint64_t target = pages * 2;
        if (target > limit) target = limit;
        if (target < needed_pages) target = needed_pages;
        if (!memory.grow(static_cast<uint32_t>(target - pages))) return Error::kAllocatorOutOfSpace;
      }
      where = bump_;
      bump_ = static_cast<uint32_t>(uint64_t{bump_} + block);  // modulo 2^32
    }
    if (!store(memory, where, (uint64_t{1} << 32) + static_cast<uint64_t>(order))) {
      return Error::kWriteOutOfBounds;
    }
    stats_.bytes_allocated = static_cast<uint32_t>(stats_.bytes_allocated + block);
    stats_.bytes_allocated_sum += block;
    if (stats_.bytes_allocated > stats_.bytes_allocated_peak) stats_.bytes_allocated_peak = stats_.bytes_allocated;
    stats_.address_space_used = static_cast<uint32_t>(bump_ - base_);
    *result = static_cast<uint32_t>(where + 8);
    return Error::kNone;
  }

  Error try_deallocate(LinearMemory& memory, uint32_t pointer) {
    const uint64_t memory_size = uint64_t{memory.pages()} * 65536;
    if (memory_size < seen_size_) return Error::kMemoryShrank;
    seen_size_ = memory_size;
    if (pointer < 8) return Error::kInvalidPointerForDeallocation;
    const uint64_t where = pointer - 8;
    uint64_t word;
    if (!load(memory, where, &word)) return Error::kReadOutOfBounds;
    const uint32_t low = static_cast<uint32_t>(word & 0xFFFFFFFFu);
    if (((word >> 32) & 1) == 0) return Error::kFreeOfFreeHeader;
    if (low >= 23) return Error::kInvalidOrder;
    const uint32_t old_head = lists_[low];
    lists_[low] = static_cast<uint32_t>(where);
    if (!store(memory, where, old_head)) return Error::kWriteOutOfBounds;
    const uint32_t block = (8u << low) + 8;
    if (block > stats_.bytes_allocated) return Error::kAllocatedBytesUnderflow;
    stats_.bytes_allocated -= block;
    return Error::kNone;
  }

  // 8 little-endian bytes at `address`, which must end within the memory's bytes and within
  // the 32-bit address space.
  static bool load(const LinearMemory& memory, uint64_t address, uint64_t* word) {
    if (address + 8 > 0xFFFFFFFFull || address + 8 > memory.byte_length()) return false;
    uint8_t bytes[8];
    memory.read(static_cast<uint32_t>(address), bytes, 8);
    *word = 0;
    for (int i = 0; i < 8; ++i) *word |= uint64_t{bytes[i]} << (8 * i);
    return true;
  }
  static bool store(LinearMemory& memory, uint64_t address, uint64_t word) {
    if (address + 8 > 0xFFFFFFFFull || address + 8 > memory.byte_length()) return false;
    uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(word >> (8 * i));
    memory.write(static_cast<uint32_t>(address), bytes, 8);
    return true;
  }

  uint32_t base_;
  uint32_t bump_;
  uint32_t lists_[23];
  bool dead_ = false;
  uint64_t seen_size_ = 0;
  AllocationStats stats_;
};

}  // namespace testing
}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_REFERENCE_MODEL_H_
