// The extent arena over a fixed buffer: best fit, cutting, joining freed extents to their
// neighbours, growing in place, new mappings a chunk at a time, and idle extents unmapped.
#include "preload/extent_arena.h"

#include <stdint.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace freebump {
namespace {

constexpr uint64_t kPage = kPageBytes;

// Pages from one buffer, handed out upwards chunk by chunk (as the kernel might, side by
// side), with every unmap recorded; bookkeeping from the system allocator.
class BufferPages final : public ExtentPages {
 public:
  BufferPages() : buffer_(static_cast<uint8_t*>(aligned_alloc(kPage, kBytes))), next_(reinterpret_cast<uintptr_t>(buffer_)) {}
  // The arena keeps its bookkeeping for the process's life; here it goes with the buffer.
  ~BufferPages() {
    for (void* pages : metadata_) free(pages);
    free(buffer_);
  }

  Span map_pages(uint64_t bytes) override {
    if (refuse_ || next_ + bytes > reinterpret_cast<uintptr_t>(buffer_) + kBytes) return Span{};
    const Span span{next_, next_ + static_cast<uintptr_t>(bytes)};
    next_ = span.end;
    mapped.push_back(span);
    return span;
  }
  void unmap_pages(Span span) override { unmapped.push_back(span); }
  void* map_metadata(uint64_t bytes) override {
    metadata_.push_back(calloc(1, bytes));
    return metadata_.back();
  }
  void unmap_metadata(void* pages, uint64_t) override {
    metadata_.erase(std::find(metadata_.begin(), metadata_.end(), pages));
    free(pages);
  }

  uintptr_t at(uint64_t offset) const { return reinterpret_cast<uintptr_t>(buffer_) + static_cast<uintptr_t>(offset); }

  static constexpr uint64_t kBytes = 4 * ExtentArena::kChunkBytes;
  std::vector<Span> mapped;
  std::vector<Span> unmapped;
  bool refuse_ = false;

