// Fuzz target: several heaps on one central pool (preload/central_pool.h) over the test
// platform (tests/preload/test_platform.h), as the preload library's thread heaps use it,
// driven by an input read as a program (fuzz_program.h), with the heap invariant checker
// (heap_checker.h) over every heap, chain and spare region after every operation.
//
// The input's first byte chooses the platform (1, 4 or 16 MiB), the number of heaps (1 to 4),
// how many free blocks a heap keeps per order before it gives a batch to the pool, and how
// many blocks it takes back at a time. Each further operation is a byte, then a byte naming
// the heap it runs on, then its arguments:
//
//   op % 9    operation
//   0, 1, 2   allocate(size)           as a thread does: an empty list is refilled from the
//   3         allocate_zeroed(size)    pool first, and when the heap will need bump space while
//   4         allocate_aligned(...)    a merge is due, it gives the pool its own free blocks
//   5         reallocate(any live block, size)
//   6, 7      free(any live block)     into this heap, whichever heap allocated it; a list over
//                                      its bound gives a batch to the pool
//   8         the pool: a heap gives it everything (a thread's exit, a trim request), the
//             pool gives its free pages back (malloc_trim), the clock moves on (memory idle
//             for a second goes back), a heap gives or takes a chain
#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <vector>

#include "lib/heap.h"
#include "preload/central_pool.h"
#include "tests/fuzz/fuzz_program.h"
#include "tests/fuzz/heap_checker.h"
#include "tests/preload/test_platform.h"

namespace freebump {
namespace fuzz {
namespace {

using testing::TestPlatform;

constexpr uint64_t kPlatformBytes[] = {uint64_t{1} << 20, uint64_t{4} << 20, uint64_t{16} << 20, uint64_t{16} << 20};
constexpr uint64_t kListBounds[] = {1, 4, 16, 256};
constexpr uint64_t kRefillBlocks[] = {1, 2, 8, 64};

class PoolProgram {
 public:
  explicit PoolProgram(uint8_t config)
      : platform_(kPlatformBytes[config & 3]),
        pool_(&platform_, MemorySource::kNoHugeBlocks, false),
        list_bound_(kListBounds[(config >> 4) & 3]),
        refill_blocks_(kRefillBlocks[(config >> 6) & 3]) {
    const unsigned heaps = 1 + ((config >> 2) & 3);
    for (unsigned i = 0; i < heaps; ++i) heaps_.emplace_back(new FreeingBumpHeap(&pool_));
  }

  void step(InputReader& input) {
    const uint8_t op = input.byte() % 9;
    FreeingBumpHeap& heap = *heaps_[input.byte() % heaps_.size()];
    unsigned freed_order = kNumOrders;
    switch (op) {
      case 0:
      case 1:
      case 2: {
        const uint64_t size = input.size();
        refill(heap, size);
        program_.allocate(heap, size);
        break;
      }
      case 3: {
        const uint64_t size = input.size();
        refill(heap, size);
        program_.allocate_zeroed(heap, size);
        break;
      }
      case 4: {
        const uint64_t alignment = input.alignment();
        const uint64_t size = input.size();
        refill(heap, size + alignment);
        program_.allocate_aligned(heap, alignment, size);
        break;
      }
      case 5: {
        const uint8_t selector = input.byte();
        const uint64_t size = input.size();
        refill(heap, size);
        const uintptr_t payload = program_.empty() || selector == 0 ? 0 : program_.pick(selector);
        program_.reallocate(heap, payload, size);
        break;
      }
      case 6:
      case 7:
        if (program_.empty()) break;
        program_.free(heap, program_.pick(input.byte()), &freed_order);
        if (freed_order < kNumOrders && heap.free_count(freed_order) > list_bound_) {
          expect(pool_.take_from(heap, freed_order, (list_bound_ + 1) / 2), "a batch to the pool");
        }
        break;
      case 8:
        run_pool_operation(input, heap);
        break;
    }
    check(op);
  }

