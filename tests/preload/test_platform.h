// A Platform (preload/platform.h) over a fixed buffer, for deterministic tests of the layers
// above it: spans handed out in steps like Linux chunks, bookkeeping pages from the test's own
// allocator, pages "given back" by zeroing them as the kernel would (so a layer that lets a
// tag it still needs be discarded reads a zero tag), and a clock the test moves by hand.
#ifndef FREEBUMP_TESTS_PRELOAD_TEST_PLATFORM_H_
#define FREEBUMP_TESTS_PRELOAD_TEST_PLATFORM_H_

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <set>

#include "preload/platform.h"

namespace freebump {
namespace testing {

class TestPlatform final : public Platform {
 public:
  static constexpr uint64_t kStep = uint64_t{64} << 10;

  explicit TestPlatform(uint64_t bytes)
      : Platform(kNoHugeBlocks, false),
        buffer_(static_cast<uint8_t*>(aligned_alloc(kPageBytes, bytes))),
        begin_(reinterpret_cast<uintptr_t>(buffer_)),
        end_(begin_ + bytes),
        next_(begin_) {}
  // Bookkeeping pages still mapped go with the platform, as a process's mappings go with it.
  ~TestPlatform() {
    for (void* pages : metadata_) free(pages);
    free(buffer_);
  }
  TestPlatform(const TestPlatform&) = delete;
  TestPlatform& operator=(const TestPlatform&) = delete;

  Span grow(uint64_t min_bytes) override {
    const uint64_t take = (min_bytes + kStep - 1) / kStep * kStep;
    if (take > end_ - next_) return Span{};
    const Span span{next_, next_ + static_cast<uintptr_t>(take)};
    next_ = span.end;
    raise_high_water(span.end);
    return span;
  }
  uintptr_t base() const override { return begin_; }

  void* map_metadata(uint64_t bytes) override {
    if (refuse_metadata) return nullptr;
    void* pages = calloc(1, bytes);
    if (pages != nullptr) metadata_.insert(pages);
    return pages;
  }
  void unmap_metadata(void* pages, uint64_t) override {
    metadata_.erase(pages);
    free(pages);
  }
  uint64_t discard(uintptr_t begin, uintptr_t end) override {
    const uintptr_t first = (begin + kPageBytes - 1) & ~uintptr_t{kPageBytes - 1};
    const uintptr_t last = end & ~uintptr_t{kPageBytes - 1};
    if (last <= first) return 0;
    memset(reinterpret_cast<void*>(first), 0, last - first);
    discarded_ += last - first;
    return last - first;
  }
  uint64_t now_ms() override { return now_ms_; }
  uint64_t release_idle(uint64_t idle_since_ms) override {
    last_idle_since_ms = idle_since_ms;
    return 0;
  }
  // What the pool last asked release_idle() for (0: never).
  uint64_t last_idle_since_ms = 0;

  void advance_ms(uint64_t ms) { now_ms_ += ms; }
  // Bookkeeping pages cannot be had while this is set (an address-space limit reached).
  bool refuse_metadata = false;
  uint64_t handed_out() const { return next_ - begin_; }
  uint64_t discarded() const { return discarded_; }
  size_t metadata_mappings() const { return metadata_.size(); }

 private:
  uint8_t* buffer_;
  uintptr_t begin_;
  uintptr_t end_;
  uintptr_t next_;
  uint64_t now_ms_ = 1000000;
  uint64_t discarded_ = 0;
  std::set<void*> metadata_;
};

}  // namespace testing
}  // namespace freebump

#endif  // FREEBUMP_TESTS_PRELOAD_TEST_PLATFORM_H_
