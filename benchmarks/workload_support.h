// What every workload of the A/B harness shares (workloads.cc, memory_workloads.cc): stamping
// blocks so that a lost or overwritten block changes the checksum, scaling the work, and
// reporting figures that the harness cannot measure from outside.
#ifndef FREEBUMP_BENCHMARKS_WORKLOAD_SUPPORT_H_
#define FREEBUMP_BENCHMARKS_WORKLOAD_SUPPORT_H_

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchmarks/random.h"

namespace freebump {
namespace benchmarks {

struct Workload {
  const char* name;
  uint64_t (*run)(double scale);  // returns the checksum of what it read back
  const char* what;
};

// The memory workloads (memory_workloads.cc): freed memory given back, threads that come
// and go, steady churn, large buffers replaced.
extern const Workload kMemoryWorkloads[];
extern const size_t kMemoryWorkloadCount;

// Summing (not hashing in sequence) keeps the checksum independent of thread interleaving.
inline uint64_t mix(uint64_t value) {
  value ^= value >> 33;
  value *= 0xFF51AFD7ED558CCDull;
  value ^= value >> 33;
  return value;
}

inline void* must(void* pointer, const char* what) {
  if (pointer == nullptr) {
    fprintf(stderr, "workloads: %s returned NULL\n", what);
    exit(3);
  }
  return pointer;
}

// A block's contents: a stamp in its first and last bytes (up to 8 each), and every 4 KiB
// page touched once so that lazily mapped memory is paid for as a real program would.
inline void stamp(void* block, size_t size, uint64_t value) {
  uint8_t* bytes = static_cast<uint8_t*>(block);
  const size_t head = size < 8 ? size : 8;
  memcpy(bytes, &value, head);
  for (size_t page = 4096; page < size; page += 4096) bytes[page] = static_cast<uint8_t>(value);
  if (size > 8) memcpy(bytes + size - (size - 8 < 8 ? size - 8 : 8), &value, size - 8 < 8 ? size - 8 : 8);
}

// Reads back what stamp() wrote (the first min(size, 8) bytes) as a checksum term.
inline uint64_t read_stamp(const void* block, size_t size) {
  uint64_t value = 0;
  memcpy(&value, block, size < 8 ? size : 8);
  return mix(value + size);
}

inline long scaled(double scale, long amount) {
  const long result = static_cast<long>(static_cast<double>(amount) * scale);
  return result > 0 ? result : 1;
}

// The process's resident memory now, in MiB (/proc/self/statm), or -1 if unreadable.
inline double resident_mib() {
  FILE* statm = fopen("/proc/self/statm", "r");
  if (statm == nullptr) return -1;
  unsigned long size = 0, resident = 0;
  const int read = fscanf(statm, "%lu %lu", &size, &resident);
  fclose(statm);
  return read == 2 ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20)
                   : -1;
}

// A figure for the harness, which reads `ab-metric NAME=VALUE` lines from standard error and
// reports their medians beside time and RSS. Standard output stays the same under every
// allocator (the harness compares it); these figures need not.
inline void report_metric(const char* name, double value) {
  fprintf(stderr, "ab-metric %s=%.3f\n", name, value);
}

}  // namespace benchmarks
}  // namespace freebump

#endif  // FREEBUMP_BENCHMARKS_WORKLOAD_SUPPORT_H_
