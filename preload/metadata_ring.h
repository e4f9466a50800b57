// A ring of records kept in the platform's bookkeeping pages: pushed and popped at the newest
// end, taken off at the oldest end, each in O(1). It grows by moving to pages twice as large,
// so it never allocates through the heap it serves. Not thread-safe: its owner locks.
#ifndef FREEBUMP_PRELOAD_METADATA_RING_H_
#define FREEBUMP_PRELOAD_METADATA_RING_H_

#include <stddef.h>

#include "preload/platform.h"

namespace freebump {

template <class T>
class MetadataRing {
 public:
  constexpr MetadataRing() = default;
  MetadataRing(const MetadataRing&) = delete;
  MetadataRing& operator=(const MetadataRing&) = delete;

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  // False (nothing changed) when the ring is full and no bigger one can be mapped.
  bool push_newest(Platform& platform, const T& value) {
    if (count_ == capacity_ && !grow(platform)) return false;
    slots_[index(count_)] = value;
    count_++;
    return true;
  }
  const T& newest() const { return slots_[index(count_ - 1)]; }
  T pop_newest() {
    count_--;
    return slots_[index(count_)];
  }
  const T& oldest() const { return slots_[oldest_]; }
  T pop_oldest() {
    const T value = slots_[oldest_];
    oldest_ = index(1);
    count_--;
    return value;
  }
  // The i-th newest record (0 is the newest); i < size().
  T& from_newest(size_t i) { return slots_[index(count_ - 1 - i)]; }
  // Removes the i-th newest record, moving the newer ones down by one.
  T take_from_newest(size_t i) {
    const T value = from_newest(i);
    for (; i > 0; --i) from_newest(i) = from_newest(i - 1);
    count_--;
    return value;
  }

 private:
  static constexpr size_t kFirstBytes = kPageBytes;

  size_t index(size_t from_oldest) const { return (oldest_ + from_oldest) & (capacity_ - 1); }

  bool grow(Platform& platform) {
    const size_t capacity = capacity_ == 0 ? kFirstBytes / sizeof(T) : 2 * capacity_;
    static_assert((kFirstBytes / sizeof(T) & (kFirstBytes / sizeof(T) - 1)) == 0,
                  "the capacity must stay a power of two");
    T* slots = static_cast<T*>(platform.map_metadata(capacity * sizeof(T)));
    if (slots == nullptr) return false;
    for (size_t i = 0; i < count_; ++i) slots[i] = slots_[index(i)];
    if (slots_ != nullptr) platform.unmap_metadata(slots_, capacity_ * sizeof(T));
    slots_ = slots;
    capacity_ = capacity;
    oldest_ = 0;
    return true;
  }

  T* slots_ = nullptr;
  size_t capacity_ = 0;  // a power of two
  size_t oldest_ = 0;
  size_t count_ = 0;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_METADATA_RING_H_
