// Fuzz target: the core (FreeingBumpHeap) on a fixed buffer, driven by an input read as a
// program (fuzz_program.h), with the heap invariant checker (heap_checker.h) after every
// operation.
//
// The input's first byte chooses the heap: a buffer of 4 KiB, 64 KiB, 1 MiB or 4 MiB, handed to
// the heap whole or in spans of 16 bytes, 4 KiB or 64 KiB, as fresh zero memory (calloc may skip
// clearing it) or not. Each further operation is a byte, then its arguments:
//
//   op % 10   operation
//   0, 1, 2   allocate(size)
//   3         allocate_zeroed(size)
//   4         allocate_aligned(alignment, size)
//   5         reallocate(a live block, or nullptr, size)
//   6, 7      free(a live block)
//   8         merge the free blocks (coalesce_free_blocks), with a scratch bitmap or without
//   9         retire the bump region (carved into free blocks, as a heap about to be abandoned)
//
// A small buffer runs out of memory early, which is where merging, recycled bump regions and
// failed requests are exercised.
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <vector>

#include "lib/heap.h"
#include "lib/memory_source.h"
#include "tests/fuzz/fuzz_program.h"
#include "tests/fuzz/heap_checker.h"

namespace freebump {
namespace fuzz {
namespace {

// A fixed buffer that records where its spans begin (the checker needs them).
class RecordingSource final : public MemorySource {
 public:
  RecordingSource(void* buffer, uint64_t bytes, uint64_t step, bool zeroed)
      : MemorySource(kNoHugeBlocks, zeroed), buffer_(buffer, bytes, step) {}

  Span grow(uint64_t min_bytes) override {
    const Span span = buffer_.grow(min_bytes);
    if (!span.empty()) {
      span_begins_.push_back(span.begin);
      raise_high_water(span.end);
    }
    return span;
  }
  uintptr_t base() const override { return buffer_.base(); }

  const std::vector<uintptr_t>& span_begins() const { return span_begins_; }
  uint64_t handed_out() const { return buffer_.bytes_handed_out(); }

 private:
  FixedBufferSource buffer_;
  std::vector<uintptr_t> span_begins_;
};

constexpr uint64_t kBufferBytes[] = {uint64_t{4} << 10, uint64_t{64} << 10, uint64_t{1} << 20, uint64_t{4} << 20};
constexpr uint64_t kSpanSteps[] = {0, 16, uint64_t{4} << 10, uint64_t{64} << 10};

void run(InputReader& input) {
  const uint8_t config = input.byte();
  const uint64_t bytes = kBufferBytes[config & 3];
  // Fresh pages: bytes the heap never wrote read as zero (the checker relies on it for the
  // gaps between spans), and the pages it never touches cost nothing.
  void* buffer = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buffer == MAP_FAILED) fail("no memory for the heap's buffer");
  RecordingSource source(buffer, bytes, kSpanSteps[(config >> 2) & 3], (config & 0x10) != 0);
  FreeingBumpHeap heap(&source);
  std::vector<uint64_t> bitmap(merge_bitmap_words(bytes));
  FuzzProgram program;

  while (!input.done()) {
    const uint8_t op = input.byte() % 10;
    unsigned freed_order;
    switch (op) {
      case 0:
      case 1:
      case 2:
        program.allocate(heap, input.size());
        break;
      case 3:
        program.allocate_zeroed(heap, input.size());
        break;
      case 4: {
        const uint64_t alignment = input.alignment();
        program.allocate_aligned(heap, alignment, input.size());
        break;
      }
      case 5: {
        const uint8_t selector = input.byte();
        const uintptr_t payload = program.empty() || selector == 0 ? 0 : program.pick(selector);
        program.reallocate(heap, payload, input.size());
        break;
      }
      case 6:
      case 7:
        if (!program.empty()) program.free(heap, program.pick(input.byte()), &freed_order);
        break;
      case 8:
        if (input.byte() & 1) {
          heap.coalesce_free_blocks(MergeScratch{bitmap.data(), bitmap.size()});
          for (uint64_t word : bitmap) {
            if (word != 0) fail("the merge left its scratch bitmap dirty");
          }
        } else {
          heap.coalesce_free_blocks();
        }
        break;
      case 9:
        heap.retire_bump_region();
        break;
    }
    CheckedMemory memory;
    memory.high_water = source.high_water();
    memory.span_begins = source.span_begins();
    memory.fresh_bytes = source.handed_out();
    memory.heaps = {&heap};
    const std::string problem = check_heap(memory, program.live());
    if (!problem.empty()) fail("after operation " + std::to_string(op) + ": " + problem);
  }
  munmap(buffer, bytes);
}

}  // namespace
}  // namespace fuzz
}  // namespace freebump

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  freebump::fuzz::InputReader input(data, size);
  freebump::fuzz::run(input);
  return 0;
}
