// The Linux platform on its own (a LinuxSource of the test's, not the process's heap): the
// heap's address space taken as needed in one run, a new range above another mapping that
// stands in the way, owner_of() for the ranges and for huge mappings, and an address-space
// limit reached. Runs on the system allocator.
#include "preload/linux_source.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "gtest/gtest.h"

namespace freebump {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// The first range and every extension are mapped in steps of this much (linux_source.cc).
constexpr uint64_t kRangeStep = 4 * kMiB;

// Maps a page at exactly `at` (nothing there yet), as another library's mapping would be.
void* map_page_at(uintptr_t at) {
  void* page = mmap(reinterpret_cast<void*>(at), 4096, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  return page == reinterpret_cast<void*>(at) ? page : nullptr;
}

TEST(LinuxSource, TheHeapGrowsInOneRunAsItIsNeeded) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  const uintptr_t base = source.base();
  EXPECT_EQ(base % (2 * kMiB), 0u);
  EXPECT_EQ(source.stats().heap_mapped, kRangeStep);  // nothing reserved beyond the first step
  const Span first = source.grow(1000);
  EXPECT_EQ(first.begin, base);
  EXPECT_EQ(first.end - first.begin, 64u << 10);  // a chunk at least
  EXPECT_EQ(source.high_water(), first.end);
  Span last = first;
  for (int i = 0; i < 5; ++i) {
    const Span span = source.grow(3 * kMiB);
    ASSERT_EQ(span.begin, last.end) << i;  // each span follows the last: one run
    last = span;
  }
  EXPECT_EQ(source.high_water(), last.end);
  const LinuxSourceStats stats = source.stats();
  EXPECT_EQ(stats.heap_ranges, 1u);
  EXPECT_EQ(stats.handed_out, last.end - base);
  EXPECT_LT(stats.heap_mapped - stats.handed_out, kRangeStep);
  memset(reinterpret_cast<void*>(first.begin), 1, last.end - first.begin);
}

TEST(LinuxSource, AMappingInTheWayOpensARangeAboveIt) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  const uintptr_t base = source.base();
  const Span first = source.grow(kRangeStep);  // the whole first step
  ASSERT_EQ(first.begin, base);
  void* blocker = map_page_at(base + kRangeStep);
  ASSERT_NE(blocker, nullptr);
  const Span second = source.grow(100000);
  ASSERT_FALSE(second.empty());
  EXPECT_GT(second.begin, base + kRangeStep);
  EXPECT_EQ(source.stats().heap_ranges, 2u);
  // Heaps see the first run through the high water and the new range through owner_of().
  EXPECT_EQ(source.high_water(), first.end);
  EXPECT_EQ(source.owner_of(second.begin + 8, 8), Ownership::kHeap);
  EXPECT_EQ(source.owner_of(second.end - 8, 8), Ownership::kHeap);
  EXPECT_EQ(source.owner_of(base + kRangeStep + 8, 8), Ownership::kNotOurs);  // the blocker
  EXPECT_EQ(source.owner_of(base - 4096, 8), Ownership::kNotOurs);
  // Tags' links measure from the base: every range stays within their reach (8 TiB).
  EXPECT_LT(second.end - base, uint64_t{8} << 40);
  memset(reinterpret_cast<void*>(second.begin), 1, second.end - second.begin);
  // The new range grows in one run too.
  const Span third = source.grow(6 * kMiB);
  EXPECT_EQ(third.begin, second.end);
  EXPECT_EQ(source.owner_of(third.end - 8, 8), Ownership::kHeap);
  EXPECT_EQ(source.stats().heap_ranges, 2u);
  munmap(blocker, 4096);
}

TEST(LinuxSource, HugeMappingsAreKnownLiveAndFreed) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  bool zeroed = false;
  const Span mapping = source.map_huge(3 * kMiB, &zeroed);
  ASSERT_FALSE(mapping.empty());
  EXPECT_TRUE(zeroed);
  EXPECT_EQ(source.owner_of(mapping.begin + 8, 8), Ownership::kLiveHuge);
  EXPECT_EQ(source.owner_of(mapping.end - 8, 8), Ownership::kLiveHuge);
  EXPECT_EQ(source.owner_of(mapping.end - 8, 16), Ownership::kNotOurs);
  const Span grown = source.remap_huge(mapping, 40 * kMiB);
  ASSERT_FALSE(grown.empty());
  EXPECT_EQ(source.owner_of(grown.end - 8, 8), Ownership::kLiveHuge);
  if (grown.begin != mapping.begin) {
    EXPECT_EQ(source.owner_of(mapping.begin + 8, 8), Ownership::kFreedHuge);
  }
  source.unmap_huge(grown);  // cached
  EXPECT_EQ(source.owner_of(grown.begin + 8, 8), Ownership::kFreedHuge);
  EXPECT_GT(source.drop_huge_cache(), 0u);  // unmapped
  EXPECT_EQ(source.owner_of(grown.begin + 8, 8), Ownership::kFreedHuge);
}

