// A multi-threaded program of our own for end-to-end runs under LD_PRELOAD: threads build
// maps, strings and vectors, hand objects to each other through a queue (so they are freed
// by another thread), and print a checksum that must not depend on the allocator.
//
// Usage: mt_workload [threads] [operations per thread]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Parcel {
  std::string text;
  std::vector<uint64_t> numbers;
};

class Queue {
 public:
  void push(std::unique_ptr<Parcel> parcel) {
    std::lock_guard<std::mutex> guard(mutex_);
    parcels_.push_back(std::move(parcel));
    ready_.notify_one();
  }
  std::unique_ptr<Parcel> pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return !parcels_.empty(); });
    std::unique_ptr<Parcel> parcel = std::move(parcels_.front());
    parcels_.pop_front();
    return parcel;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Parcel>> parcels_;
};

uint64_t digest(uint64_t hash, uint64_t value) { return (hash ^ value) * 0x100000001B3ull; }

// Builds and tears down containers; sends every parcel it makes to `out` and checks every
// parcel it receives from `in`. Returns a digest of what it saw.
uint64_t work(unsigned seed, long operations, Queue& out, Queue& in) {
  uint64_t state = seed, hash = 0xCBF29CE484222325ull;
  std::map<uint64_t, std::string> map;
  for (long i = 0; i < operations; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t r = state >> 24;
    if (r % 3 == 0) {
      map[r % 5000] = std::string(1 + r % 200, static_cast<char>('a' + r % 26));
    } else if (r % 3 == 1) {
      map.erase(r % 5000);
    }
    if (i % 8 == 0) {
      auto parcel = std::make_unique<Parcel>();
      parcel->text = std::to_string(r);
      parcel->numbers.assign(1 + r % 500, r);
      out.push(std::move(parcel));
      std::unique_ptr<Parcel> received = in.pop();
      hash = digest(hash, received->numbers.size() * received->numbers.back());
      hash = digest(hash, std::stoull(received->text));
    }
  }
  for (const auto& entry : map) hash = digest(hash, entry.first * entry.second.size());
  return hash;
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned threads = argc > 1 ? static_cast<unsigned>(atoi(argv[1])) : 4;
  const long operations = argc > 2 ? atol(argv[2]) : 400000;
  if (threads < 2 || operations < 1) {
    fprintf(stderr, "usage: %s [threads >= 2] [operations >= 1]\n", argv[0]);
    return 2;
  }
  // A ring: thread t sends to t + 1 and receives from t - 1.
  std::vector<Queue> queues(threads);
  std::vector<uint64_t> results(threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      results[t] = work(t + 1, operations, queues[(t + 1) % threads], queues[t]);
    });
  }
  for (std::thread& worker : workers) worker.join();
  uint64_t total = 0;
  for (uint64_t result : results) total ^= result;
  printf("mt_workload: %u threads x %ld operations, checksum %016llx\n", threads, operations,
         static_cast<unsigned long long>(total));
  return 0;
}
