// The platform seam: the one way the core reaches memory.
//
// The core makes no OS calls. Each platform (a fixed buffer for tests, Linux mmap, wasm
// memory.grow) implements MemorySource; the heap asks it for more bytes when its bump
// region runs out.
#ifndef FREEBUMP_LIB_MEMORY_SOURCE_H_
#define FREEBUMP_LIB_MEMORY_SOURCE_H_

#include <stdint.h>

#include "lib/bits.h"
#include "lib/flavour.h"

namespace freebump {

// [begin, end) handed to the heap; begin == 0 means "no memory".
struct Span {
  uintptr_t begin = 0;
  uintptr_t end = 0;
  // Memory that was in use before (free blocks merged and handed back out, see
  // FreeingBumpHeap::take_free_region): not zero, and it may lie below earlier spans.
  bool recycled = false;
  constexpr bool empty() const { return begin == end; }
};

// What a source's own memory outside [base(), high_water()) holds at an address (see
// MemorySource::owner_of).
enum class Ownership : uint8_t {
  kNotOurs,    // nothing of this source's: the heap must not read it
  kHeap,       // heap memory in a range of the source's that does not follow the first run
  kLiveHuge,   // inside a huge block's mapping, in use
  kFreedHuge,  // inside a huge block's mapping that has been freed (it may be unmapped now)
};

class MemorySource {
 public:
  // Hands over at least `min_bytes` more bytes, or an empty span when it cannot (the heap
  // then fails the request and stays usable). A span may start exactly where the previous
  // one ended (the heap keeps bumping through) or further up (someone else took the memory
  // in between, as another memory.grow user on wasm may, or another thread's heap). Spans
  // never go downwards. The request is 64-bit so that wasm32 callers cannot wrap it. A
  // source shared by several heaps must make this thread-safe.
  virtual Span grow(uint64_t min_bytes) = 0;

  // The address that header-tag offsets and links are measured from: at or below every span.
  // Heaps that exchange blocks must share it.
  virtual uintptr_t base() const = 0;

  // Huge blocks: requests above huge_threshold() get a mapping of their own (at least
  // `bytes`, page-aligned, a whole number of header_tag.h's kHugeUnitBytes long: a HUGE tag
  // counts its length in them). Only sources that set a threshold need these; `*zeroed` says
  // whether the mapping is known to be all zeroes.
  virtual Span map_huge(uint64_t bytes, bool* zeroed) {
    (void)bytes;
    *zeroed = false;
    return Span{};
  }
  virtual void unmap_huge(Span mapping) { (void)mapping; }
  // Resizes a mapping, moving it if need be; an empty span leaves the old one intact.
  virtual Span remap_huge(Span mapping, uint64_t bytes) {
    (void)mapping;
    (void)bytes;
    return Span{};
  }

  // Where the `bytes` at `address` lie among the source's own memory outside [base(),
  // high_water()), asked before the heap reads a pointer's tag there: a source that hands out
  // huge blocks must know them (and the ones freed, at least recently, so that a second free
  // is a double free), and one whose heap memory could not stay in one run names its other
  // ranges. Answering kNotOurs for everything (the default) is right for a source that has
  // neither. Thread-safe.
  virtual Ownership owner_of(uintptr_t address, uint64_t bytes) const {
    (void)address;
    (void)bytes;
    return Ownership::kNotOurs;
  }

#if FREEBUMP_CHECKED
  // The checked flavour's secret key in the tag check of every heap on this source
  // (header_tag.h): a source that has a random source of its platform answers a per-process
  // random value, the same for as long as the process lives.
  virtual uint64_t tag_key() const { return 0; }
#endif

  // The huge threshold of a source without huge blocks (every request is a heap block);
  // public, as a source may pass it on to the sources stacked on it (the central pool).
  static constexpr uint64_t kNoHugeBlocks = ~uint64_t{0};
  // Requests above this many bytes become huge blocks.
  uint64_t huge_threshold() const { return huge_threshold_; }
  // Whether grow() hands out memory that was never written (fresh pages are zero), so that
  // calloc can skip clearing it.
  bool spans_are_zeroed() const { return spans_are_zeroed_; }
  // One past the highest byte this source handed out through grow() in its first run of
  // memory: everything from base() up to it can be read. The heap checks a pointer against it
  // before anything else; memory beyond it is the source's only where owner_of() says so.
  uintptr_t high_water() const { return __atomic_load_n(&high_water_, __ATOMIC_ACQUIRE); }

 protected:
  constexpr MemorySource(uint64_t huge_threshold, bool spans_are_zeroed)
      : huge_threshold_(huge_threshold), spans_are_zeroed_(spans_are_zeroed) {}
  // Sources are never destroyed through this interface (they are usually globals).
  ~MemorySource() = default;

  // Sources call this as they hand out a span (under their own lock if they have one).
  void raise_high_water(uintptr_t end) {
    if (end > high_water_) __atomic_store_n(&high_water_, end, __ATOMIC_RELEASE);
  }

 private:
  uint64_t huge_threshold_;
  bool spans_are_zeroed_;
  uintptr_t high_water_ = 0;
};

// Serves spans from one caller-provided buffer: for tests, for benchmarks of the core, and
// as the model of a platform. `step` = 0 hands out all that is left at the first request;
// otherwise each request gets min_bytes rounded up to a multiple of `step`, each span
// following the last.
class FixedBufferSource final : public MemorySource {
 public:
  FixedBufferSource(void* buffer, uint64_t bytes, uint64_t step = 0)
      : MemorySource(kNoHugeBlocks, false),
        begin_(reinterpret_cast<uintptr_t>(buffer)),
        end_(reinterpret_cast<uintptr_t>(buffer) + static_cast<uintptr_t>(bytes)),
        next_(reinterpret_cast<uintptr_t>(buffer)),
        step_(step) {}

  Span grow(uint64_t min_bytes) override {
    const uint64_t left = end_ - next_;
    if (min_bytes > left || left == 0) return Span{};
    uint64_t take = left;
    if (step_ != 0) {
      take = round_up(min_bytes, step_);
      if (take > left || take < min_bytes) take = left;
    }
    const Span span{next_, next_ + static_cast<uintptr_t>(take)};
    next_ = span.end;
    raise_high_water(span.end);
    return span;
  }

  uintptr_t base() const override { return begin_; }
  uint64_t bytes_handed_out() const { return next_ - begin_; }

 private:
  uintptr_t begin_;
  uintptr_t end_;
  uintptr_t next_;
  uint64_t step_;
};

}  // namespace freebump

#endif  // FREEBUMP_LIB_MEMORY_SOURCE_H_
