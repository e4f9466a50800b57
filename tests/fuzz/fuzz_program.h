// What the fuzz targets share: an input read as a program, and that program's blocks.
//
// An input is a stream of bytes read from the front (zeros once it runs out). The program
// allocates, reallocates and frees blocks on heaps the target chooses, stamps the bytes it
// asked for with a pattern of the block's own (all of a small block, the ends and a word in
// every 256 bytes of a big one), and checks the pattern before every free and every move: a heap that handed out overlapping blocks, wrote into a live block or lost its
// contents on a move fails there. A failed request must fail for the reason its arguments
// give (too large, a bad alignment, or out of memory), never for corruption.
#ifndef FREEBUMP_TESTS_FUZZ_FUZZ_PROGRAM_H_
#define FREEBUMP_TESTS_FUZZ_FUZZ_PROGRAM_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iterator>
#include <string>

#include "lib/heap.h"
#include "tests/fuzz/heap_checker.h"

namespace freebump {
namespace fuzz {

// Prints what went wrong and aborts: libFuzzer keeps the input that got here.
[[noreturn]] inline void fail(const std::string& what) {
  fprintf(stderr, "fuzz: %s\n", what.c_str());
  abort();
}

class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint32_t bits24() { return byte() | uint32_t{byte()} << 8 | uint32_t{byte()} << 16; }