// A freed huge mapping waits in the cache for reuse, but not for ever: one that nobody has
// reused since the time the pool names goes back (a program's large buffer of one phase
// does not stay resident through the next).
TEST(LinuxSource, ACachedMappingNobodyReusesGoesBackWhenIdle) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  bool zeroed = false;
  const Span mapping = source.map_huge(LinuxSource::kLargestExtent + 3 * kMiB, &zeroed);
  ASSERT_FALSE(mapping.empty());
  memset(reinterpret_cast<void*>(mapping.begin), 1, mapping.end - mapping.begin);
  const uint64_t before = source.now_ms();
  source.unmap_huge(mapping);  // cached
  EXPECT_EQ(source.stats().huge_cached, mapping.end - mapping.begin);
  EXPECT_EQ(source.release_idle(before > 0 ? before - 1 : 0), 0u);  // cached after that: stays
  EXPECT_EQ(source.stats().huge_cached, mapping.end - mapping.begin);
  EXPECT_EQ(source.release_idle(source.now_ms()), mapping.end - mapping.begin);
  EXPECT_EQ(source.stats().huge_cached, 0u);
  EXPECT_EQ(source.stats().huge_mapped, 0u);
  EXPECT_EQ(source.owner_of(mapping.begin + 8, 8), Ownership::kFreedHuge);
  // A new request maps afresh (zeroed), as no cached mapping is left.
  const Span again = source.map_huge(LinuxSource::kLargestExtent + 3 * kMiB, &zeroed);
  EXPECT_TRUE(zeroed);
  source.unmap_huge(again);
  EXPECT_GT(source.drop_huge_cache(), 0u);
}

// Huge blocks up to kLargestExtent are extents cut from a larger mapping: a freed one joins
// the free rest of its mapping, serves the next request that fits (not zeroed any more), and
// goes back once idle, as a cached mapping does.
TEST(LinuxSource, AFreedExtentServesAgainThenGoesBackWhenIdle) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  bool zeroed = false;
  const Span extent = source.map_huge(3 * kMiB, &zeroed);
  ASSERT_FALSE(extent.empty());
  EXPECT_TRUE(zeroed);
  EXPECT_EQ(extent.end - extent.begin, 3 * kMiB);
  EXPECT_EQ(source.stats().huge_mapped, ExtentArena::kChunkBytes);
  EXPECT_EQ(source.stats().huge_cached, ExtentArena::kChunkBytes - 3 * kMiB);
  memset(reinterpret_cast<void*>(extent.begin), 1, extent.end - extent.begin);
  source.unmap_huge(extent);
  EXPECT_EQ(source.stats().huge_cached, ExtentArena::kChunkBytes);
  EXPECT_EQ(source.owner_of(extent.begin + 8, 8), Ownership::kFreedHuge);

  const Span again = source.map_huge(2 * kMiB, &zeroed);
  EXPECT_EQ(again.begin, extent.begin);
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(source.owner_of(again.begin + 8, 8), Ownership::kLiveHuge);
  // Grown in place into the free extent after it, then shrunk back.
  const Span grown = source.remap_huge(again, 3 * kMiB);
  EXPECT_EQ(grown.begin, again.begin);
  EXPECT_EQ(grown.end - grown.begin, 3 * kMiB);
  const Span shrunk = source.remap_huge(grown, kMiB);
  EXPECT_EQ(shrunk.begin, again.begin);
  EXPECT_EQ(source.stats().huge_cached, ExtentArena::kChunkBytes - kMiB);

  const uint64_t before = source.now_ms();
  source.unmap_huge(shrunk);
  EXPECT_EQ(source.release_idle(before > 0 ? before - 1 : 0), 0u);  // freed after that: stays
  EXPECT_EQ(source.release_idle(source.now_ms()), ExtentArena::kChunkBytes);
  EXPECT_EQ(source.stats().huge_mapped, 0u);
  EXPECT_EQ(source.owner_of(extent.begin + 8, 8), Ownership::kFreedHuge);
}

