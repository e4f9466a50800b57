#include "tests/fuzz/heap_checker.h"

#include <stdio.h>

#include <algorithm>

namespace freebump {
namespace fuzz {
namespace {

std::string hex(uintptr_t value) {
  char text[24];
  snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

constexpr uintptr_t align16(uintptr_t value) { return (value + 15) & ~uintptr_t{15}; }

// The header position that follows a region ending at `end`: `end` itself where a recycled
// region ends (at the header of the block after it), else the first header of the span that
// follows (8 bytes past its 16-byte-aligned start).
constexpr uintptr_t header_after(uintptr_t end) { return (end & 15) == 8 ? end : align16(end) + 8; }

// Bump space, walked over whole: from its first header to the header after it.
struct Hole {
  uintptr_t first;
  uintptr_t end;
  std::string what;
};

struct Block {
  TagKind kind;
  unsigned order;
};

class Checker {
 public:
  Checker(const CheckedMemory& memory, const LiveBlocks& live)
      : memory_(memory), live_(live), codec_(memory.heaps.front()->codec()) {}

  std::string run() {
    std::string problem = collect_holes();
    if (problem.empty()) problem = walk();
    if (problem.empty()) problem = check_lists();
    if (problem.empty()) problem = check_live_blocks();
    if (problem.empty()) problem = check_statistics();
    return problem;
  }

 private:
  std::string collect_holes() {
    for (size_t i = 0; i < memory_.heaps.size(); ++i) {
      const FreeingBumpHeap& heap = *memory_.heaps[i];
      if (heap.bump_pointer() != 0 && heap.bump_end() > heap.bump_pointer()) {
        holes_.push_back(Hole{heap.bump_pointer(), header_after(heap.bump_end()),
                              "heap " + std::to_string(i) + "'s bump region"});
      }
    }
    for (const Span& spare : memory_.spare_regions) {
      holes_.push_back(Hole{align16(spare.begin) + 8, header_after(spare.end), "a spare region"});
    }
    std::sort(holes_.begin(), holes_.end(), [](const Hole& a, const Hole& b) { return a.first < b.first; });
    for (size_t i = 0; i + 1 < holes_.size(); ++i) {
      if (holes_[i].end > holes_[i + 1].first) {
        return holes_[i].what + " [" + hex(holes_[i].first) + ", " + hex(holes_[i].end) + ") overlaps " +
               holes_[i + 1].what + " at " + hex(holes_[i + 1].first);
      }
    }
    return "";
  }

  // Block after block from the first header to the high water.
  std::string walk() {
    const uintptr_t high_water = memory_.high_water;
    if (high_water == 0) {  // nothing handed out yet
      return holes_.empty() ? "" : holes_.front().what + " lies beyond the high water";
    }
    uintptr_t header = codec_.base() + kHeaderBytes;
    size_t next_hole = 0;
    for (;;) {
      if (next_hole < holes_.size() && holes_[next_hole].first <= header) {
        if (holes_[next_hole].first < header) {
          return "the walk stepped over " + holes_[next_hole].what + " at " + hex(holes_[next_hole].first) +
                 " (a block ends at " + hex(header) + ")";
        }
        header = holes_[next_hole++].end;
        continue;
      }
      if (header + block_bytes(0) > high_water) break;
      const uint64_t tag = load_tag(header);
      const DecodedTag decoded = codec_.decode(header, tag);
      if (decoded.check_ok && (decoded.kind == TagKind::kUsed || decoded.kind == TagKind::kFree)) {
        const uintptr_t end = header + static_cast<uintptr_t>(block_bytes(decoded.order));
        if (end > high_water) return "the block at " + hex(header) + " runs past the high water " + hex(high_water);
        if (next_hole < holes_.size() && holes_[next_hole].first < end) {
          return "the block at " + hex(header) + " runs into " + holes_[next_hole].what + " at " +
                 hex(holes_[next_hole].first);
        }
        blocks_[header] = Block{decoded.kind, decoded.order};
        header = end;
        continue;
      }
      // The 16 bytes before a span that the heap before it did not reach: never written.
      if (tag == 0 && std::binary_search(memory_.span_begins.begin(), memory_.span_begins.end(),
                                         header + kHeaderBytes)) {
        header += 16;
        continue;
      }
      char detail[96];
      snprintf(detail, sizeof detail, " (0x%016llx: kind %u, order %u, check %s)",
               static_cast<unsigned long long>(tag), static_cast<unsigned>(decoded.kind), decoded.order,
               decoded.check_ok ? "good" : "bad");
      return "the tag at " + hex(header) + " is no USED or FREE block's" + detail;
    }
    if (next_hole < holes_.size()) {
      return "the walk ended at " + hex(header) + " before " + holes_[next_hole].what + " at " +
             hex(holes_[next_hole].first);
    }
    if (header > high_water + kHeaderBytes) {
      return "the walk ended at " + hex(header) + ", past the high water " + hex(high_water);
    }
    return "";
  }

  // Follows up to `max_blocks` links from `head`; says where it stopped.
  std::string follow(const std::string& name, unsigned order, uintptr_t head, uint64_t max_blocks,
                     uint64_t* count, uintptr_t* last, uintptr_t* next) {
    *count = 0;
    *last = 0;
    uintptr_t header = head;
    while (header != 0 && *count < max_blocks) {
      const auto block = blocks_.find(header);
      if (block == blocks_.end()) return name + " links to " + hex(header) + ", which is no block of the walk";
      if (block->second.kind != TagKind::kFree || block->second.order != order) {
        return name + " holds " + hex(header) + ", which is no FREE block of order " + std::to_string(order);
      }
      const auto other = listed_.find(header);
      if (other != listed_.end()) return name + " holds " + hex(header) + ", which is on " + other->second + " too";
      listed_[header] = name;
      ++*count;
      *last = header;
      header = codec_.link_target(TagCodec::value_of(load_tag(header)));
    }
    *next = header;
    return "";
  }

  std::string check_lists() {
    for (size_t i = 0; i < memory_.heaps.size(); ++i) {
      const FreeingBumpHeap& heap = *memory_.heaps[i];
      for (unsigned order = 0; order < kNumOrders; ++order) {
        const std::string name = "heap " + std::to_string(i) + "'s list of order " + std::to_string(order);
        uint64_t count;
        uintptr_t last, next;
        std::string problem = follow(name, order, heap.free_list_head(order), ~uint64_t{0}, &count, &last, &next);
        if (!problem.empty()) return problem;
        if (count != heap.free_count(order)) {
          return name + " holds " + std::to_string(count) + " blocks, its count says " +
                 std::to_string(heap.free_count(order));
        }
      }
    }
#if FREEBUMP_CHECKED
    // The checked flavour's quarantine: freed blocks that wait, FREE and linked to nothing,
    // before they join their lists.
    for (size_t i = 0; i < memory_.heaps.size(); ++i) {
      std::string problem;
      memory_.heaps[i]->for_each_quarantined([&](uintptr_t header) {
        const auto block = blocks_.find(header);
        const std::string name = "heap " + std::to_string(i) + "'s quarantine";
        if (!problem.empty()) return;
        if (block == blocks_.end() || block->second.kind != TagKind::kFree) {
          problem = name + " holds " + hex(header) + ", which is no FREE block of the walk";
        } else if (codec_.link_target(TagCodec::value_of(load_tag(header))) != 0) {
          problem = name + " holds " + hex(header) + ", which links to another block";
        } else if (listed_.count(header) != 0) {
          problem = name + " holds " + hex(header) + ", which is on " + listed_[header] + " too";
        } else {
          listed_[header] = name;
        }
      });
      if (!problem.empty()) return problem;
    }
#endif
    for (size_t i = 0; i < memory_.chains.size(); ++i) {
      const unsigned order = memory_.chains[i].first;
      const FreeChain& chain = memory_.chains[i].second;
      const std::string name = "chain " + std::to_string(i) + " of order " + std::to_string(order);
      uint64_t count;
      uintptr_t last, next;
      std::string problem = follow(name, order, chain.head, chain.count, &count, &last, &next);
      if (!problem.empty()) return problem;
      if (count != chain.count || last != chain.tail || next != 0) {
        return name + " should hold " + std::to_string(chain.count) + " blocks up to its tail " + hex(chain.tail) +
               "; it holds " + std::to_string(count) + " up to " + hex(last) + ", then links to " + hex(next);
      }
    }
    for (const auto& [header, block] : blocks_) {
      if (block.kind == TagKind::kFree && listed_.count(header) == 0) {
        return "the free block at " + hex(header) + " (order " + std::to_string(block.order) + ") is on no list";
      }
    }
    return "";
  }

  std::string check_live_blocks() {
    std::map<uintptr_t, uintptr_t> owners;  // USED header -> the live payload in its block
    for (const auto& [payload, size] : live_) {
      uintptr_t header = payload - kHeaderBytes;
      auto block = blocks_.find(header);
      if (block == blocks_.end() || block->second.kind != TagKind::kUsed) {
        // An over-aligned payload: its ALIGNED tag points back to the block.
        const uint64_t tag = load_tag(header);
        const uintptr_t real = TagCodec::aligned_target(header, TagCodec::value_of(tag));
        if (tag != codec_.aligned(header, real)) {
          return "the live pointer " + hex(payload) + " has neither a USED nor an ALIGNED tag";
        }
        header = real;
        block = blocks_.find(header);
        if (block == blocks_.end() || block->second.kind != TagKind::kUsed || header >= payload) {
          return "the ALIGNED tag of " + hex(payload) + " points to " + hex(header) + ", no USED block before it";
        }
      }
      const uintptr_t end = header + static_cast<uintptr_t>(block_bytes(block->second.order));
      if (payload + size > end) {
        return "the live pointer " + hex(payload) + " of " + std::to_string(size) + " bytes runs past its block's end " +
               hex(end);
      }
      size_t usable = 0;
      const HeapError error = memory_.heaps.front()->usable_size(reinterpret_cast<void*>(payload), &usable);
      if (error != HeapError::kNone || payload + usable != end) {
        return "usable_size(" + hex(payload) + ") says " + describe(error) + ", " + std::to_string(usable) +
               " bytes; the block ends at " + hex(end);
      }
      if (!owners.emplace(header, payload).second) {
        return "the live pointers " + hex(owners[header]) + " and " + hex(payload) + " share the block at " + hex(header);
      }
    }
    for (const auto& [header, block] : blocks_) {
      if (block.kind == TagKind::kUsed && owners.count(header) == 0) {
        return "the USED block at " + hex(header) + " (order " + std::to_string(block.order) +
               ") is no block the program holds";
      }
    }
    return "";
  }

  std::string check_statistics() {
    uint64_t walked_live[kNumOrders] = {};
    uint64_t walked_bytes = 0;
    for (const auto& [header, block] : blocks_) {
      if (block.kind != TagKind::kUsed) continue;
      walked_live[block.order]++;
      walked_bytes += block_bytes(block.order);
    }
    uint64_t counted_live[kNumOrders] = {};
    uint64_t counted_bytes = 0;
    uint64_t address_space = 0;
    for (const FreeingBumpHeap* heap : memory_.heaps) {
      const HeapStats& stats = heap->stats();
      for (unsigned order = 0; order < kNumOrders; ++order) counted_live[order] += stats.orders[order].live;
      counted_bytes += stats.bytes_in_use;
      address_space += stats.address_space;
    }
    for (unsigned order = 0; order < kNumOrders; ++order) {
      if (counted_live[order] != walked_live[order]) {
        return "the heaps count " + std::to_string(static_cast<int64_t>(counted_live[order])) +
               " live blocks of order " + std::to_string(order) + ", the walk finds " +
               std::to_string(walked_live[order]);
      }
    }
    if (counted_bytes != walked_bytes) {
      return "the heaps count " + std::to_string(static_cast<int64_t>(counted_bytes)) + " bytes in use, the walk finds " +
             std::to_string(walked_bytes);
    }
    if (address_space != memory_.fresh_bytes) {
      return "the heaps count " + std::to_string(address_space) + " bytes of address space, the source handed out " +
             std::to_string(memory_.fresh_bytes);
    }
    if (memory_.heaps.size() == 1 && memory_.heaps.front()->stats().peak_bytes_in_use < walked_bytes) {
      return "the peak in use is below the bytes in use";
    }
    return "";
  }

  const CheckedMemory& memory_;
  const LiveBlocks& live_;
  const TagCodec& codec_;
  std::vector<Hole> holes_;
  std::map<uintptr_t, Block> blocks_;        // every block the walk found, by header
  std::map<uintptr_t, std::string> listed_;  // every block on a list or chain, and which
};

}  // namespace

std::string check_heap(const CheckedMemory& memory, const LiveBlocks& live) { return Checker(memory, live).run(); }

}  // namespace fuzz
}  // namespace freebump
