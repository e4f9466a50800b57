// Orders, block sizes and the overflow-safe size-to-order mapping.
#include "lib/size_classes.h"

#include <stdint.h>

#include "gtest/gtest.h"

namespace freebump {
namespace {

TEST(SizeClasses, BlocksAreSixteenByteMultiplesWithTheHeaderInFront) {
  for (unsigned order = 0; order < kNumOrders; ++order) {
    EXPECT_EQ(block_bytes(order) % 16, 0u) << order;
    EXPECT_EQ(block_bytes(order), usable_bytes(order) + kHeaderBytes) << order;
    // The nominal power-of-two payload always fits.
    EXPECT_GE(usable_bytes(order), uint64_t{8} << order) << order;
  }
  EXPECT_EQ(usable_bytes(21), (uint64_t{16} << 20) + 8);  // 16 MiB order
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
  for (uint64_t size = 0; size <= 5000; ++size) {
    const unsigned order = order_for_size(size);
    ASSERT_GE(usable_bytes(order), size);
    if (order > 0) {
      ASSERT_LT(usable_bytes(order - 1), size);
    }
  }
}

TEST(SizeClasses, TheLargestRequestStaysBelowPtrdiffMax) {
  EXPECT_LE(kMaxRequest, static_cast<uint64_t>(PTRDIFF_MAX));
  EXPECT_LE(order_for_size(kMaxRequest), kMaxOrder);
  EXPECT_GE(usable_bytes(order_for_size(kMaxRequest)), kMaxRequest);
}

}  // namespace
}  // namespace freebump
