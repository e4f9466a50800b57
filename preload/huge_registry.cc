#include "preload/huge_registry.h"

namespace freebump {

bool HugeRegistry::reserve_room(Platform& platform) {
  if (count_ + reserved_ + 1 > capacity_) {
    const size_t capacity = capacity_ == 0 ? kPageBytes / sizeof(Record) : 2 * capacity_;
    auto* records = static_cast<Record*>(platform.map_metadata(capacity * sizeof(Record)));
    if (records == nullptr) return false;
    for (size_t i = 0; i < count_; ++i) records[i] = records_[i];
    if (records_ != nullptr) platform.unmap_metadata(records_, capacity_ * sizeof(Record));
    records_ = records;
    capacity_ = capacity;
  }
  reserved_++;
  return true;
}

void HugeRegistry::add_live(Span mapping) {
  // The kernel just handed out this range: any record there is stale (a freed mapping's, or
  // one the program unmapped behind our back).
  drop_overlapping(mapping.begin, mapping.end);
  const size_t at = first_ending_above(mapping.begin);
  for (size_t i = count_; i > at; --i) records_[i] = records_[i - 1];
  records_[at] = Record{mapping.begin, mapping.end, 0};
  count_++;
  reserved_--;
}

void HugeRegistry::mark_freed(Span mapping) {
  const size_t at = find_start(mapping.begin);
  if (at == count_ || records_[at].freed_at != 0) return;
  records_[at].freed_at = next_freed_at_++;
  if (++freed_count_ > kFreedRecords) drop_oldest_freed();
}

void HugeRegistry::resize_live(Span mapping, Span resized) {
  const size_t at = find_start(mapping.begin);
  if (at == count_ || resized.begin != mapping.begin) {
    mark_freed(mapping);
    add_live(resized);
    return;
  }
  // In place: only the end moves (records above it, if it grew, are stale).
  if (resized.end > mapping.end) drop_overlapping(mapping.end, resized.end);
  records_[at].end = resized.end;
  reserved_--;
}

Ownership HugeRegistry::find(uintptr_t address, uint64_t bytes) const {
  const size_t at = first_ending_above(address);
  if (at == count_) return Ownership::kNotOurs;
  const Record& record = records_[at];
  if (address < record.begin || bytes > record.end - address) return Ownership::kNotOurs;
  return record.freed_at == 0 ? Ownership::kLiveHuge : Ownership::kFreedHuge;
}

size_t HugeRegistry::first_ending_above(uintptr_t address) const {
  size_t low = 0;
  size_t high = count_;
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if (records_[middle].end > address) {
      high = middle;
    } else {
      low = middle + 1;
    }
  }
  return low;
}

size_t HugeRegistry::find_start(uintptr_t begin) const {
  const size_t at = first_ending_above(begin);
  return at != count_ && records_[at].begin == begin ? at : count_;
}

void HugeRegistry::erase(size_t index) {
  if (records_[index].freed_at != 0) freed_count_--;
  for (size_t i = index; i + 1 < count_; ++i) records_[i] = records_[i + 1];
  count_--;
}

void HugeRegistry::drop_overlapping(uintptr_t begin, uintptr_t end) {
  const size_t at = first_ending_above(begin);
  while (at < count_ && records_[at].begin < end) erase(at);
}

void HugeRegistry::drop_oldest_freed() {
  size_t oldest = count_;
  for (size_t i = 0; i < count_; ++i) {
    if (records_[i].freed_at != 0 && (oldest == count_ || records_[i].freed_at < records_[oldest].freed_at)) {
      oldest = i;
    }
  }
  if (oldest != count_) erase(oldest);
}

}  // namespace freebump