 private:
  void run_pool_operation(InputReader& input, FreeingBumpHeap& heap) {
    const uint8_t what = input.byte();
    const unsigned order = input.byte() % kNumOrders;
    switch (what % 5) {
      case 0:
        expect(pool_.take_all_from(heap), "everything to the pool");
        break;
      case 1:
        for (auto& each : heaps_) expect(pool_.take_all_from(*each), "everything to the pool for a trim");
        pool_.return_free_pages();
        break;
      case 2:
        platform_.advance_ms(uint64_t{what} * 16);
        break;
      case 3:
        expect(pool_.take_from(heap, order, 1 + what / 8), "a chain to the pool");
        break;
      case 4:
        expect(pool_.give_to(heap, order, 1 + what / 8), "a chain from the pool");
        break;
    }
  }

  // What the preload library's slow path does before a request (process_heap.cc).
  void refill(FreeingBumpHeap& heap, uint64_t size) {
    if (size > kMaxBlockRequest) return;
    const unsigned order = order_for_size(size);
    if (heap.free_count(order) != 0) return;
    expect(pool_.give_to(heap, order, refill_blocks_), "a refill");
    if (heap.free_count(order) == 0 && heap.bump_room() < block_bytes(order) && pool_.merge_due()) {
      expect(pool_.take_all_from(heap), "the heap's blocks before a merge");
    }
  }

  static void expect(HeapError error, const char* what) {
    if (error != HeapError::kNone) fail(std::string(what) + ": " + describe(error));
  }

  void check(uint8_t op) {
    CheckedMemory memory;
    memory.high_water = platform_.high_water();
    memory.span_begins = platform_.span_begins();
    memory.fresh_bytes = platform_.handed_out();
    for (auto& heap : heaps_) memory.heaps.push_back(heap.get());
    pool_.inspect([&](unsigned order, const FreeChain& chain) { memory.chains.emplace_back(order, chain); },
                  [&](Span spare) { memory.spare_regions.push_back(spare); },
                  [&](const FreeingBumpHeap& reserve) { memory.heaps.push_back(&reserve); });
    std::string problem = check_heap(memory, program_.live());
    if (problem.empty()) problem = check_pool_counts(memory);
    if (!problem.empty()) fail("after operation " + std::to_string(op) + ": " + problem);
  }

  // The pool's own counts are its chains' and its reserve's.
  std::string check_pool_counts(const CheckedMemory& memory) {
    const PoolStats stats = pool_.stats();
    uint64_t chained[kNumOrders] = {};
    for (const auto& [order, chain] : memory.chains) chained[order] += chain.count;
    const FreeingBumpHeap& reserve = *memory.heaps.back();
    for (unsigned order = 0; order < kNumOrders; ++order) {
      if (stats.chained_blocks[order] != chained[order] || stats.reserve_blocks[order] != reserve.free_count(order)) {
        return "the pool counts " + std::to_string(stats.chained_blocks[order]) + " chained and " +
               std::to_string(stats.reserve_blocks[order]) + " reserve blocks of order " + std::to_string(order) +
               "; it holds " + std::to_string(chained[order]) + " and " + std::to_string(reserve.free_count(order));
      }
    }
    uint64_t spare = 0;
    for (const Span& region : memory.spare_regions) spare += region.end - region.begin;
    if (stats.spare_bytes != spare) {
      return "the pool counts " + std::to_string(stats.spare_bytes) + " bytes of spare regions; it holds " +
             std::to_string(spare);
    }
    return "";
  }

  TestPlatform platform_;
  CentralPool pool_;
  std::vector<std::unique_ptr<FreeingBumpHeap>> heaps_;
  uint64_t list_bound_;
  uint64_t refill_blocks_;
  FuzzProgram program_;
};

}  // namespace
}  // namespace fuzz
}  // namespace freebump

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  freebump::fuzz::InputReader input(data, size);
  freebump::fuzz::PoolProgram program(input.byte());
  while (!input.done()) program.step(input);
  return 0;
}
