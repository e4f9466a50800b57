// A Platform (preload/platform.h) over a fixed buffer, for deterministic tests of the layers
// above it: spans handed out in steps like Linux chunks from fresh (zero) pages, bookkeeping
// pages from the test's own allocator, pages "given back" by zeroing them as the kernel would
// (so a layer that lets a tag it still needs be discarded reads a zero tag), and a clock the
// test moves by hand.
#ifndef FREEBUMP_TESTS_PRELOAD_TEST_PLATFORM_H_
#define FREEBUMP_TESTS_PRELOAD_TEST_PLATFORM_H_

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <set>
#include <vector>

#include "preload/platform.h"

// For tests that pin which block a free list hands out next, or what a freed block's memory
// holds: the checked flavour's quarantine and poison change both by design (lib/flavour.h),
// so they run in the default flavour only.
#define SKIP_IF_QUARANTINED() \
  if (::freebump::kChecked) GTEST_SKIP() << "the checked flavour quarantines and poisons freed blocks"

namespace freebump {
namespace testing {

class TestPlatform final : public Platform {
 public:
  static constexpr uint64_t kStep = uint64_t{64} << 10;

  // `bytes` a multiple of the page size.
  explicit TestPlatform(uint64_t bytes)
      : Platform(kNoHugeBlocks, false),
        buffer_(static_cast<uint8_t*>(
            mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0))),
        begin_(reinterpret_cast<uintptr_t>(buffer_)),
        end_(begin_ + bytes),
        next_(begin_) {
    if (buffer_ == MAP_FAILED) abort();
  }
  // Bookkeeping pages still mapped go with the platform, as a process's mappings go with it.
  ~TestPlatform() {
    for (void* pages : metadata_) free(pages);
    munmap(buffer_, end_ - begin_);
  }
  TestPlatform(const TestPlatform&) = delete;
  TestPlatform& operator=(const TestPlatform&) = delete;

  Span grow(uint64_t min_bytes) override {
    const uint64_t take = (min_bytes + kStep - 1) / kStep * kStep;
    if (take > end_ - next_) return Span{};
    const Span span{next_, next_ + static_cast<uintptr_t>(take)};
    next_ = span.end;
    raise_high_water(span.end);
    span_begins_.push_back(span.begin);
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

  void advance_ms(uint64_t ms) { now_ms_ += ms; }
  // Bookkeeping pages cannot be had while this is set (an address-space limit reached).
  bool refuse_metadata = false;
  uint64_t handed_out() const { return next_ - begin_; }
  uint64_t discarded() const { return discarded_; }
  size_t metadata_mappings() const { return metadata_.size(); }
  // Where each span handed out began, in order (one after the other from the buffer's start).
  const std::vector<uintptr_t>& span_begins() const { return span_begins_; }

 private:
  uint8_t* buffer_;
  uintptr_t begin_;
  uintptr_t end_;
  uintptr_t next_;
  uint64_t now_ms_ = 1000000;
  uint64_t discarded_ = 0;
  std::set<void*> metadata_;
  std::vector<uintptr_t> span_begins_;
};

}  // namespace testing
}  // namespace freebump

#endif  // FREEBUMP_TESTS_PRELOAD_TEST_PLATFORM_H_
