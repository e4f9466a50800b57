// A LinearMemory for tests: sc-allocator's test MemoryInstance (a byte vector with a page
// maximum) made sparse, so that a test can have a 4 GiB memory. Pages are held only once
// written; unwritten bytes read as zero, as a fresh wasm memory's do.
#ifndef FREEBUMP_SUBSTRATE_TEST_MEMORY_H_
#define FREEBUMP_SUBSTRATE_TEST_MEMORY_H_

#include <stdint.h>
#include <string.h>

#include <map>
#include <memory>

#include "substrate/linear_memory.h"

namespace freebump {
namespace substrate {
namespace testing {

class TestMemory final : public LinearMemory {
 public:
  // A memory of `pages` pages (its length pages * 64 KiB) without a declared maximum.
  static TestMemory with_pages(uint32_t pages) { return TestMemory(uint64_t{pages} * kPageBytes); }
  // A memory whose length is `bytes`, not necessarily whole pages: pages() rounds up, as the
  // MemoryInstance of the paritytech/substrate versions of the tests does.
  static TestMemory with_bytes(uint64_t bytes) { return TestMemory(bytes); }

  uint32_t pages() const override {
    return static_cast<uint32_t>((length_ + kPageBytes - 1) / kPageBytes);
  }
  uint32_t max_pages() const override { return max_pages_; }
  uint64_t byte_length() const override { return length_; }
  // As the test MemoryInstance: fails beyond the maximum, else the length becomes whole pages.
  bool grow(uint32_t additional_pages) override {
    grow_calls_++;
    if (uint64_t{pages()} + additional_pages > max_pages_) return false;
    length_ = (uint64_t{pages()} + additional_pages) * kPageBytes;
    return true;
  }
  // Page by page, so that tests can move kilobytes at a time.
  void read(uint32_t offset, void* into, uint32_t bytes) const override {
    auto* out = static_cast<uint8_t*>(into);
    for (uint64_t address = offset, end = uint64_t{offset} + bytes; address < end;) {
      const uint64_t chunk = chunk_at(address, end);
      const auto page = pages_.find(address / kPageBytes);
      if (page == pages_.end()) {
        memset(out, 0, chunk);
      } else {
        memcpy(out, page->second.get() + address % kPageBytes, chunk);
      }
      out += chunk;
      address += chunk;
    }
  }
  void write(uint32_t offset, const void* from, uint32_t bytes) override {
    const auto* in = static_cast<const uint8_t*>(from);
    for (uint64_t address = offset, end = uint64_t{offset} + bytes; address < end;) {
      const uint64_t chunk = chunk_at(address, end);
      std::unique_ptr<uint8_t[]>& page = pages_[address / kPageBytes];
      if (!page) page.reset(new uint8_t[kPageBytes]());
      memcpy(page.get() + address % kPageBytes, in, chunk);
      in += chunk;
      address += chunk;
    }
  }

  void set_max_pages(uint32_t max_pages) { max_pages_ = max_pages; }
  // Changes the length as the tests change the MemoryInstance's vector (truncate, extend):
  // bytes beyond a shorter length are gone.
  void set_length(uint64_t bytes) {
    if (bytes < length_) {
      for (auto page = pages_.lower_bound((bytes + kPageBytes - 1) / kPageBytes); page != pages_.end();) {
        page = pages_.erase(page);
      }
      if (bytes % kPageBytes != 0) {
        auto partial = pages_.find(bytes / kPageBytes);
        if (partial != pages_.end()) {
          memset(partial->second.get() + bytes % kPageBytes, 0, kPageBytes - bytes % kPageBytes);
        }
      }
    }
    length_ = bytes;
  }
  uint32_t grow_calls() const { return grow_calls_; }
  // Pages holding written bytes (the test's own footprint, not the memory's size).
  size_t resident_pages() const { return pages_.size(); }

 private:
  explicit TestMemory(uint64_t bytes) : length_(bytes) {}

  // The bytes of [address, end) that lie in address's page.
  static uint64_t chunk_at(uint64_t address, uint64_t end) {
    const uint64_t page_end = (address / kPageBytes + 1) * kPageBytes;
    return (end < page_end ? end : page_end) - address;
  }

  uint64_t length_;
  uint32_t max_pages_ = kMaxWasmPages;
  uint32_t grow_calls_ = 0;
  std::map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
};

}  // namespace testing
}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_TEST_MEMORY_H_
