// The benchmarks' pseudo-random numbers (xorshift64*): seeded, the same on every run.
#ifndef FREEBUMP_BENCHMARKS_RANDOM_H_
#define FREEBUMP_BENCHMARKS_RANDOM_H_

#include <stddef.h>
#include <stdint.h>

namespace freebump {
namespace benchmarks {

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull | 1) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, bound).
  uint64_t below(uint64_t bound) { return next() % bound; }
  // Biased small, Talc's way: pick a power-of-two range uniformly, then a size inside it.
  size_t small_biased(unsigned max_exponent) {
    const unsigned exponent = static_cast<unsigned>(below(max_exponent + 1));
    return static_cast<size_t>(1 + below(uint64_t{1} << exponent));
  }

 private:
  uint64_t state_;
};

}  // namespace benchmarks
}  // namespace freebump

#endif  // FREEBUMP_BENCHMARKS_RANDOM_H_