// Free huge memory stays mapped for reuse only up to a share of the live huge blocks: when
// fresh memory is mapped for a request no free extent fits, the free memory idle longest goes
// back first, down to that share; and when the heap grows, what has been idle for a moment.
TEST(LinuxSource, FreshMemoryReplacesFreeHugeMemoryBeyondItsShare) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  bool zeroed = false;
  Span freed[3], live[3];
  for (int i = 0; i < 3; ++i) {
    freed[i] = source.map_huge(8 * kMiB, &zeroed);
    live[i] = source.map_huge(kMiB, &zeroed);  // keeps the freed ones apart
    ASSERT_FALSE(freed[i].empty());
    ASSERT_FALSE(live[i].empty());
    memset(reinterpret_cast<void*>(freed[i].begin), 1, freed[i].end - freed[i].begin);
  }
  for (const Span& extent : freed) source.unmap_huge(extent);
  const LinuxSourceStats before = source.stats();
  ASSERT_GE(before.huge_cached, 24 * kMiB);
  // A request no free extent fits (more than all of them): fresh pages, and free memory
  // beyond the share goes back.
  const Span big = source.map_huge(30 * kMiB, &zeroed);
  ASSERT_FALSE(big.empty());
  const LinuxSourceStats after = source.stats();
  EXPECT_EQ(after.huge_mapped - after.huge_cached, 33 * kMiB);
  // The share of what was live when the pages were needed (the three small blocks).
  const uint64_t share = 3 * kMiB / LinuxSource::kIdleShare;
  const uint64_t kept = share > LinuxSource::kMinIdleBytes ? share : LinuxSource::kMinIdleBytes;
  EXPECT_EQ(after.huge_cached, kept);
  EXPECT_EQ(after.returned - before.returned, before.huge_cached - kept);
  // A request a free extent fits is served from it, with no fresh pages and nothing returned.
  const Span reused = source.map_huge(2 * kMiB, &zeroed);
  ASSERT_FALSE(reused.empty());
  EXPECT_FALSE(zeroed);
  EXPECT_EQ(source.stats().returned, after.returned);
  // When the heap grows, free huge memory nobody has reused for a moment goes back.
  source.unmap_huge(big);
  source.unmap_huge(reused);
  ASSERT_GE(source.stats().huge_cached, 30 * kMiB);
  usleep((LinuxSource::kHeapGrowthIdleMs + 50) * 1000);
  ASSERT_FALSE(source.grow(kMiB).empty());
  EXPECT_EQ(source.stats().huge_cached, LinuxSource::kMinIdleBytes);
  for (const Span& extent : live) source.unmap_huge(extent);
  source.drop_huge_cache();
}

// A huge block that cannot grow in place moves with room to grow again, and keeps that room
// through small shrinks: a buffer grown step by step by realloc is copied a logarithmic
// number of times, not at every step.
TEST(LinuxSource, ABlockMovedToGrowHasRoomToGrowAgain) {
  static LinuxSource source;
  ASSERT_TRUE(source.start());
  bool zeroed = false;
  const Span block = source.map_huge(ExtentArena::kChunkBytes, &zeroed);  // a mapping's whole
  ASSERT_FALSE(block.empty());
  memset(reinterpret_cast<void*>(block.begin), 7, block.end - block.begin);
  const uint64_t wanted = 6 * kMiB;
  const Span moved = source.remap_huge(block, wanted);
  ASSERT_FALSE(moved.empty());
  EXPECT_EQ(moved.end - moved.begin, wanted + wanted / LinuxSource::kGrowthRoomShare);
  EXPECT_EQ(*reinterpret_cast<const uint8_t*>(moved.begin + ExtentArena::kChunkBytes - 1), 7);
  // Growing within the room and shrinking by less than the room's share keep the block.
  const Span same = source.remap_huge(moved, wanted + kMiB);
  EXPECT_EQ(same.begin, moved.begin);
  EXPECT_EQ(same.end, moved.end);
  const Span kept = source.remap_huge(same, wanted);
  EXPECT_EQ(kept.end, moved.end);
  // A real shrink gives the tail back.
  const Span shrunk = source.remap_huge(kept, 2 * kMiB);
  EXPECT_EQ(shrunk.begin, moved.begin);
  EXPECT_EQ(shrunk.end - shrunk.begin, 2 * kMiB);
  source.unmap_huge(shrunk);
  source.drop_huge_cache();
}

