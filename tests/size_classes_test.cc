// Orders, block sizes and the overflow-safe size-to-order mapping, for the geometry this build
// was made with (1, 2 or 4 classes per doubling; tests/BUILD.bazel runs every geometry).
#include "lib/size_classes.h"

#include <stdint.h>

#include "gtest/gtest.h"

namespace freebump {
namespace {

TEST(SizeClasses, BlocksAreSixteenByteMultiplesWithTheHeaderInFront) {
  for (unsigned order = 0; order < kNumOrders; ++order) {
    EXPECT_EQ(block_bytes(order) % 16, 0u) << order;
    EXPECT_EQ(block_bytes(order), usable_bytes(order) + kHeaderBytes) << order;
    if (order > 0) {
      EXPECT_GT(block_bytes(order), block_bytes(order - 1)) << order;
    }
  }
}

// The first orders, pinned for each geometry (the table in size_classes.h).
TEST(SizeClasses, TheFirstBlocksOfEachGeometry) {
  const uint64_t one[] = {16, 32, 48, 80, 144, 272, 528, 1040, 2064, 4112};
  const uint64_t two[] = {16, 32, 48, 64, 80, 112, 144, 208, 272, 400};
  const uint64_t four[] = {16, 32, 48, 64, 80, 96, 112, 128, 144, 176, 208, 240, 272, 336};
  const uint64_t* want = kClassesPerDoubling == 1 ? one : kClassesPerDoubling == 2 ? two : four;
  const size_t count = kClassesPerDoubling == 1 ? sizeof one / sizeof one[0]
                       : kClassesPerDoubling == 2 ? sizeof two / sizeof two[0]
                                                  : sizeof four / sizeof four[0];
  for (unsigned order = 0; order < count; ++order) {
    EXPECT_EQ(block_bytes(order), want[order]) << order;
  }
}

// Substrate's power-of-two spacing, on the 16-byte grid (usable 8·2^k + 8, and 8 for k = 0),
// gives classes of every geometry; with one class per doubling they are all there is, order k
// being 8·2^k.
TEST(SizeClasses, PowersOfTwoAreClassesOfEveryGeometry) {
  unsigned powers = 0;
  for (unsigned k = 0; k < 64; ++k) {
    const uint64_t substrate = k == 0 ? 8 : (uint64_t{8} << k) + 8;
    if (substrate > usable_bytes(kMaxOrder)) break;
    const unsigned order = order_for_size(substrate);
    EXPECT_EQ(usable_bytes(order), substrate) << k;
    if (kClassesPerDoubling == 1) {
      EXPECT_EQ(order, k);
    }
    ++powers;
  }
  EXPECT_GE(powers, 32u);  // up to 16 GiB
  EXPECT_EQ(kNumOrders, 32u * kClassesPerDoubling);
}

// Past the 16-byte steps, each doubling holds kClassesPerDoubling classes, each at most 1/C
// bigger (in 16-byte units beyond the first) than the one before it.
TEST(SizeClasses, EachDoublingHoldsCClasses) {
  for (unsigned order = 2 * kClassesPerDoubling; order + kClassesPerDoubling < kNumOrders; ++order) {
    const uint64_t units = block_bytes(order) / 16 - 1;
    EXPECT_EQ(block_bytes(order + kClassesPerDoubling) / 16 - 1, 2 * units) << order;
    const uint64_t next = block_bytes(order + 1) / 16 - 1;
    EXPECT_LE(next * kClassesPerDoubling, units * (kClassesPerDoubling + 1)) << order;
  }
  for (unsigned order = 0; order <= 2 * kClassesPerDoubling; ++order) {
    EXPECT_EQ(block_bytes(order), 16u * (order + 1)) << order;
  }
}

TEST(SizeClasses, EverySizeGetsTheSmallestOrderThatHoldsIt) {
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint64_t top = usable_bytes(order);
    if (top > kMaxRequest) break;
    EXPECT_EQ(order_for_size(top), order) << order;
    if (order > 0) {
      EXPECT_EQ(order_for_size(usable_bytes(order - 1) + 1), order) << order;
    }
  }
  for (uint64_t size = 0; size <= 20000; ++size) {
    const unsigned order = order_for_size(size);
    ASSERT_GE(usable_bytes(order), size);
    if (order > 0) {
      ASSERT_LT(usable_bytes(order - 1), size);
    }
  }
}

TEST(SizeClasses, TheFastPathsTableAgreesWithTheArithmetic) {
  for (uint64_t size = 0; size <= 20000; ++size) {
    ASSERT_EQ(fast_order_for_size(size), order_for_size(size)) << size;
  }
}

TEST(SizeClasses, TheLargestRequestStaysBelowPtrdiffMax) {
  EXPECT_LE(kMaxRequest, static_cast<uint64_t>(PTRDIFF_MAX));
  EXPECT_LE(order_for_size(kMaxRequest), kMaxOrder);
  EXPECT_GE(usable_bytes(order_for_size(kMaxRequest)), kMaxRequest);
  // Every order of the 64-bit build reaches at least 16 GiB.
  EXPECT_GE(usable_bytes(kMaxOrder), uint64_t{16} << 30);
}

}  // namespace
}  // namespace freebump