 private:
  uint8_t* buffer_;
  uintptr_t next_;
  std::vector<void*> metadata_;
};

class ArenaTest : public ::testing::Test {
 protected:
  ArenaTest() : arena_(&pages_) {}
  Span take(uint64_t bytes, bool* zeroed = nullptr) {
    bool ignored = false;
    return arena_.take(bytes, now_ms_, zeroed != nullptr ? zeroed : &ignored);
  }
  BufferPages pages_;
  ExtentArena arena_;
  uint64_t now_ms_ = 1000;
};

TEST_F(ArenaTest, AFirstExtentMapsAChunkAndTheRestIsFree) {
  bool zeroed = false;
  const Span extent = take(16 * kPage, &zeroed);
  EXPECT_EQ(extent.begin, pages_.at(0));
  EXPECT_EQ(extent.end, pages_.at(16 * kPage));
  EXPECT_TRUE(zeroed);
  ASSERT_EQ(pages_.mapped.size(), 1u);
  EXPECT_EQ(pages_.mapped[0].end - pages_.mapped[0].begin, ExtentArena::kChunkBytes);
  EXPECT_EQ(arena_.mapped_bytes(), ExtentArena::kChunkBytes);
  EXPECT_EQ(arena_.free_bytes(), ExtentArena::kChunkBytes - 16 * kPage);
  // The next one is cut from the rest: no new mapping.
  EXPECT_EQ(take(4 * kPage).begin, pages_.at(16 * kPage));
  EXPECT_EQ(pages_.mapped.size(), 1u);
}

TEST_F(ArenaTest, AFreedExtentServesASmallerRequestAndIsNoLongerZeroed) {
  const Span a = take(16 * kPage);
  take(kPage);
  arena_.give(a, now_ms_);
  bool zeroed = true;
  const Span b = take(8 * kPage, &zeroed);
  EXPECT_EQ(b.begin, a.begin);
  EXPECT_FALSE(zeroed);
  // What is left of it serves the next request that fits (best fit: it is the smallest).
  EXPECT_EQ(take(8 * kPage).begin, a.begin + 8 * kPage);
}

TEST_F(ArenaTest, TheSmallestFreeExtentThatHoldsTheRequestIsCut) {
  std::vector<Span> extents;
  for (uint64_t pages : {32, 1, 8, 1, 16, 1}) extents.push_back(take(pages * kPage));
  arena_.give(extents[0], now_ms_);  // 32 pages
  arena_.give(extents[2], now_ms_);  // 8 pages
  arena_.give(extents[4], now_ms_);  // 16 pages
  EXPECT_EQ(take(12 * kPage).begin, extents[4].begin);
  EXPECT_EQ(take(8 * kPage).begin, extents[2].begin);
  EXPECT_EQ(take(20 * kPage).begin, extents[0].begin);
}

TEST_F(ArenaTest, FreedNeighboursJoinAndServeALargerRequest) {
  const Span a = take(8 * kPage), b = take(8 * kPage), c = take(8 * kPage);
  take(kPage);  // keeps c from joining the chunk's free rest
  const size_t before = arena_.free_count();
  arena_.give(a, now_ms_);
  arena_.give(c, now_ms_);
  EXPECT_EQ(arena_.free_count(), before + 2);
  arena_.give(b, now_ms_);  // joins both
  EXPECT_EQ(arena_.free_count(), before + 1);
  EXPECT_EQ(arena_.free_extent(0).begin, a.begin);
  EXPECT_EQ(arena_.free_extent(0).end, c.end);
  EXPECT_EQ(take(24 * kPage).begin, a.begin);
  EXPECT_EQ(pages_.mapped.size(), 1u);
}

TEST_F(ArenaTest, ALiveExtentGrowsIntoTheFreeExtentAfterIt) {
  const Span a = take(8 * kPage), b = take(8 * kPage);
  take(kPage);
  arena_.give(b, now_ms_);
  EXPECT_TRUE(arena_.extend(a, 4 * kPage));
  EXPECT_EQ(take(4 * kPage).begin, a.end + 4 * kPage);  // the rest of b
  EXPECT_FALSE(arena_.extend(Span{a.begin, a.end + 4 * kPage}, kPage));  // nothing free after it now
}

TEST_F(ArenaTest, ARequestOfAChunkOrMoreGetsAMappingOfItsExactSize) {
  const Span big = take(ExtentArena::kChunkBytes + kPage);
  ASSERT_FALSE(big.empty());
  ASSERT_EQ(pages_.mapped.size(), 1u);
  EXPECT_EQ(pages_.mapped[0].end - pages_.mapped[0].begin, ExtentArena::kChunkBytes + kPage);
  EXPECT_EQ(arena_.free_bytes(), 0u);
}

TEST_F(ArenaTest, NoMemoryIsAnEmptySpanAndTheArenaGoesOn) {
  pages_.refuse_ = true;
  EXPECT_TRUE(take(kPage).empty());
  pages_.refuse_ = false;
  EXPECT_FALSE(take(kPage).empty());
}

// The platform's idle release (LinuxSource::release_free_locked): the free extents freed at
// or before a time go back, oldest first, and those freed later stay.
TEST_F(ArenaTest, IdleFreeExtentsAreUnmappedAndRecentOnesStay) {
  const Span a = take(8 * kPage);
  take(kPage);
  const Span c = take(8 * kPage);
  take(kPage);
  arena_.give(a, 1000);
  arena_.give(c, 3000);
  const uint64_t free_before = arena_.free_bytes();
  // The chunk's free rest has been free since the mapping (1000) too.
  uint64_t released = 0;
  while (arena_.oldest_free_ms() <= 2000) released += arena_.release_oldest(ExtentArena::kChunkBytes);
  EXPECT_EQ(released, free_before - 8 * kPage);
  EXPECT_EQ(arena_.free_bytes(), 8 * kPage);
  EXPECT_EQ(arena_.mapped_bytes(), ExtentArena::kChunkBytes - released);
  ASSERT_EQ(pages_.unmapped.size(), 2u);
  EXPECT_EQ(pages_.unmapped[0].begin, a.begin);
  EXPECT_EQ(pages_.unmapped[0].end, a.end);
  // Everything on a trim.
  EXPECT_EQ(arena_.release_oldest(ExtentArena::kChunkBytes), 8 * kPage);
  EXPECT_EQ(arena_.free_count(), 0u);
}

// What the platform gives back when fresh memory is mapped: the free extent idle longest,
// from its end, as much as asked and no more.
TEST_F(ArenaTest, TheFreeExtentIdleLongestGoesBackFirstFromItsEnd) {
  const Span a = take(8 * kPage);
  take(kPage);
  const Span b = take(8 * kPage);
  take(kPage);
  const uintptr_t chunk_end = pages_.mapped[0].end;
  arena_.give(a, 2000);
  arena_.give(b, 3000);
  EXPECT_TRUE(arena_.fits(8 * kPage));
  EXPECT_FALSE(arena_.fits(ExtentArena::kChunkBytes));
  EXPECT_EQ(arena_.oldest_free_ms(), 1000u);  // the chunk's rest, free since the mapping
  const uint64_t free_before = arena_.free_bytes();

  EXPECT_EQ(arena_.release_oldest(4 * kPage), 4 * kPage);
  ASSERT_EQ(pages_.unmapped.size(), 1u);
  EXPECT_EQ(pages_.unmapped[0].begin, chunk_end - 4 * kPage);
  EXPECT_EQ(pages_.unmapped[0].end, chunk_end);
  EXPECT_EQ(arena_.free_bytes(), free_before - 4 * kPage);
  EXPECT_EQ(arena_.mapped_bytes(), ExtentArena::kChunkBytes - 4 * kPage);

  // The rest is released whole (asked for more than it holds), and `a` is next.
  const uint64_t rest = free_before - 16 * kPage - 4 * kPage;
  EXPECT_EQ(arena_.release_oldest(ExtentArena::kChunkBytes), rest);
  EXPECT_EQ(arena_.free_count(), 2u);
  EXPECT_EQ(arena_.oldest_free_ms(), 2000u);
  EXPECT_EQ(arena_.release_oldest(2 * kPage), 2 * kPage);
  EXPECT_EQ(pages_.unmapped.back().begin, a.end - 2 * kPage);
  EXPECT_EQ(pages_.unmapped.back().end, a.end);
  EXPECT_EQ(arena_.free_extent(0).end, a.end - 2 * kPage);
  EXPECT_EQ(arena_.free_bytes(), 14 * kPage);

  EXPECT_EQ(arena_.release_oldest(ExtentArena::kChunkBytes), 6 * kPage);
  EXPECT_EQ(arena_.release_oldest(ExtentArena::kChunkBytes), 8 * kPage);
  EXPECT_EQ(arena_.oldest_free_ms(), ~uint64_t{0});
  EXPECT_EQ(arena_.release_oldest(kPage), 0u);  // nothing left
  EXPECT_EQ(arena_.free_bytes(), 0u);
}

TEST_F(ArenaTest, ManyFreeExtentsGrowTheBookkeeping) {
  std::vector<Span> extents;
  for (int i = 0; i < 600; ++i) extents.push_back(take(kPage));
  for (size_t i = 0; i < extents.size(); i += 2) arena_.give(extents[i], now_ms_);
  EXPECT_EQ(arena_.free_count(), 301u);  // 300 holes and the chunk's rest
  for (size_t i = 1; i < extents.size(); i += 2) arena_.give(extents[i], now_ms_);
  EXPECT_EQ(arena_.free_count(), 1u);
  EXPECT_EQ(arena_.free_bytes(), ExtentArena::kChunkBytes);
}

}  // namespace
}  // namespace freebump