  // A request size: mostly below a few KiB, spread evenly over the powers of two up to
  // 1 MiB, and now and then one no heap can serve.
  uint64_t size() {
    const uint8_t shape = byte();
    static constexpr uint64_t kAbsurd[] = {
        ~uint64_t{0}, ~uint64_t{0} - 15, kMaxBlockRequest, kMaxBlockRequest + 1, uint64_t{1} << 40, uint64_t{1} << 32,
    };
    if (shape >= 256 - sizeof kAbsurd / sizeof kAbsurd[0]) return kAbsurd[255 - shape];
    const unsigned bits = shape % 21;
    return bits24() & ((uint64_t{1} << bits) - 1);
  }
  // A power of two from 1 to 8 KiB, or (one time in eight) a number that is none.
  uint64_t alignment() {
    const uint8_t shape = byte();
    const uint64_t power = uint64_t{1} << (shape % 14);
    return (shape & 0x80) != 0 && (shape & 0x70) == 0 ? power * 3 : power;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

// The program's blocks, each stamped over the bytes it asked for.
class FuzzProgram {
 public:
  const LiveBlocks& live() const { return live_; }
  bool empty() const { return live_.empty(); }
  // The live block a byte of the input names.
  uintptr_t pick(uint8_t selector) const {
    auto block = live_.begin();
    std::advance(block, selector % live_.size());
    return block->first;
  }

  void allocate(FreeingBumpHeap& heap, uint64_t size) {
    const size_t request = static_cast<size_t>(size);
    if (request != size) return;  // wasm32 only
    note(heap.allocate(request), size, 1, false);
  }
  void allocate_zeroed(FreeingBumpHeap& heap, uint64_t size) {
    if (static_cast<size_t>(size) != size) return;
    note(heap.allocate_zeroed(static_cast<size_t>(size)), size, 1, true);
  }
  void allocate_aligned(FreeingBumpHeap& heap, uint64_t alignment, uint64_t size) {
    if (static_cast<size_t>(size) != size) return;
    note(heap.allocate_aligned(static_cast<size_t>(alignment), static_cast<size_t>(size)), size, alignment,
         false);
  }

  // `payload` a live block (or 0: reallocate(nullptr) allocates).
  void reallocate(FreeingBumpHeap& heap, uintptr_t payload, uint64_t size) {
    if (static_cast<size_t>(size) != size) return;
    if (payload == 0) {
      note(heap.reallocate(nullptr, static_cast<size_t>(size)), size, 1, false);
      return;
    }
    const uint64_t old_size = live_.at(payload);
    expect_stamp(payload, old_size, "before realloc");
    const Allocated result = heap.reallocate(reinterpret_cast<void*>(payload), static_cast<size_t>(size));
    void* moved = result.payload();
    if (moved == nullptr) {
      expect_refusal(result.error(), size, 1);
      expect_stamp(payload, old_size, "after a failed realloc");
      return;
    }
    const uintptr_t address = reinterpret_cast<uintptr_t>(moved);
    const uint64_t kept = old_size < size ? old_size : size;
    // The bytes kept still hold the old block's stamp, wherever the block is now.
    if (!stamp_intact(address, old_size, payload, kept)) {
      fail("realloc(" + std::to_string(size) + ") from " + std::to_string(old_size) + " bytes lost the contents");
    }
    live_.erase(payload);
    if (live_.count(address) != 0) fail("realloc returned a live block");
    live_[address] = size;
    stamp(address, size);
  }

  void free(FreeingBumpHeap& heap, uintptr_t payload, unsigned* freed_order) {
    expect_stamp(payload, live_.at(payload), "before free");
    const HeapError error = heap.free(reinterpret_cast<void*>(payload), freed_order);
    if (error != HeapError::kNone) fail(std::string("free of a live block: ") + describe(error));
    live_.erase(payload);
  }

 private:
  // Every block's stamp is its current address: a block that moves is stamped again. The
  // stamp covers the first and the last kStampedEnds bytes whole and one word in every
  // kStampStride bytes between them: a block of a MiB costs a few thousand words.
  static constexpr uint64_t kStampedEnds = 1024;
  static constexpr uint64_t kStampStride = 256;
  static uint64_t word_at(uintptr_t stamp, uint64_t index) {
    return (stamp + index) * 0x9E3779B97F4A7C15ull ^ (index << 29);
  }
  // Calls visit(offset, length) for each stamped piece (a word, or the last bytes) of a block.
  template <class Visitor>
  static bool for_each_stamped(uint64_t size, Visitor visit) {
    for (uint64_t offset = 0; offset < size;) {
      const uint64_t length = size - offset < 8 ? size - offset : 8;
      if (!visit(offset, length)) return false;
      offset += 8;
      if (offset >= kStampedEnds && offset + kStampedEnds < size) {
        const uint64_t next = (offset + kStampStride - 1) / kStampStride * kStampStride;
        offset = next + kStampedEnds < size ? next : (size - kStampedEnds) / 8 * 8;
      }
    }
    return true;
  }
  static void stamp(uintptr_t payload, uint64_t size) {
    for_each_stamped(size, [&](uint64_t offset, uint64_t length) {
      const uint64_t value = word_at(payload, offset / 8);
      memcpy(reinterpret_cast<void*>(payload + offset), &value, static_cast<size_t>(length));
      return true;
    });
  }
  // Whether the stamp of a block of `size` bytes stamped at `stamped_at` is intact at
  // `payload` in its first `kept` bytes.
  static bool stamp_intact(uintptr_t payload, uint64_t size, uintptr_t stamped_at, uint64_t kept) {
    return for_each_stamped(size, [&](uint64_t offset, uint64_t length) {
      if (offset >= kept) return true;
      const uint64_t value = word_at(stamped_at, offset / 8);
      const size_t compared = static_cast<size_t>(kept - offset < length ? kept - offset : length);
      return memcmp(reinterpret_cast<const void*>(payload + offset), &value, compared) == 0;
    });
  }
  static void expect_stamp(uintptr_t payload, uint64_t size, const char* when) {
    if (!stamp_intact(payload, size, payload, size)) {
      char text[96];
      snprintf(text, sizeof text, "the block at 0x%llx (%llu bytes) was written over (%s)",
               static_cast<unsigned long long>(payload), static_cast<unsigned long long>(size), when);
      fail(text);
    }
  }

  // A request that failed must have failed for a reason its arguments give.
  static void expect_refusal(HeapError error, uint64_t size, uint64_t alignment) {
    const bool bad_alignment = alignment == 0 || (alignment & (alignment - 1)) != 0;
    // The core's rule: an over-aligned request takes alignment - 16 bytes more.
    const uint64_t slack = alignment > kPayloadAlignment ? alignment - kPayloadAlignment : 0;
    // Above what a block of some order holds, a source without huge blocks refuses as well.
    const bool too_large = size > kMaxBlockRequest || slack > kMaxBlockRequest - size;
    const bool ok = bad_alignment ? error == HeapError::kBadAlignment
                                  : error == HeapError::kOutOfMemory || (error == HeapError::kTooLarge && too_large);
    if (!ok) {
      fail("a request of " + std::to_string(size) + " bytes (alignment " + std::to_string(alignment) +
           ") failed with: " + describe(error));
    }
  }

  void note(Allocated result, uint64_t size, uint64_t alignment, bool zeroed) {
    if (result.payload() == nullptr) {
      expect_refusal(result.error(), size, alignment);
      return;
    }
    const uintptr_t address = reinterpret_cast<uintptr_t>(result.payload());
    const bool bad_alignment = alignment == 0 || (alignment & (alignment - 1)) != 0;
    if (bad_alignment) fail("an alignment of " + std::to_string(alignment) + " was served");
    if (address % 16 != 0 || address % alignment != 0) {
      fail("a block at " + std::to_string(address) + " for an alignment of " + std::to_string(alignment));
    }
    if (zeroed) {
      const auto* bytes = static_cast<const uint8_t*>(result.payload());
      for (uint64_t i = 0; i < size; ++i) {
        if (bytes[i] != 0) fail("allocate_zeroed(" + std::to_string(size) + "): byte " + std::to_string(i) + " is not 0");
      }
    }
    if (!live_.emplace(address, size).second) fail("a live block was handed out again");
    stamp(address, size);
  }

  LiveBlocks live_;
};

}  // namespace fuzz
}  // namespace freebump

#endif  // FREEBUMP_TESTS_FUZZ_FUZZ_PROGRAM_H_
