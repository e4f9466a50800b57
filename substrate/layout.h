// Substrate's block layout and header encoding, as sc-allocator defines them
// (paritytech/polkadot-sdk, substrate/client/allocator/src/freeing_bump.rs). This file is the
// one definition of them in this project; the allocator (allocator.h) is built on it.
//
// A block is an 8-byte header followed by a payload of 8 << order bytes:
//
//     header (8 B)   payload (8 << order B)
//     +--------+---------------------------------+
//     | header |                                 |
//     +--------+---------------------------------+
//              ^ the pointer handed out (an offset into the instance's memory)
//
// - 23 orders: payloads of 8 B (order 0) to 32 MiB (order 22); a request takes the smallest
//   power of two >= max(size, 8). The block footprint is 8 + (8 << order), so every block
//   past order 0 shifts the next payload by 8 mod 16: the alignment is 8 and only 8 (sizes 1,
//   9, 1 from heap base 0 give payloads at 8, 24, 48).
// - The header is a little-endian u64. Occupied: bit 32 set, the order in the low 32 bits.
//   Free: bit 32 clear, the low 32 bits link to the next free *header* of the same order, and
//   0xFFFFFFFF ends the list. Reading ignores bits 33-63; writing leaves them zero.
//
// How this differs from the core's own layout (lib/size_classes.h, lib/header_tag.h), and why
// it is not a setting of the core: the core rounds every block to 16 bytes so that payloads
// are 16-byte aligned (its one class per doubling gives blocks of 16, 32, 48, 80, 144 bytes
// where Substrate's are 16, 24, 40, 72, 136); its tags carry a 16-bit check tied to their
// address and link relative to the heap base with 0 ending a list. A Substrate host must
// reproduce every address, so none of that can apply here.
#ifndef FREEBUMP_SUBSTRATE_LAYOUT_H_
#define FREEBUMP_SUBSTRATE_LAYOUT_H_

#include <stdint.h>

#include "substrate/linear_memory.h"

namespace freebump {
namespace substrate {

inline constexpr uint32_t kHeaderBytes = 8;
// The heap base is rounded up to this, and every block length is a multiple of it.
inline constexpr uint32_t kAlignment = 8;
inline constexpr unsigned kNumOrders = 23;
inline constexpr uint32_t kMinAllocation = 8;
// sp_core's MAX_POSSIBLE_ALLOCATION: 32 MiB, the payload of the last order.
inline constexpr uint32_t kMaxAllocation = kMinAllocation << (kNumOrders - 1);
static_assert(kMaxAllocation == 32u << 20);

// The payload bytes of an order (callers pass order < kNumOrders).
constexpr uint32_t payload_bytes(unsigned order) { return kMinAllocation << order; }
// Header and payload: what a block takes from the bump region and counts in the statistics.
constexpr uint32_t block_bytes(unsigned order) { return kHeaderBytes + payload_bytes(order); }

// The order of a request of `size` bytes, size <= kMaxAllocation: the exponent of the
// smallest power of two >= max(size, 8), less 3.
constexpr unsigned order_for_size(uint32_t size) {
  return size <= kMinAllocation ? 0 : 32u - static_cast<unsigned>(__builtin_clz(size - 1)) - 3u;
}

static_assert(order_for_size(0) == 0 && order_for_size(8) == 0 && order_for_size(9) == 1 &&
              order_for_size(16) == 1 && order_for_size(17) == 2 &&
              order_for_size(kMaxAllocation) == kNumOrders - 1);

// Pages needed to hold `bytes`, or false if that count does not fit in a u32.
constexpr bool pages_for_bytes(uint64_t bytes, uint32_t* pages) {
  const uint64_t count = bytes / kPageBytes + (bytes % kPageBytes != 0 ? 1 : 0);
  if (count > UINT32_MAX) return false;
  *pages = static_cast<uint32_t>(count);
  return true;
}

// ---- The header ---------------------------------------------------------------------------

// The link value that ends a free list (and marks an empty list head).
inline constexpr uint32_t kNilLink = UINT32_MAX;
inline constexpr uint64_t kOccupiedBit = uint64_t{1} << 32;

constexpr uint64_t occupied_header(unsigned order) { return kOccupiedBit | order; }
constexpr uint64_t free_header(uint32_t next_link) { return next_link; }

// A header as read: `occupied` with `value` the order, or free with `value` the link. The
// order is not checked here (sc-allocator reports an occupied header with an order >= 23 as
// "invalid order"; allocator.cc does the same).
struct DecodedHeader {
  bool occupied;
  uint32_t value;
};
constexpr DecodedHeader decode_header(uint64_t raw) {
  return DecodedHeader{(raw & kOccupiedBit) != 0, static_cast<uint32_t>(raw)};
}

// Little-endian u64 access through a LinearMemory, with sc-allocator's bounds rule: the 8
// bytes must end (offset + 8, computed in u32 without wrapping) within byte_length().
// false when they do not (nothing is read or written).
bool read_le_u64(const LinearMemory& memory, uint32_t offset, uint64_t* value);
bool write_le_u64(LinearMemory& memory, uint32_t offset, uint64_t value);

}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_LAYOUT_H_
