// Orders, block sizes and the overflow-safe size-to-order mapping, for the geometry this build
// was made with (1, 2 or 4 classes per doubling, or "4-8"; tests/BUILD.bazel runs every
// geometry).
#include "lib/size_classes.h"

#include <stdint.h>

#include <vector>

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

// The classes from blocks of 4 KiB + 16 up, pinned per geometry: with "4-8" they step by an
// eighth, so a page of 4 KiB and its bookkeeping (SQLite's page cache asks for 4368 bytes)
// rounds up by less than a block in 16, where four classes per doubling round it up by 17 %.
TEST(SizeClasses, TheLargeClassesOfEachGeometry) {
  struct LargeClasses {
    std::vector<uint64_t> blocks;  // from kFirstLargeOrder up
    uint64_t page_entry;           // the usable bytes a 4368-byte request gets
  };
  const LargeClasses want =
      kFinerLargeClasses ? LargeClasses{{4112, 4624, 5136, 5648, 6160, 6672, 7184, 7696, 8208, 9232}, 4616}
      : kClassesPerDoubling == 1 ? LargeClasses{{4112, 8208, 16400}, 8200}
      : kClassesPerDoubling == 2 ? LargeClasses{{4112, 6160, 8208, 12304}, 6152}
                                 : LargeClasses{{4112, 5136, 6160, 7184, 8208, 10256}, 5128};
  for (unsigned i = 0; i < want.blocks.size(); ++i) {
    EXPECT_EQ(block_bytes(kFirstLargeOrder + i), want.blocks[i]) << i;
  }
  EXPECT_EQ(usable_bytes(order_for_size(4368)), want.page_entry);
  EXPECT_EQ(order_for_size(usable_bytes(kMaxOrder)), kMaxOrder);
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
  EXPECT_GE(powers, kFinerLargeClasses ? 22u : 32u);  // up to 16 GiB ("4-8": 16 MiB)
  EXPECT_EQ(kNumOrders, 32u * kClassesPerDoubling);
}

// Past the 16-byte steps, each doubling holds C classes (kLargeClassesPerDoubling from the
// first large order), each at most 1/C bigger (in 16-byte units beyond the first) than the one
// before it.
TEST(SizeClasses, EachDoublingHoldsCClasses) {
  for (unsigned order = 2 * kClassesPerDoubling; order < kNumOrders; ++order) {
    const unsigned classes = order >= kFirstLargeOrder ? kLargeClassesPerDoubling : kClassesPerDoubling;
    const uint64_t units = block_bytes(order) / 16 - 1;
    const bool same_spacing = order >= kFirstLargeOrder || order + classes <= kFirstLargeOrder;
    if (order + classes < kNumOrders && same_spacing) {
      EXPECT_EQ(block_bytes(order + classes) / 16 - 1, 2 * units) << order;
    }
    if (order + 1 < kNumOrders) {
      const uint64_t next = block_bytes(order + 1) / 16 - 1;
      EXPECT_LE(next * classes, units * (classes + 1)) << order;
    }
  }
  for (unsigned order = 0; order <= 2 * kClassesPerDoubling; ++order) {
    EXPECT_EQ(block_bytes(order), 16u * (order + 1)) << order;
  }
}

TEST(SizeClasses, EverySizeGetsTheSmallestOrderThatHoldsIt) {
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uint64_t top = usable_bytes(order);
    if (top > kMaxBlockRequest) break;
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

TEST(SizeClasses, TheLargestBlockRequestStaysBelowPtrdiffMax) {
  EXPECT_LE(kMaxBlockRequest, static_cast<uint64_t>(PTRDIFF_MAX));
  EXPECT_LE(order_for_size(kMaxBlockRequest), kMaxOrder);
  EXPECT_GE(usable_bytes(order_for_size(kMaxBlockRequest)), kMaxBlockRequest);
  // The orders reach at least 16 GiB; "4-8", whose last doublings hold eight classes each,
  // 22 MiB (the preload library's blocks above 64 KiB are huge blocks).
  EXPECT_GE(usable_bytes(kMaxOrder), kFinerLargeClasses ? uint64_t{22} << 20 : uint64_t{16} << 30);
}

}  // namespace
}  // namespace freebump
