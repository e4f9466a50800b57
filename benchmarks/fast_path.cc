// The malloc fast path on its own, for //benchmarks:fast_path (fast_path.py): T threads each
// run `pairs` malloc/free pairs of small sizes (16, 40, 100, 250 bytes in turn), writing a byte
// into each block. Built against the plain C library, so that LD_PRELOAD picks the allocator.
//
// Usage: fast_path THREADS PAIRS     prints "ns_per_pair=<n>" (wall time / pairs per thread)
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <thread>
#include <vector>

namespace {

void run_pairs(long pairs) {
  static const size_t kSizes[] = {16, 40, 100, 250};
  for (long i = 0; i < pairs; ++i) {
    char* volatile block = static_cast<char*>(malloc(kSizes[i & 3]));
    block[0] = 1;
    free(block);
  }
}

double now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s THREADS PAIRS\n", argv[0]);
    return 2;
  }
  const int threads = atoi(argv[1]);
  const long pairs = atol(argv[2]);
  run_pairs(1000);  // the first calls set up the thread's heap: not the fast path
  const double start = now_ns();
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(run_pairs, pairs);
  run_pairs(pairs);
  for (std::thread& worker : workers) worker.join();
  printf("ns_per_pair=%.3f\n", (now_ns() - start) / static_cast<double>(pairs));
  return 0;
}
