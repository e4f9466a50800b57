// The platform's record of huge mappings: live and freed mappings told apart by address alone,
// the kernel's reuse of addresses, resizing, the bound on freed records, and running out of
// bookkeeping pages. The mappings here are plain numbers: the registry never touches them.
#include "preload/huge_registry.h"

#include <stdint.h>

#include "gtest/gtest.h"
#include "tests/preload/test_platform.h"

namespace freebump {
namespace {

using testing::TestPlatform;

constexpr uintptr_t kMiB = uintptr_t{1} << 20;

class HugeRegistryTest : public ::testing::Test {
 protected:
  HugeRegistryTest() : platform_(uint64_t{1} << 20) {}

  void add(Span mapping) {
    ASSERT_TRUE(registry_.reserve_room(platform_));
    registry_.add_live(mapping);
  }
  Ownership at(uintptr_t address, uint64_t bytes = 8) const { return registry_.find(address, bytes); }

  TestPlatform platform_;
  HugeRegistry registry_;
};

TEST_F(HugeRegistryTest, AnAddressIsLiveFreedOrNotOurs) {
  const Span a{100 * kMiB, 103 * kMiB};
  const Span b{200 * kMiB, 201 * kMiB};
  add(b);
  add(a);
  EXPECT_EQ(at(a.begin + 8), Ownership::kLiveHuge);
  EXPECT_EQ(at(a.end - 8), Ownership::kLiveHuge);
  EXPECT_EQ(at(a.end - 4, 8), Ownership::kNotOurs);  // runs past the mapping's end
  EXPECT_EQ(at(a.end), Ownership::kNotOurs);
  EXPECT_EQ(at(a.begin - 8), Ownership::kNotOurs);
  EXPECT_EQ(at(b.begin + 16, b.end - b.begin - 16), Ownership::kLiveHuge);
  EXPECT_EQ(at(150 * kMiB), Ownership::kNotOurs);
  EXPECT_EQ(at(0), Ownership::kNotOurs);
  EXPECT_EQ(at(UINTPTR_MAX - 7), Ownership::kNotOurs);
  registry_.mark_freed(a);
  EXPECT_EQ(at(a.begin + 8), Ownership::kFreedHuge);
  EXPECT_EQ(at(b.begin + 8), Ownership::kLiveHuge);
  EXPECT_EQ(registry_.live_count(), 1u);
}

TEST_F(HugeRegistryTest, AReusedAddressIsLiveAgainAndStaleRecordsGo) {
  const Span first{100 * kMiB, 104 * kMiB};
  add(first);
  registry_.mark_freed(first);
  // The kernel hands out an overlapping range: a smaller mapping, then one across two old ones.
  add(Span{101 * kMiB, 102 * kMiB});
  EXPECT_EQ(at(100 * kMiB + 8), Ownership::kNotOurs);  // the freed record overlapped: gone
  EXPECT_EQ(at(101 * kMiB + 8), Ownership::kLiveHuge);
  add(Span{110 * kMiB, 111 * kMiB});
  registry_.mark_freed(Span{101 * kMiB, 102 * kMiB});
  registry_.mark_freed(Span{110 * kMiB, 111 * kMiB});
  add(Span{100 * kMiB, 120 * kMiB});
  EXPECT_EQ(at(110 * kMiB + 8), Ownership::kLiveHuge);
  EXPECT_EQ(registry_.live_count(), 1u);
  // Freeing an unknown mapping, or one twice, changes nothing.
  registry_.mark_freed(Span{300 * kMiB, 301 * kMiB});
  registry_.mark_freed(Span{100 * kMiB, 120 * kMiB});
  registry_.mark_freed(Span{100 * kMiB, 120 * kMiB});
  EXPECT_EQ(at(119 * kMiB), Ownership::kFreedHuge);
  EXPECT_EQ(at(300 * kMiB + 8), Ownership::kNotOurs);
}

TEST_F(HugeRegistryTest, AResizedMappingIsKnownInPlaceOrMoved) {
  const Span mapping{100 * kMiB, 102 * kMiB};
  add(mapping);
  add(Span{104 * kMiB, 105 * kMiB});
  registry_.mark_freed(Span{104 * kMiB, 105 * kMiB});
  // Grows in place over the freed record above it.
  ASSERT_TRUE(registry_.reserve_room(platform_));
  const Span grown{100 * kMiB, 106 * kMiB};
  registry_.resize_live(mapping, grown);
  EXPECT_EQ(at(105 * kMiB), Ownership::kLiveHuge);
  // Moves: the old place is a freed mapping now.
  ASSERT_TRUE(registry_.reserve_room(platform_));
  const Span moved{500 * kMiB, 508 * kMiB};
  registry_.resize_live(grown, moved);
  EXPECT_EQ(at(100 * kMiB + 8), Ownership::kFreedHuge);
  EXPECT_EQ(at(507 * kMiB), Ownership::kLiveHuge);
  EXPECT_EQ(registry_.live_count(), 1u);
  // Shrinks in place: what it gave up is nobody's.
  ASSERT_TRUE(registry_.reserve_room(platform_));
  registry_.resize_live(moved, Span{500 * kMiB, 501 * kMiB});
  EXPECT_EQ(at(502 * kMiB), Ownership::kNotOurs);
  EXPECT_EQ(at(500 * kMiB + 8), Ownership::kLiveHuge);
}

TEST_F(HugeRegistryTest, OnlyTheLatestFreedMappingsAreRemembered) {
  const uint64_t freed = HugeRegistry::kFreedRecords + 10;
  for (uint64_t i = 0; i < freed; ++i) {
    const Span mapping{(1000 + 2 * i) * kMiB, (1001 + 2 * i) * kMiB};
    add(mapping);
    registry_.mark_freed(mapping);
  }
  add(Span{10 * kMiB, 11 * kMiB});  // live records are never dropped
  for (uint64_t i = 0; i < freed; ++i) {
    const Ownership expected = i < 10 ? Ownership::kNotOurs : Ownership::kFreedHuge;
    ASSERT_EQ(at((1000 + 2 * i) * kMiB + 8), expected) << i;
  }
  EXPECT_EQ(at(10 * kMiB + 8), Ownership::kLiveHuge);
  EXPECT_EQ(registry_.live_count(), 1u);
}

TEST_F(HugeRegistryTest, ThousandsOfLiveMappingsAddedInAnyOrderAreFound) {
  // Inserted out of order, so the sorted records shift and the bookkeeping pages grow.
  for (uintptr_t i = 0; i < 3000; ++i) add(Span{((i * 7919) % 3000) * 2 * kMiB + kMiB, ((i * 7919) % 3000) * 2 * kMiB + 2 * kMiB});
  EXPECT_EQ(registry_.live_count(), 3000u);
  for (uintptr_t slot = 0; slot < 3000; ++slot) {
    ASSERT_EQ(at(slot * 2 * kMiB + kMiB + 8), Ownership::kLiveHuge) << slot;
    ASSERT_EQ(at(slot * 2 * kMiB + 8), Ownership::kNotOurs) << slot;
  }
  EXPECT_GE(platform_.metadata_mappings(), 1u);
}

TEST_F(HugeRegistryTest, NoRoomIsReservedWithoutBookkeepingPages) {
  platform_.refuse_metadata = true;
  EXPECT_FALSE(registry_.reserve_room(platform_));
  platform_.refuse_metadata = false;
  // Room reserved before the pages ran out is still there, and given back when unused.
  ASSERT_TRUE(registry_.reserve_room(platform_));
  platform_.refuse_metadata = true;
  registry_.add_live(Span{kMiB, 2 * kMiB});
  EXPECT_EQ(at(kMiB + 8), Ownership::kLiveHuge);
  for (size_t i = 1; registry_.reserve_room(platform_); ++i) {
    registry_.add_live(Span{(10 + i) * kMiB, (11 + i) * kMiB});
  }
  ASSERT_FALSE(registry_.reserve_room(platform_));  // the first page is full
  platform_.refuse_metadata = false;
  ASSERT_TRUE(registry_.reserve_room(platform_));
  registry_.release_room();
  EXPECT_EQ(at(kMiB + 8), Ownership::kLiveHuge);
}

}  // namespace
}  // namespace freebump
