// Merging free blocks: the part of FreeingBumpHeap that lets freed memory serve other sizes.
#include "lib/heap.h"

namespace freebump {

// ---- Merging free blocks -------------------------------------------------------------------
//
// Freeing-bump's weakness is that a freed block serves only its own order (Substrate's
// allocator never reused memory across sizes, polkadot-sdk#8992). When memory runs out, the
// free lists are merged: every free block is put in address order (marked in a caller's
// bitmap and read back by scanning it, or else threaded onto one list through its payload,
// free payloads being ours, and the list sorted), runs of adjacent blocks become the
// largest blocks they can form, and the smallest one that fits becomes bump space.

namespace {

// The payload word of a free block, used while merging as the link of the sorted list.
uintptr_t& merge_link(uintptr_t header) { return *reinterpret_cast<uintptr_t*>(header + kHeaderBytes); }

uintptr_t merge_sorted(uintptr_t a, uintptr_t b) {
  uintptr_t head = 0;
  uintptr_t* tail = &head;
  while (a != 0 && b != 0) {
    uintptr_t& smaller = a < b ? a : b;
    *tail = smaller;
    tail = &merge_link(smaller);
    smaller = merge_link(smaller);
  }
  *tail = a != 0 ? a : b;
  return head;
}

// Bottom-up merge sort of a list linked through merge_link: bins[i] holds a sorted run of
// 2^i blocks, as in a binary counter. O(n log n) time, no memory beyond the bins.
uintptr_t sort_by_address(uintptr_t list) {
  uintptr_t bins[64] = {};
  while (list != 0) {
    uintptr_t run = list;
    list = merge_link(list);
    merge_link(run) = 0;
    unsigned bin = 0;
    for (; bins[bin] != 0; ++bin) {
      run = merge_sorted(bins[bin], run);
      bins[bin] = 0;
    }
    bins[bin] = run;
  }
  uintptr_t sorted = 0;
  for (uintptr_t bin : bins) sorted = merge_sorted(bin, sorted);
  return sorted;
}

}  // namespace

void FreeingBumpHeap::coalesce_free_blocks(MergeScratch scratch) {
  init_codec();
  const uintptr_t origin = codec_.base();
  // Blocks the bitmap covers are marked in it; the rest (all of them without a bitmap) are
  // sorted as a list, and lie above every marked one.
  const uint64_t bitmap_reach = scratch.bits != nullptr ? uint64_t{scratch.words} * 64 * 16 : 0;
  uintptr_t all = 0;           // the list way: free blocks linked through their payloads
  size_t low_word = ~size_t{0};  // the bitmap way: the words that hold marks
  size_t high_word = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    for (uintptr_t header = head(order); header != 0 && in_heap(header);) {
      const uint64_t tag = load_tag(header);
      const uintptr_t next = codec_.link_target(TagCodec::value_of(tag));
      // A damaged list ends here: what follows stays unreachable rather than trusted.
      if (tag != codec_.free(header, order, next)) break;
      if (header - origin < bitmap_reach) {
        const size_t bit = (header - origin) / 16;
        scratch.bits[bit / 64] |= uint64_t{1} << (bit % 64);
        if (bit / 64 < low_word) low_word = bit / 64;
        if (bit / 64 > high_word) high_word = bit / 64;
      } else {
        merge_link(header) = all;
        all = header;
      }
      header = next;
    }
    // The blocks leave their lists (and the counts) here and come back as carved blocks.
    uncount_list(order);
    set_head(order, 0);
  }
  // Runs of blocks that follow one another become the largest blocks they can form.
  uintptr_t start = 0;
  uintptr_t end = 0;
  const auto visit_in_address_order = [&](uintptr_t header) {
    if (header != end) {
      if (end != start) carve_free_region(start, end);
      start = header;
      end = header;
    }
    end += static_cast<uintptr_t>(block_bytes(TagCodec::order_of(load_tag(header))));
  };
  // Carving writes tags only below the scan position, where no mark is left to read.
  for (size_t word = low_word; word <= high_word && low_word != ~size_t{0}; ++word) {
    for (uint64_t marks = scratch.bits[word]; marks != 0; marks &= marks - 1) {
      const size_t bit = word * 64 + static_cast<size_t>(__builtin_ctzll(marks));
      visit_in_address_order(origin + bit * 16 + kHeaderBytes);
    }
    scratch.bits[word] = 0;
  }
  for (uintptr_t header = sort_by_address(all); header != 0; header = merge_link(header)) {
    visit_in_address_order(header);
  }
  if (end != start) carve_free_region(start, end);
}

Span FreeingBumpHeap::take_free_region(uint64_t min_bytes, uint64_t preferred_bytes,
                                       bool coalesce_first, MergeScratch scratch) {
  if (coalesce_first) coalesce_free_blocks(scratch);
  // The smallest block of at least `preferred_bytes`, else of at least `min_bytes`.
  const uint64_t wants[2] = {preferred_bytes, min_bytes};
  for (const uint64_t wanted : wants) {
    for (unsigned order = 0; order < kNumOrders; ++order) {
      if (block_bytes(order) < wanted || head(order) == 0) continue;
      FreeChain chain;
      if (take_free_blocks(order, 1, &chain) != HeapError::kNone || chain.count == 0) {
        return Span{};
      }
      // Bumping starts at the block's header: the span begins 8 bytes earlier, at the
      // 16-byte boundary the bump pointer is measured from.
      return Span{static_cast<uintptr_t>(chain.head - kHeaderBytes),
                  chain.head + static_cast<uintptr_t>(block_bytes(order)), true};
    }
  }
  return Span{};
}

Span FreeingBumpHeap::split_free_block(uintptr_t header, unsigned from_order, unsigned order, uint64_t count) {
  init_codec();
  const uintptr_t end = header + static_cast<uintptr_t>(block_bytes(from_order));
  const uintptr_t step = static_cast<uintptr_t>(block_bytes(order));
  // Pushed from the last one down, so that the list hands them out in address order.
  for (uint64_t i = count; i-- > 0;) push_carved(header + static_cast<uintptr_t>(i) * step, order);
  const uintptr_t rest = header + static_cast<uintptr_t>(count) * step;
  return rest < end ? Span{rest - static_cast<uintptr_t>(kHeaderBytes), end, true} : Span{};
}

bool FreeingBumpHeap::extend_at_top(const LiveBlock& block, unsigned new_order) {
  if (block.payload_end != bump_) return false;
  const uint64_t bytes = block_bytes(new_order);
  while (bump_end_ - block.header < bytes) {
    const Span span = source_->grow(bytes - (bump_end_ - block.header));
    if (span.empty() || !adopt_span(span)) return false;
    if (block.payload_end != bump_) return false;  // The span did not follow: move instead.
  }
  count_held(block.order, ~uint64_t{0});
  FREEBUMP_COUNT(stats_.bytes_in_use -= block_bytes(block.order));
  note_allocated(new_order);
  count_held(new_order, 1);
  store_tag(block.header, codec_.used(block.header, new_order));
  bump_ = block.header + static_cast<uintptr_t>(bytes);
  return true;
}

}  // namespace freebump
