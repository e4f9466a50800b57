// The platform seam: the one way the core reaches memory.
//
// The core makes no OS calls. Each platform (a fixed buffer for tests, Linux mmap, wasm
// memory.grow) implements MemorySource; the heap asks it for more bytes when its bump
// region runs out.
#ifndef FREEBUMP_LIB_MEMORY_SOURCE_H_
#define FREEBUMP_LIB_MEMORY_SOURCE_H_

#include <stdint.h>

namespace freebump {

// [begin, end) handed to the heap; begin == 0 means "no memory".
struct Span {
  uintptr_t begin = 0;
  uintptr_t end = 0;
  constexpr bool empty() const { return begin == end; }
};

class MemorySource {
 public:
  // Hands over at least `min_bytes` more bytes, or an empty span when it cannot (the heap
  // then fails the request and stays usable). A span may start exactly where the previous
  // one ended (the heap keeps bumping through) or further up (someone else took the memory
  // in between, as another memory.grow user on wasm may). Spans never go downwards. The
  // request is 64-bit so that wasm32 callers cannot wrap it.
  virtual Span grow(uint64_t min_bytes) = 0;

  // The address that header-tag offsets and links are measured from: at or below every span.
  // Heaps that exchange blocks must share it.
  virtual uintptr_t base() const = 0;

 protected:
  // Sources are never destroyed through this interface (they are usually globals).
  ~MemorySource() = default;
};

// Serves spans from one caller-provided buffer: for tests, for benchmarks of the core, and
// as the model of a platform. `step` = 0 hands out all that is left at the first request;
// otherwise each request gets min_bytes rounded up to a multiple of `step`, each span
// following the last.
class FixedBufferSource final : public MemorySource {
 public:
  FixedBufferSource(void* buffer, uint64_t bytes, uint64_t step = 0)
      : begin_(reinterpret_cast<uintptr_t>(buffer)),
        end_(reinterpret_cast<uintptr_t>(buffer) + static_cast<uintptr_t>(bytes)),
        next_(reinterpret_cast<uintptr_t>(buffer)),
        step_(step) {}

  Span grow(uint64_t min_bytes) override {
    const uint64_t left = end_ - next_;
    if (min_bytes > left || left == 0) return Span{};
    uint64_t take = left;
    if (step_ != 0) {
      take = (min_bytes + step_ - 1) / step_ * step_;
      if (take > left || take < min_bytes) take = left;
    }
    const Span span{next_, next_ + static_cast<uintptr_t>(take)};
    next_ = span.end;
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