// The heap's base in a forked child, with address randomisation off or on; 0 on failure.
uintptr_t base_in_a_child(bool randomised) {
  int pipe_ends[2];
  if (pipe(pipe_ends) != 0) return 0;
  const pid_t child = fork();
  if (child == 0) {
    if (!randomised) personality(ADDR_NO_RANDOMIZE);
    static LinuxSource source;
    const uintptr_t base = source.start() ? source.base() : 0;
    _exit(write(pipe_ends[1], &base, sizeof base) == sizeof base ? 0 : 1);
  }
  uintptr_t base = 0;
  if (child < 0 || read(pipe_ends[0], &base, sizeof base) != sizeof base) base = 0;
  waitpid(child, nullptr, 0);
  close(pipe_ends[0]);
  close(pipe_ends[1]);
  return base;
}

TEST(LinuxSource, TheBaseIsRandomUnlessRandomisationIsOff) {
  const uintptr_t fixed = base_in_a_child(false);
  ASSERT_NE(fixed, 0u);
  EXPECT_EQ(base_in_a_child(false), fixed);  // as under gdb or setarch -R: where it was
  const uintptr_t first = base_in_a_child(true);
  const uintptr_t second = base_in_a_child(true);
  ASSERT_NE(first, 0u);
  EXPECT_NE(first, second);  // 23 random bits: alike once in 8 million
}

#if FREEBUMP_CHECKED
// The checked flavour's secret in the tags' check: drawn when a source starts, so every
// process (and here every source) has its own.
TEST(LinuxSource, EachSourceDrawsItsOwnTagKey) {
  static LinuxSource first;
  static LinuxSource second;
  EXPECT_EQ(first.tag_key(), 0u);
  ASSERT_TRUE(first.start());
  ASSERT_TRUE(second.start());
  EXPECT_NE(first.tag_key(), 0u);
  EXPECT_NE(first.tag_key(), second.tag_key());
}
#endif

// Under an address-space limit the heap takes what is left, page by page at the end, and a
// request beyond the limit fails without harm. Exits with the number of the check that
// failed (0: all held).
[[noreturn]] void grow_to_an_address_space_limit() {
  static LinuxSource source;
  if (!source.start()) _exit(10);
  // Cached huge mappings count against the limit: a grow at the limit drops them.
  bool zeroed;
  const Span huge = source.map_huge(32 * kMiB, &zeroed);
  if (huge.empty()) _exit(11);
  source.unmap_huge(huge);
  if (source.stats().huge_cached != 32 * kMiB) _exit(12);
  FILE* status = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long vm_kib = 0;
  while (status != nullptr && fgets(line, sizeof line, status) != nullptr) {
    if (sscanf(line, "VmSize: %lu kB", &vm_kib) == 1) break;
  }
  if (status != nullptr) fclose(status);
  // 40 MiB more than the process has now, the cache included.
  const rlim_t limit = (static_cast<rlim_t>(vm_kib) << 10) + 40 * kMiB;
  const struct rlimit rlimit_as = {limit, limit};
  if (setrlimit(RLIMIT_AS, &rlimit_as) != 0) _exit(13);
  uint64_t taken = 0;
  for (;;) {
    const Span span = source.grow(64 << 10);
    if (span.empty()) break;
    taken += span.end - span.begin;
  }
  // The limit's 40 MiB and the dropped cache's 32 MiB (less what the first range had mapped
  // ahead and what stdio took for the file above): most of it, and never more.
  if (source.stats().huge_cached != 0) _exit(14);
  if (taken < 64 * kMiB || taken > 76 * kMiB) _exit(15);
  if (source.stats().heap_ranges != 1) _exit(16);
  if (!source.grow(64 << 10).empty()) _exit(17);
  _exit(0);
}

TEST(LinuxSource, AnAddressSpaceLimitIsReachedGracefully) {
  // In a child: the limit stays there.
  EXPECT_EXIT(grow_to_an_address_space_limit(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace freebump
