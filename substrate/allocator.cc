#include "substrate/allocator.h"

namespace freebump {
namespace substrate {

bool read_le_u64(const LinearMemory& memory, uint32_t offset, uint64_t* value) {
  if (offset > UINT32_MAX - 8 || uint64_t{offset} + 8 > memory.byte_length()) return false;
  uint8_t bytes[8];
  memory.read(offset, bytes, 8);
  uint64_t result = 0;
  for (int i = 7; i >= 0; --i) result = (result << 8) | bytes[i];
  *value = result;
  return true;
}

bool write_le_u64(LinearMemory& memory, uint32_t offset, uint64_t value) {
  if (offset > UINT32_MAX - 8 || uint64_t{offset} + 8 > memory.byte_length()) return false;
  uint8_t bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  memory.write(offset, bytes, 8);
  return true;
}

const char* message(Error error) {
  switch (error) {
    case Error::kNone: return "no error";
    case Error::kRequestedAllocationTooLarge: return "Requested allocation size is too large";
    case Error::kAllocatorOutOfSpace: return "Allocator ran out of space";
    case Error::kMemoryShrank: return "Shrinking of the underlying memory is observed";
    case Error::kPoisoned: return "Other: the allocator has been poisoned";
    case Error::kInvalidHeaderPointer: return "Other: Invalid header pointer detected";
    case Error::kFreeListPointsToOccupied: return "Other: free list points to a occupied header";
    case Error::kInvalidOrder: return "Other: invalid order";
    case Error::kReadOutOfBounds: return "Other: read out of heap bounds";
    case Error::kWriteOutOfBounds: return "Other: write out of heap bounds";
    case Error::kInvalidPointerForDeallocation: return "Other: Invalid pointer for deallocation";
    case Error::kFreeOfFreeHeader: return "Other: the allocation points to an empty header";
    case Error::kAllocatedBytesUnderflow: return "Other: underflow of the currently allocated bytes count";
  }
  return "unknown error";
}

namespace {

uint64_t memory_bytes(const LinearMemory& memory) { return uint64_t{memory.pages()} * kPageBytes; }

}  // namespace

// (heap_base + 7) / 8 * 8 in u32: a base within 7 bytes of 4 GiB wraps, as in sc-allocator.
HostAllocator::HostAllocator(uint32_t heap_base)
    : heap_base_(static_cast<uint32_t>(heap_base + (kAlignment - 1)) / kAlignment * kAlignment),
      bumper_(heap_base_) {
  for (uint32_t& head : heads_) head = kNilLink;
}

Allocation HostAllocator::allocate(LinearMemory& memory, uint32_t size) {
  if (poisoned_) return Allocation{0, Error::kPoisoned};
  uint32_t pointer = 0;
  const Error error = allocate_unpoisoned(memory, size, &pointer);
  if (error != Error::kNone) poisoned_ = true;
  return Allocation{pointer, error};
}

Error HostAllocator::deallocate(LinearMemory& memory, uint32_t pointer) {
  if (poisoned_) return Error::kPoisoned;
  const Error error = deallocate_unpoisoned(memory, pointer);
  if (error != Error::kNone) poisoned_ = true;
  return error;
}

Error HostAllocator::observe_memory_size(const LinearMemory& memory) {
  const uint64_t bytes = memory_bytes(memory);
  if (bytes < last_observed_memory_bytes_) return Error::kMemoryShrank;
  last_observed_memory_bytes_ = bytes;
  return Error::kNone;
}

Error HostAllocator::allocate_unpoisoned(LinearMemory& memory, uint32_t size, uint32_t* pointer) {
  if (Error error = observe_memory_size(memory); error != Error::kNone) return error;
  if (size > kMaxAllocation) return Error::kRequestedAllocationTooLarge;
  const unsigned order = order_for_size(size);
  uint32_t header;
  const Error error = heads_[order] != kNilLink ? take_from_free_list(memory, order, &header)
                                                : bump(memory, order, &header);
  if (error != Error::kNone) {
    if (error == Error::kAllocatorOutOfSpace) note_out_of_space(order);
    return error;
  }
  // Both paths have already moved the list head or the bump pointer: a failed write leaves
  // them moved, as in sc-allocator (the allocator is poisoned then anyway).
  if (!write_le_u64(memory, header, occupied_header(order))) return Error::kWriteOutOfBounds;

  const uint32_t block = block_bytes(order);
  stats_.bytes_allocated += block;
  stats_.bytes_allocated_sum += block;
  if (stats_.bytes_allocated > stats_.bytes_allocated_peak) {
    stats_.bytes_allocated_peak = stats_.bytes_allocated;
  }
  stats_.address_space_used = bumper_ - heap_base_;
  OrderStats& counts = usage_.orders[order];
  counts.live++;
  counts.allocations++;
  usage_.bytes_requested_sum += size;
  *pointer = header + kHeaderBytes;
  return Error::kNone;
}

Error HostAllocator::take_from_free_list(LinearMemory& memory, unsigned order, uint32_t* header) {
  const uint32_t head = heads_[order];
  // The whole block must lie inside the memory's pages (not merely its header).
  if (uint64_t{head} + payload_bytes(order) + kHeaderBytes > memory_bytes(memory)) {
    return Error::kInvalidHeaderPointer;
  }
  uint64_t raw;
  if (!read_le_u64(memory, head, &raw)) return Error::kReadOutOfBounds;
  const DecodedHeader decoded = decode_header(raw);
  if (decoded.occupied) {
    return decoded.value >= kNumOrders ? Error::kInvalidOrder : Error::kFreeListPointsToOccupied;
  }
  // The link is not checked until it becomes the head that is popped.
  heads_[order] = decoded.value;
  usage_.orders[order].free--;
  *header = head;
  return Error::kNone;
}

Error HostAllocator::bump(LinearMemory& memory, unsigned order, uint32_t* header) {
  const uint32_t block = block_bytes(order);
  const uint64_t required_bytes = uint64_t{bumper_} + block;
  const uint32_t current_pages = memory.pages();
  if (required_bytes > uint64_t{current_pages} * kPageBytes) {
    uint32_t required_pages;
    if (!pages_for_bytes(required_bytes, &required_pages)) return Error::kAllocatorOutOfSpace;
    const uint32_t max_pages = memory.max_pages();
    if (current_pages >= max_pages || required_pages > max_pages) return Error::kAllocatorOutOfSpace;
    // Double the memory if the maximum allows, or at least reach what is needed. u32
    // arithmetic, as upstream (pages never exceed 65536, so the doubling cannot wrap).
    const uint32_t doubled = current_pages * 2;
    uint32_t next_pages = doubled < max_pages ? doubled : max_pages;
    if (required_pages > next_pages) next_pages = required_pages;
    // The new size is not checked against what was asked for: an engine that grows less than
    // it says makes the header write below fail instead, as upstream.
    if (!memory.grow(next_pages - current_pages)) return Error::kAllocatorOutOfSpace;
  }
  *header = bumper_;
  bumper_ += block;  // wraps at exactly 4 GiB (see allocator.h)
  return Error::kNone;
}

Error HostAllocator::deallocate_unpoisoned(LinearMemory& memory, uint32_t pointer) {
  if (Error error = observe_memory_size(memory); error != Error::kNone) return error;
  if (pointer < kHeaderBytes) return Error::kInvalidPointerForDeallocation;
  const uint32_t header = pointer - kHeaderBytes;
  uint64_t raw;
  if (!read_le_u64(memory, header, &raw)) return Error::kReadOutOfBounds;
  const DecodedHeader decoded = decode_header(raw);
  if (decoded.occupied && decoded.value >= kNumOrders) return Error::kInvalidOrder;
  if (!decoded.occupied) return Error::kFreeOfFreeHeader;
  const unsigned order = decoded.value;

  const uint32_t previous_head = heads_[order];
  heads_[order] = header;
  if (!write_le_u64(memory, header, free_header(previous_head))) return Error::kWriteOutOfBounds;
  OrderStats& counts = usage_.orders[order];
  counts.live--;
  counts.free++;
  // The block is on the list by now; an underflow (a header forged to look occupied) leaves
  // it there and the count unchanged, as upstream.
  const uint32_t block = block_bytes(order);
  if (stats_.bytes_allocated < block) return Error::kAllocatedBytesUnderflow;
  stats_.bytes_allocated -= block;
  return Error::kNone;
}

void HostAllocator::note_out_of_space(unsigned order) {
  if (usage_.out_of_space) return;
  usage_.out_of_space = true;
  usage_.out_of_space_order = order;
  uint64_t free_bytes = 0;
  for (unsigned other = 0; other < kNumOrders; ++other) {
    if (other != order) free_bytes += usage_.orders[other].free * block_bytes(other);
  }
  usage_.out_of_space_free_bytes = free_bytes;
}

}  // namespace substrate
}  // namespace freebump
