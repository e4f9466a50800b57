// The wasm32 growth logic on a simulated linear memory (no memory is touched, only numbers),
// so the 4 GiB edge, foreign growth and failures are checked on every target.
#include "wasm/linear_memory_source.h"

#include <stdint.h>

#include "gtest/gtest.h"

namespace freebump {
namespace wasm {
namespace {

struct FakeMemory {
  static uint64_t base, end_symbol, pages, max_pages, grow_calls;
  static uint64_t heap_base() { return base; }
  static uint64_t heap_end() { return end_symbol; }
  static uint64_t page_count() { return pages; }
  static uint64_t grow(uint64_t delta) {
    ++grow_calls;
    if (delta > max_pages - pages) return kGrowFailed;
    const uint64_t old = pages;
    pages += delta;
    return old;
  }
  static void reset(uint64_t heap_base, uint64_t initial_pages, uint64_t max) {
    base = heap_base;
    end_symbol = 0;
    pages = initial_pages;
    max_pages = max;
    grow_calls = 0;
  }
};
uint64_t FakeMemory::base, FakeMemory::end_symbol, FakeMemory::pages, FakeMemory::max_pages,
    FakeMemory::grow_calls;

using Source = LinearMemorySource<FakeMemory>;

TEST(LinearMemorySource, FirstSpanIsWhatTheLinkerLeftFree) {
  FakeMemory::reset(70000, 2, kMaxPages);
  Source source;
  const Span span = source.grow(100);
  EXPECT_EQ(span.begin, 70000u);
  EXPECT_EQ(span.end, 2 * kPageBytes);
  EXPECT_EQ(FakeMemory::grow_calls, 0u);
  EXPECT_EQ(source.base(), 70000u);
}

TEST(LinearMemorySource, HeapEndLimitsTheFirstSpan) {
  FakeMemory::reset(70000, 4, kMaxPages);
  FakeMemory::end_symbol = 3 * kPageBytes;  // the 4th page belongs to someone else
  Source source;
  Span span = source.grow(100);
  EXPECT_EQ(span.end, 3 * kPageBytes);
  span = source.grow(100);  // does not follow: starts at the memory's end
  EXPECT_EQ(span.begin, 4 * kPageBytes);
  EXPECT_EQ(span.end, 5 * kPageBytes);
}

TEST(LinearMemorySource, ASmallFirstRegionGrowsInOnePiece) {
  FakeMemory::reset(kPageBytes - 100, 1, kMaxPages);
  Source source;
  const Span span = source.grow(200000);
  EXPECT_EQ(span.begin, kPageBytes - 100);
  EXPECT_GE(span.end - span.begin, 200000u);
  EXPECT_EQ(FakeMemory::grow_calls, 1u);
}

TEST(LinearMemorySource, GrowsExactlyThePagesNeeded) {
  FakeMemory::reset(1024, 1, kMaxPages);
  Source source;
  source.grow(16);
  Span span = source.grow(3 * kPageBytes);
  EXPECT_EQ(span.begin, kPageBytes);
  EXPECT_EQ(span.end, 4 * kPageBytes);
  EXPECT_EQ(FakeMemory::grow_calls, 1u);
  // However large the memory already is: one page for a request that needs one.
  Source grown;
  FakeMemory::reset(1024, 1600, kMaxPages);
  grown.grow(16);
  span = grown.grow(1);
  EXPECT_EQ(span.end - span.begin, kPageBytes);
  EXPECT_EQ(FakeMemory::pages, 1601u);
  span = grown.grow(kPageBytes + 1);  // two pages, continuing the last span
  EXPECT_EQ(span.begin, 1601 * kPageBytes);
  EXPECT_EQ(span.end, 1603 * kPageBytes);
  EXPECT_EQ(FakeMemory::grow_calls, 2u);
}

TEST(LinearMemorySource, ForeignGrowthStartsANewSpan) {
  FakeMemory::reset(1024, 2, kMaxPages);
  Source source;
  source.grow(16);
  FakeMemory::pages += 3;  // someone else calls memory.grow
  const Span span = source.grow(kPageBytes);
  EXPECT_EQ(span.begin, 5 * kPageBytes);
  EXPECT_EQ(span.end, 6 * kPageBytes);
}

TEST(LinearMemorySource, FailureNeverGrowsMemory) {
  FakeMemory::reset(1024, 2, 10);  // a memory maximum of 10 pages
  Source source;
  source.grow(16);
  EXPECT_TRUE(source.grow(9 * kPageBytes).empty());  // 2 + 9 > 10: refused up front
  EXPECT_EQ(FakeMemory::pages, 2u);
  EXPECT_FALSE(source.grow(8 * kPageBytes).empty());  // exactly fits
  EXPECT_EQ(FakeMemory::pages, 10u);
  EXPECT_TRUE(source.grow(1).empty());
  EXPECT_EQ(FakeMemory::pages, 10u);
}

// Substrate's u32 bumper wrapped at exactly 4 GiB; here everything is 64-bit and the last span
// stops 16 bytes short of 2^32 so that its end fits a 32-bit uintptr_t.
TEST(LinearMemorySource, TheFourGibEdgeDoesNotWrap) {
  FakeMemory::reset(1024, kMaxPages - 2, kMaxPages);
  Source source;
  source.grow(16);
  const Span span = source.grow(2 * kPageBytes - 16);
  ASSERT_FALSE(span.empty());
  EXPECT_EQ(uint64_t{span.end}, kAddressLimit);
  EXPECT_EQ(uint64_t{span.end}, (uint64_t{1} << 32) - 16);
  EXPECT_EQ(FakeMemory::pages, kMaxPages);
  EXPECT_TRUE(source.grow(16).empty());
  // Requests of 4 GiB and more fail before any arithmetic can wrap.
  FakeMemory::reset(1024, 1, kMaxPages);
  Source fresh;
  fresh.grow(16);
  EXPECT_TRUE(fresh.grow(uint64_t{1} << 32).empty());
  EXPECT_TRUE(fresh.grow(~uint64_t{0}).empty());
  EXPECT_EQ(FakeMemory::grow_calls, 0u);
}

}  // namespace
}  // namespace wasm
}  // namespace freebump
