// Test helpers shared by the core's tests: a heap on a fixed buffer of its own, and a
// memory source that leaves gaps between the spans it hands out.
//
// Shared tests use no exceptions and no threads, so the same sources run on wasm32.
#ifndef FREEBUMP_TESTS_TEST_HEAP_H_
#define FREEBUMP_TESTS_TEST_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <vector>

#include "lib/bits.h"
#include "lib/heap.h"
#include "lib/memory_source.h"

// For tests that pin which block a free list hands out next, or what a freed block's memory
// holds: the checked flavour's quarantine and poison change both by design (lib/flavour.h),
// so they run in the default flavour only.
#define SKIP_IF_QUARANTINED() \
  if (::freebump::kChecked) GTEST_SKIP() << "the checked flavour quarantines and poisons freed blocks"

namespace freebump {
namespace testing {

// The error a request failed with, for comparing with the one expected; kNone if it was
// served (which such a comparison then reports).
inline HeapError refusal(const Allocated& result) {
  return result.payload() == nullptr ? result.error() : HeapError::kNone;
}

// A heap on a buffer of `bytes` bytes (16-byte aligned), handed out whole or in `step`s.
class BufferHeap {
 public:
  explicit BufferHeap(size_t bytes, uint64_t step = 0)
      : storage_(new uint8_t[bytes + 16]()),  // zero, as fresh pages are
        buffer_(reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(storage_.get()) + 15) &
                                           ~uintptr_t{15})),
        source_(buffer_, bytes, step),
        heap_(&source_) {}

  FreeingBumpHeap& heap() { return heap_; }
  FixedBufferSource& source() { return source_; }
  uintptr_t base() const { return reinterpret_cast<uintptr_t>(buffer_); }
  // The payload address `offset` bytes past the buffer's start.
  void* at(uintptr_t offset) const { return reinterpret_cast<void*>(base() + offset); }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  uint8_t* buffer_;
  FixedBufferSource source_;
  FreeingBumpHeap heap_;
};

// Hands out spans of exactly the size asked for (rounded up to `step`), skipping `gap` bytes
// before each span after the first: what the heap sees on wasm when other code grows memory
// in between.
class GappySource final : public MemorySource {
 public:
  GappySource(uintptr_t begin, uintptr_t end, uint64_t step, uint64_t gap)
      : MemorySource(kNoHugeBlocks, false),
        begin_(begin),
        end_(end),
        next_(begin),
        step_(step),
        gap_(gap) {}

  Span grow(uint64_t min_bytes) override {
    const uint64_t skip = next_ == begin_ ? 0 : gap_;
    const uint64_t take = round_up(min_bytes, step_);
    if (end_ - next_ < skip || end_ - next_ - skip < take) return Span{};
    const Span span{static_cast<uintptr_t>(next_ + skip),
                    static_cast<uintptr_t>(next_ + skip + take)};
    next_ = span.end;
    raise_high_water(span.end);
    return span;
  }
  uintptr_t base() const override { return begin_; }

 private:
  uintptr_t begin_;
  uintptr_t end_;
  uintptr_t next_;
  uint64_t step_;
  uint64_t gap_;
};

// The free blocks (their sizes in bytes, largest first as the heap cuts them) that the 4072
// bytes left of a 4096-byte span after one 16-byte block become when the heap retires them;
// 8 bytes, too few for any block, are left over. Pinned per geometry (size_classes.h).
inline std::vector<uint64_t> retired_tail_of_4096() {
  switch (kClassesPerDoubling) {
    case 1: return {2064, 1040, 528, 272, 144, 16};
    case 2: return {3088, 784, 144, 48};
    default: return {3600, 464};
  }
}

// Deterministic pseudo-random numbers (xorshift64*), the same on every target.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed | 1) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, bound).
  uint64_t below(uint64_t bound) { return next() % bound; }

 private:
  uint64_t state_;
};

// The byte a block stamped with `stamp` holds at `index`.
inline uint8_t pattern_byte(uint64_t stamp, size_t index) {
  return static_cast<uint8_t>((stamp * 0x9E3779B97F4A7C15ull + index * 0x2545F4914F6CDD1Dull) >> 56);
}

inline void fill_pattern(void* payload, size_t size, uint64_t stamp) {
  auto* bytes = static_cast<uint8_t*>(payload);
  for (size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(stamp, i);
}

// The number of leading bytes of `payload` that hold the pattern (size when all do).
inline size_t pattern_intact(const void* payload, size_t size, uint64_t stamp) {
  const auto* bytes = static_cast<const uint8_t*>(payload);
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != pattern_byte(stamp, i)) return i;
  }
  return size;
}

}  // namespace testing
}  // namespace freebump

#endif  // FREEBUMP_TESTS_TEST_HEAP_H_
