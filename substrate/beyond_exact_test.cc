// What lies beyond the exact mode: the runtime-side alignment wrapper (runtime_alignment.h)
// on top of the exact allocator, and the cost report (cost_report.h).
#include <stdint.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "substrate/allocator.h"
#include "substrate/error_printer.h"
#include "substrate/cost_report.h"
#include "substrate/runtime_alignment.h"
#include "substrate/test_memory.h"

namespace freebump {
namespace substrate {
namespace {

using testing::TestMemory;

// The runtime's view of its host: the exact allocator behind the two host functions, and the
// instance's memory for the runtime's own reads and writes.
struct SimulatedHost {
  HostAllocator& allocator;
  TestMemory& memory;
  uint32_t malloc_calls = 0;

  uint32_t malloc(uint32_t size) {
    malloc_calls++;
    const Allocation result = allocator.allocate(memory, size);
    EXPECT_EQ(result.error, Error::kNone) << message(result.error);
    return result.ok() ? result.pointer : 0;
  }
  void free(uint32_t pointer) { EXPECT_EQ(allocator.deallocate(memory, pointer), Error::kNone); }
  uint16_t load_u16(uint32_t offset) {
    uint8_t bytes[2];
    memory.read(offset, bytes, 2);
    return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
  }
  void store_u16(uint32_t offset, uint16_t value) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
    memory.write(offset, bytes, 2);
  }
};

uint64_t next_random(uint64_t* state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 0x2545F4914F6CDD1Du;
}

// Runtime allocations of every alignment from 1 to 4 KiB and random sizes, mixed with blocks
// the host allocated itself, all freed through the wrapper: each pointer is aligned, no block
// overlaps another, and the exact allocator sees only valid calls, ending with nothing live.
TEST(SubstrateBeyondExact, RuntimeAlignmentAlignsAndFreesRuntimeAndHostPointers) {
  TestMemory memory = TestMemory::with_pages(1);
  HostAllocator allocator(1037);
  SimulatedHost host{allocator, memory};
  AlignedRuntimeAllocator<SimulatedHost> runtime(host);
  struct Block {
    uint32_t pointer;
    uint32_t size;
    uint8_t stamp;
  };
  std::vector<Block> live;
  uint64_t state = 12345;
  const auto check_and_free = [&](size_t index) {
    const Block block = live[index];
    std::vector<uint8_t> bytes(block.size);
    memory.read(block.pointer, bytes.data(), block.size);
    for (uint32_t i = 0; i < block.size; ++i) ASSERT_EQ(bytes[i], static_cast<uint8_t>(block.stamp ^ i));
    runtime.deallocate(block.pointer);
    live[index] = live.back();
    live.pop_back();
  };
  for (int step = 0; step < 4000; ++step) {
    if (live.empty() || next_random(&state) % 100 < 55) {
      const uint32_t size = static_cast<uint32_t>(next_random(&state) % 3000);
      uint32_t pointer;
      if (next_random(&state) % 4 == 0) {
        pointer = host.malloc(size);  // the host's own block, handed to the runtime
        ASSERT_EQ(pointer % 8, 0u);
      } else {
        const uint32_t alignment = 1u << (next_random(&state) % 13);
        pointer = runtime.allocate(size, alignment);
        ASSERT_NE(pointer, 0u);
        ASSERT_EQ(pointer % alignment, 0u) << alignment;
      }
      const uint8_t stamp = static_cast<uint8_t>(next_random(&state));
      std::vector<uint8_t> bytes(size);
      for (uint32_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(stamp ^ i);
      if (size > 0) memory.write(pointer, bytes.data(), size);
      live.push_back(Block{pointer, size, stamp});
    } else {
      check_and_free(next_random(&state) % live.size());
    }
  }
  while (!live.empty()) check_and_free(live.size() - 1);
  EXPECT_FALSE(allocator.poisoned());
  EXPECT_EQ(allocator.stats().bytes_allocated, 0u);
}

// Alignments up to 8 go straight to the host: the exact allocator sees the same calls, and
// the runtime gets the same pointers, as without the wrapper.
TEST(SubstrateBeyondExact, RuntimeAlignmentPassesSmallAlignmentsToTheHost) {
  TestMemory memory_a = TestMemory::with_pages(1);
  TestMemory memory_b = TestMemory::with_pages(1);
  HostAllocator wrapped_allocator(0);
  HostAllocator plain_allocator(0);
  SimulatedHost host{wrapped_allocator, memory_a};
  AlignedRuntimeAllocator<SimulatedHost> runtime(host);
  for (uint32_t size : {1u, 9u, 1u, 100u, 16u}) {
    const uint32_t alignment = size % 2 == 0 ? 8 : 1;
    EXPECT_EQ(runtime.allocate(size, alignment), plain_allocator.allocate(memory_b, size).pointer);
  }
  EXPECT_EQ(host.malloc_calls, 5u);
}

// What 16-byte alignment costs: 8 bytes more per request. 16 bytes aligned to 16 take a 32-byte
// payload (a 40-byte block) where the host alone would use 16 (24), and the pointer moves
// past a host pointer that is only 8-aligned.
TEST(SubstrateBeyondExact, RuntimeAlignmentToSixteenBytesCostsEightBytesPerRequest) {
  TestMemory memory = TestMemory::with_pages(1);
  HostAllocator allocator(0);
  SimulatedHost host{allocator, memory};
  AlignedRuntimeAllocator<SimulatedHost> runtime(host);
  EXPECT_EQ(runtime.allocate(16, 16), 16u);  // the host's pointer 8 moved up to 16
  EXPECT_EQ(allocator.stats().bytes_allocated, 40u);
  uint8_t tag[2];
  memory.read(14, tag, 2);
  EXPECT_EQ(tag[0], 1);  // one 8-byte unit back to the host's pointer
  EXPECT_EQ(tag[1], 0);
  EXPECT_EQ(runtime.allocate(8, 16), 48u);  // host pointer 48 is 16-aligned already: no tag
  runtime.deallocate(16);
  runtime.deallocate(48);
  EXPECT_EQ(allocator.free_list_head(2), 0u);   // the 40-byte block, freed at its own header
  EXPECT_EQ(allocator.free_list_head(1), 40u);  // the 24-byte block
  EXPECT_EQ(allocator.stats().bytes_allocated, 0u);
}

TEST(SubstrateBeyondExact, RuntimeAlignmentRefusesAlignmentsItCannotRecord) {
  TestMemory memory = TestMemory::with_pages(1);
  HostAllocator allocator(0);
  SimulatedHost host{allocator, memory};
  AlignedRuntimeAllocator<SimulatedHost> runtime(host);
  EXPECT_EQ(runtime.allocate(8, 0), 0u);
  EXPECT_EQ(runtime.allocate(8, 24), 0u);
  EXPECT_EQ(runtime.allocate(8, 1u << 20), 0u);
  EXPECT_EQ(runtime.allocate(UINT32_MAX - 4, 16), 0u);  // the slack would wrap
  EXPECT_EQ(host.malloc_calls, 0u);
  // The largest alignment: the distance back is 65535 units at most.
  const uint32_t pointer = runtime.allocate(1, 1u << 19);
  EXPECT_EQ(pointer % (1u << 19), 0u);
  runtime.deallocate(pointer);
  EXPECT_EQ(allocator.stats().bytes_allocated, 0u);
}

// ---- The cost report ---------------------------------------------------------------------------

TEST(SubstrateBeyondExact, CostReportSaysWhereTheAddressSpaceWent) {
  TestMemory memory = TestMemory::with_pages(1);
  memory.set_max_pages(2);
  HostAllocator allocator(0);
  std::vector<uint32_t> pointers;
  for (int i = 0; i < 100; ++i) pointers.push_back(allocator.allocate(memory, 1000).pointer);
  for (uint32_t pointer : pointers) ASSERT_EQ(allocator.deallocate(memory, pointer), Error::kNone);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(allocator.allocate(memory, 100).ok());

  ExactModeCost cost = measure_cost(allocator);
  EXPECT_EQ(cost.live_blocks, 50u);
  EXPECT_EQ(cost.live_bytes, 50u * 136);
  EXPECT_EQ(cost.peak_live_bytes, 100u * 1032);
  EXPECT_EQ(cost.address_space, 100u * 1032 + 50 * 136);
  EXPECT_EQ(cost.free_list_bytes, 100u * 1032);
  EXPECT_EQ(cost.largest_free_order, 7u);
  EXPECT_EQ(cost.handed_out_bytes, 100u * 1032 + 50 * 136);
  EXPECT_EQ(cost.requested_bytes, 100u * 1000 + 50 * 100);
  EXPECT_FALSE(cost.out_of_space);

  // 64 KiB more does not fit in two pages, while 100 KiB sits free in order 7.
  EXPECT_EQ(allocator.allocate(memory, 65536).error, Error::kAllocatorOutOfSpace);
  cost = measure_cost(allocator);
  EXPECT_TRUE(cost.out_of_space);
  EXPECT_EQ(cost.out_of_space_order, 13u);
  EXPECT_EQ(cost.out_of_space_free_bytes, 100u * 1032);
  EXPECT_EQ(format_cost_report(cost),
            "exact mode: 50 live blocks, 6800 B live, peak 103200 B, address space 110000 B (1.07x the peak)\n"
            "free lists: 103200 B, each block for its own order only; most in order 7 (1 KiB blocks): 103200 B\n"
            "headers and rounding: 5000 B of 110000 B handed out (4.5 %)\n"
            "out of space: a block of order 13 (64 KiB) failed with 103200 B free in other orders\n");
}

TEST(SubstrateBeyondExact, CostReportOfAnEmptyAllocatorHasOnlyZeros) {
  const HostAllocator allocator(0);
  EXPECT_EQ(format_cost_report(measure_cost(allocator)),
            "exact mode: 0 live blocks, 0 B live, peak 0 B, address space 0 B\n"
            "free lists: 0 B, each block for its own order only\n"
            "headers and rounding: 0 B of 0 B handed out\n");
}

}  // namespace
}  // namespace substrate
}  // namespace freebump
