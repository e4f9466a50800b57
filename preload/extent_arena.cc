#include "preload/extent_arena.h"

namespace freebump {

Span ExtentArena::take(uint64_t bytes, uint64_t now_ms, bool* zeroed) {
  size_t best = count_;
  for (size_t i = 0; i < count_; ++i) {
    const uint64_t size = extents_[i].end - extents_[i].begin;
    if (size >= bytes && (best == count_ || size < extents_[best].end - extents_[best].begin)) best = i;
  }
  if (best != count_) {
    FreeExtent& free = extents_[best];
    const Span extent{free.begin, free.begin + static_cast<uintptr_t>(bytes)};
    *zeroed = free.zeroed;
    free.begin = extent.end;
    free_bytes_ -= bytes;
    if (free.begin == free.end) erase(best);
    return extent;
  }
  // A new mapping: a chunk whose rest is a free extent, if there is room to record it.
  const bool room = bytes < kChunkBytes && make_room();
  Span mapping = pages_->map_pages(room ? kChunkBytes : bytes);
  if (mapping.empty() && room) mapping = pages_->map_pages(bytes);
  if (mapping.empty()) return Span{};
  mapped_bytes_ += mapping.end - mapping.begin;
  *zeroed = true;
  const Span extent{mapping.begin, mapping.begin + static_cast<uintptr_t>(bytes)};
  if (extent.end != mapping.end) add_free(Span{extent.end, mapping.end}, now_ms, true);  // room made above
  return extent;
}

void ExtentArena::give(Span extent, uint64_t now_ms) {
  if (!add_free(extent, now_ms, false)) {
    pages_->unmap_pages(extent);
    mapped_bytes_ -= extent.end - extent.begin;
  }
}

// Joined to the free extents it borders on (they may come from another mapping: the kernel
// places mappings side by side, and nothing here remaps or unmaps less than a whole extent's
// pages, so a joined extent needs no single mapping behind it).
bool ExtentArena::add_free(Span extent, uint64_t now_ms, bool zeroed) {
  const size_t at = first_ending_from(extent.begin);
  const bool joins_previous = at < count_ && extents_[at].end == extent.begin;
  const size_t next = joins_previous ? at + 1 : at;
  const bool joins_next = next < count_ && extents_[next].begin == extent.end;
  if (!joins_previous && !joins_next && !make_room()) return false;
  free_bytes_ += extent.end - extent.begin;
  if (joins_previous) {
    FreeExtent& previous = extents_[at];
    previous.end = joins_next ? extents_[next].end : extent.end;
    previous.freed_ms = now_ms;
    previous.zeroed = previous.zeroed && zeroed && (!joins_next || extents_[next].zeroed);
    if (joins_next) erase(next);
  } else if (joins_next) {
    extents_[next].begin = extent.begin;
    extents_[next].freed_ms = now_ms;
    extents_[next].zeroed = extents_[next].zeroed && zeroed;
  } else {
    insert(at, FreeExtent{extent.begin, extent.end, now_ms, zeroed});
  }
  return true;
}

bool ExtentArena::extend(Span extent, uint64_t bytes) {
  const size_t at = first_ending_from(extent.end);
  if (at == count_ || extents_[at].begin != extent.end || extents_[at].end - extents_[at].begin < bytes) {
    return false;
  }
  extents_[at].begin += static_cast<uintptr_t>(bytes);
  free_bytes_ -= bytes;
  if (extents_[at].begin == extents_[at].end) erase(at);
  return true;
}

bool ExtentArena::fits(uint64_t bytes) const {
  for (size_t i = 0; i < count_; ++i) {
    if (extents_[i].end - extents_[i].begin >= bytes) return true;
  }
  return false;
}

size_t ExtentArena::oldest() const {
  size_t oldest = count_;
  for (size_t i = 0; i < count_; ++i) {
    if (oldest == count_ || extents_[i].freed_ms < extents_[oldest].freed_ms) oldest = i;
  }
  return oldest;
}

uint64_t ExtentArena::oldest_free_ms() const {
  const size_t at = oldest();
  return at == count_ ? ~uint64_t{0} : extents_[at].freed_ms;
}

uint64_t ExtentArena::release_oldest(uint64_t bytes) {
  const size_t at = oldest();
  if (at == count_) return 0;
  FreeExtent& extent = extents_[at];
  const uint64_t size = extent.end - extent.begin;
  const uint64_t released = bytes < size ? bytes : size;
  pages_->unmap_pages(Span{extent.end - static_cast<uintptr_t>(released), extent.end});
  extent.end -= static_cast<uintptr_t>(released);
  if (extent.begin == extent.end) erase(at);
  mapped_bytes_ -= released;
  free_bytes_ -= released;
  return released;
}

size_t ExtentArena::first_ending_from(uintptr_t address) const {
  size_t low = 0, high = count_;
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if (extents_[middle].end < address) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

bool ExtentArena::make_room() {
  if (count_ < capacity_) return true;
  const size_t capacity = capacity_ == 0 ? kPageBytes / sizeof(FreeExtent) : 2 * capacity_;
  auto* extents = static_cast<FreeExtent*>(pages_->map_metadata(capacity * sizeof(FreeExtent)));
  if (extents == nullptr) return false;
  for (size_t i = 0; i < count_; ++i) extents[i] = extents_[i];
  if (extents_ != nullptr) pages_->unmap_metadata(extents_, capacity_ * sizeof(FreeExtent));
  extents_ = extents;
  capacity_ = capacity;
  return true;
}

void ExtentArena::insert(size_t at, const FreeExtent& extent) {
  for (size_t i = count_; i > at; --i) extents_[i] = extents_[i - 1];
  extents_[at] = extent;
  count_++;
}

void ExtentArena::erase(size_t at) {
  for (size_t i = at + 1; i < count_; ++i) extents_[i - 1] = extents_[i];
  count_--;
}

}  // namespace freebump
