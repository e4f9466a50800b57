// The checked flavour's part of FreeingBumpHeap (lib/flavour.h): the quarantine, the poison
// of freed payloads, and blocks' origins. Empty in the default flavour.
#include "lib/heap.h"

#if FREEBUMP_CHECKED

namespace freebump {

// A freed block waits, poisoned, behind a FREE tag that links to nothing, so that freeing it
// again is a double free and a write into it is found when it is reused. Once more than
// kQuarantineBlocks (or more than kQuarantineBytes) wait, the oldest goes onto its list. A
// block too big to wait goes onto its list at once.
HeapError FreeingBumpHeap::quarantine(uintptr_t header, unsigned order, unsigned* listed_order) {
  *listed_order = kNumOrders;
  poison(header, order);
  if (block_bytes(order) > kQuarantinedBlockBytes) {
    push_free(header, order);
    count_held(order, 1);
    *listed_order = order;
    return HeapError::kNone;
  }
  store_tag(header, codec_.free(header, order, 0));
  HeapError error = HeapError::kNone;
  if (quarantine_.count == kQuarantineBlocks) error = list_oldest_quarantined(listed_order);
  const unsigned slot = (quarantine_.oldest + quarantine_.count) % kQuarantineBlocks;
  quarantine_.headers[slot] = header;
  quarantine_.orders[slot] = static_cast<uint8_t>(order);
  quarantine_.count++;
  quarantine_.bytes += block_bytes(order);
  while (error == HeapError::kNone && quarantine_.bytes > kQuarantineBytes && quarantine_.count > 1) {
    error = list_oldest_quarantined(listed_order);
  }
  return error;
}

// The oldest waiting block onto its free list. Its tag must be as the quarantine left it; a
// damaged one is dropped (its memory lost), as a damaged list is.
HeapError FreeingBumpHeap::list_oldest_quarantined(unsigned* listed_order) {
  const uintptr_t header = quarantine_.headers[quarantine_.oldest];
  const unsigned order = quarantine_.orders[quarantine_.oldest];
  quarantine_.oldest = (quarantine_.oldest + 1) % kQuarantineBlocks;
  quarantine_.count--;
  quarantine_.bytes -= block_bytes(order);
  if (load_tag(header) != codec_.free(header, order, 0)) return HeapError::kCorruptFreeList;
  push_free(header, order);
  count_held(order, 1);
  *listed_order = order;
  return HeapError::kNone;
}

HeapError FreeingBumpHeap::release_quarantine() {
  HeapError first_error = HeapError::kNone;
  while (quarantine_.count != 0) {
    unsigned listed_order;
    const HeapError error = list_oldest_quarantined(&listed_order);
    if (first_error == HeapError::kNone) first_error = error;
  }
  return first_error;
}

// Every word of the poisoned bytes still holds the poison, but for an over-aligned payload's
// ALIGNED tag pointing back to this block, which a free puts back (release_block).
bool FreeingBumpHeap::poison_intact(uintptr_t header, unsigned order) const {
  const uintptr_t payload = header + kHeaderBytes;
  const uintptr_t end = payload + static_cast<uintptr_t>(poisoned_bytes(order));
  for (uintptr_t word = payload; word < end; word += 8) {
    const uint64_t value = load_tag(word);
    if (value != kPoisonWord && value != codec_.aligned(word, header)) return false;
  }
  return true;
}

HeapError FreeingBumpHeap::set_origin(void* payload, Origin origin) {
  LiveBlock block;
  const HeapError error = find_live_block(reinterpret_cast<uintptr_t>(payload), &block);
  if (error != HeapError::kNone) return error;
  const uint64_t tag = block.huge ? codec_.huge(block.header, TagCodec::value_of(load_tag(block.header)) * kHugeUnitBytes, origin)
                                  : codec_.used(block.header, block.order, origin);
  store_tag(block.header, tag);
  return HeapError::kNone;
}

}  // namespace freebump

#endif  // FREEBUMP_CHECKED
