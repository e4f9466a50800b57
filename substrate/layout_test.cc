// The exact mode's layout (layout.h): sc-allocator's unit tests of sizes, orders and headers
// (paritytech/polkadot-sdk, substrate/client/allocator/src/freeing_bump.rs, mod tests), with
// their inputs and expected values, then what its rules state beyond them. They need no
// allocator, so they run once; the allocator's own upstream tests are in upstream_test.cc.
#include <stdint.h>
#include <string.h>

#include "gtest/gtest.h"
#include "substrate/allocator.h"
#include "substrate/error_printer.h"
#include "substrate/layout.h"
#include "substrate/test_memory.h"

namespace freebump {
namespace substrate {
namespace {

using testing::TestMemory;

constexpr uint32_t kPage = kPageBytes;

TEST(SubstrateLayout, PagesFromSizeRoundsUpToWholePages) {  // test_pages_from_size
  const uint64_t sizes[] = {0, 1, 65536, 65536 + 1, 2 * 65536, 2 * 65536 + 1};
  const uint32_t expected[] = {0, 1, 1, 2, 2, 3};
  for (size_t i = 0; i < 6; ++i) {
    uint32_t pages = 99;
    ASSERT_TRUE(pages_for_bytes(sizes[i], &pages));
    EXPECT_EQ(pages, expected[i]) << sizes[i];
  }
  uint32_t pages;
  EXPECT_FALSE(pages_for_bytes(uint64_t{UINT32_MAX} * kPage + 1, &pages));
}

TEST(SubstrateLayout, ShouldReadAndWriteU64Correctly) {
  TestMemory memory = TestMemory::with_pages(1);
  ASSERT_TRUE(write_le_u64(memory, 40, 4480113));
  uint64_t value = 0;
  ASSERT_TRUE(read_le_u64(memory, 40, &value));
  EXPECT_EQ(value, 4480113u);
  // Little-endian in memory.
  uint8_t bytes[8];
  memory.read(40, bytes, 8);
  const uint8_t expected[8] = {0x71, 0x5c, 0x44, 0, 0, 0, 0, 0};
  EXPECT_EQ(memcmp(bytes, expected, 8), 0);
}

TEST(SubstrateLayout, ShouldGetItemSizeFromOrder) { EXPECT_EQ(payload_bytes(0), 8u); }

TEST(SubstrateLayout, ShouldGetMaxItemSizeFromIndex) {
  EXPECT_EQ(payload_bytes(22), kMaxAllocation);
  EXPECT_EQ(kMaxAllocation, 33554432u);  // sp_core::MAX_POSSIBLE_ALLOCATION
}

TEST(SubstrateLayout, HeadersRoundTripThroughMemory) {  // header_read_write
  const auto round_trip = [](uint64_t header, bool occupied, uint32_t value) {
    TestMemory memory = TestMemory::with_pages(1);
    ASSERT_TRUE(write_le_u64(memory, 0, header));
    uint64_t raw = 0;
    ASSERT_TRUE(read_le_u64(memory, 0, &raw));
    const DecodedHeader decoded = decode_header(raw);
    EXPECT_EQ(decoded.occupied, occupied) << header;
    EXPECT_EQ(decoded.value, value) << header;
  };
  round_trip(occupied_header(0), true, 0);
  round_trip(occupied_header(1), true, 1);
  round_trip(free_header(kNilLink), false, kNilLink);
  round_trip(free_header(0), false, 0);
  round_trip(free_header(4), false, 4);
  // The encodings themselves (sc-allocator's doc comment).
  EXPECT_EQ(occupied_header(5), 0x0000000100000005u);
  EXPECT_EQ(free_header(kNilLink), 0x00000000FFFFFFFFu);
}

TEST(SubstrateLayout, TheOrdersSpanTheSmallestToTheLargestAllocation) {  // test_n_orders
  EXPECT_EQ(kMinAllocation * (1u << (kNumOrders - 1)), kMaxAllocation);
}

// The bounds rule: offset + 8 must not overflow u32, so the last 8 bytes of a 4 GiB memory
// cannot be read as a header, while the 8 bytes before them can.
TEST(SubstrateLayout, HeaderAccessStopsBelow4GiB) {
  TestMemory memory = TestMemory::with_pages(kMaxWasmPages);
  uint64_t value;
  EXPECT_TRUE(read_le_u64(memory, 0xFFFFFFF7u, &value));
  EXPECT_FALSE(read_le_u64(memory, 0xFFFFFFF8u, &value));
  EXPECT_FALSE(write_le_u64(memory, 0xFFFFFFFFu, 1));
  EXPECT_EQ(memory.resident_pages(), 0u);
}

TEST(SubstrateLayout, MessagesAreScAllocatorsDisplayText) {
  EXPECT_STREQ(message(Error::kRequestedAllocationTooLarge), "Requested allocation size is too large");
  EXPECT_STREQ(message(Error::kAllocatorOutOfSpace), "Allocator ran out of space");
  EXPECT_STREQ(message(Error::kMemoryShrank), "Shrinking of the underlying memory is observed");
  EXPECT_STREQ(message(Error::kPoisoned), "Other: the allocator has been poisoned");
  EXPECT_STREQ(message(Error::kFreeOfFreeHeader), "Other: the allocation points to an empty header");
}

TEST(SubstrateLayout, OrdersArePowersOfTwoFrom8) {
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint32_t payload = payload_bytes(order);
    EXPECT_EQ(order_for_size(payload), order);
    if (order > 0) {
      EXPECT_EQ(order_for_size(payload / 2 + 1), order);
    }
    if (order + 1 < kNumOrders) {
      EXPECT_EQ(order_for_size(payload + 1), order + 1);
    }
    EXPECT_EQ(block_bytes(order), payload + 8);
  }
}

}  // namespace
}  // namespace substrate
}  // namespace freebump
