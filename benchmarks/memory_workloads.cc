// The A/B harness's memory workloads: the shapes of real programs where an allocator shows
// whether memory a program has freed goes back to the kernel, and what threads that come and
// go cost. Each prints a checksum (workloads.cc explains the rules) and reports what the
// harness cannot see from outside as `ab-metric` lines (workload_support.h).
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmarks/workload_support.h"

namespace freebump {
namespace benchmarks {
namespace {

// ---- trim: small blocks freed, then malloc_trim(0) -------------------------------------------
// 500 MiB of requests of one size, every block written, all freed, then malloc_trim(0): a
// program that has finished a large phase (a parser's tree, a batch of records) and asks for
// its memory to go back. Reports RSS before and after the trim and what trim returned.
uint64_t trim_after_free(size_t block_size, double scale) {
  const size_t count = (static_cast<size_t>(scaled(scale, 500)) << 20) / block_size;
  void** blocks = static_cast<void**>(must(malloc(count * sizeof(void*)), "malloc"));
  Random random(19);
  uint64_t sum = 0;
  for (size_t i = 0; i < count; ++i) {
    blocks[i] = must(malloc(block_size), "malloc");
    stamp(blocks[i], block_size, random.next());
  }
  for (size_t i = 0; i < count; ++i) {
    sum += read_stamp(blocks[i], block_size);
    free(blocks[i]);
  }
  free(blocks);
  report_metric("rss_before_trim_mib", resident_mib());
  report_metric("trim_returned", malloc_trim(0));
  report_metric("rss_after_trim_mib", resident_mib());
  return sum;
}

uint64_t trim_small(double scale) { return trim_after_free(100, scale); }
uint64_t trim_page(double scale) { return trim_after_free(4000, scale); }

// A count that threads wait on until all have arrived (C++17 has no std::barrier).
class Gate {
 public:
  explicit Gate(int expected) : expected_(expected) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (++arrived_ == expected_) {
      opened_.notify_all();
    } else {
      opened_.wait(lock, [this] { return arrived_ == expected_; });
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  int arrived_ = 0;
  const int expected_;
};

// RSS after each round; the climb is the highest of the last half against the highest of
// the first half (1 when memory stays bounded).
void report_rounds(const std::vector<double>& resident) {
  const size_t half = resident.size() / 2;
  const double first = *std::max_element(resident.begin(), resident.begin() + (half > 0 ? half : 1));
  const double last = *std::max_element(resident.begin() + half, resident.end());
  report_metric("rss_first_half_mib", first);
  report_metric("rss_last_half_mib", last);
  report_metric("rss_climb", last / first);
}

// ---- threadchurn: many threads alive at once, their blocks freed by the main thread ----------
// Rounds of 400 threads, all alive together (they meet at a gate), each allocating 64 blocks
// of 16 B..1 KiB (one in eight up to 16 KiB) and handing them to the main thread, which frees
// them after the round: a server that starts a thread per connection.
uint64_t thread_churn(double scale) {
  constexpr int kAlive = 400;
  constexpr int kBlocksPerThread = 64;
  const long rounds = scaled(scale, 50);
  struct Parcel {
    void* blocks[kBlocksPerThread];
    size_t sizes[kBlocksPerThread];
  };
  std::vector<Parcel> parcels(kAlive);
  std::vector<double> resident;
  uint64_t sum = 0;
  for (long round = 0; round < rounds; ++round) {
    Gate gate(kAlive);
    std::vector<std::thread> threads;
    for (int t = 0; t < kAlive; ++t) {
      threads.emplace_back([&, t] {
        Random random(static_cast<uint64_t>(round) * kAlive + t + 1);
        Parcel& parcel = parcels[t];
        for (int i = 0; i < kBlocksPerThread; ++i) {
          parcel.sizes[i] = random.below(8) == 0 ? 16 + random.below(16369) : 16 + random.below(1009);
          parcel.blocks[i] = must(malloc(parcel.sizes[i]), "malloc");
          stamp(parcel.blocks[i], parcel.sizes[i], random.next());
        }
        gate.arrive_and_wait();
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (Parcel& parcel : parcels) {
      for (int i = 0; i < kBlocksPerThread; ++i) {
        sum += read_stamp(parcel.blocks[i], parcel.sizes[i]);
        free(parcel.blocks[i]);
      }
    }
    resident.push_back(resident_mib());
  }
  report_rounds(resident);
  return sum;
}

// ---- shortthreads: threads started one after another, each leaving one object behind ---------
// Two threads alive at a time (each started before the previous one is joined). Each does a
// little work on temporaries and leaves one object in a ring of 16 slots, which the thread 16
// later frees: a program that runs each task on a thread of its own.
uint64_t short_threads(double scale) {
  constexpr int kSlots = 16;
  constexpr int kTemporaries = 32;
  const long count = scaled(scale, 20000);
  struct Slot {
    void* block = nullptr;
    size_t size = 0;
    uint64_t sum = 0;
  };
  std::vector<Slot> slots(kSlots);
  std::thread previous;
  for (long n = 0; n < count; ++n) {
    std::thread current([&slots, n] {
      Random random(static_cast<uint64_t>(n) + 1);
      Slot& slot = slots[n % kSlots];  // threads n - 1 and n never share a slot
      if (slot.block != nullptr) slot.sum += read_stamp(slot.block, slot.size);
      free(slot.block);
      void* temporaries[kTemporaries];
      size_t sizes[kTemporaries];
      for (int i = 0; i < kTemporaries; ++i) {
        sizes[i] = 16 + random.below(1009);
        temporaries[i] = must(malloc(sizes[i]), "malloc");
        stamp(temporaries[i], sizes[i], random.next());
      }
      for (int i = 0; i < kTemporaries; ++i) {
        slot.sum += read_stamp(temporaries[i], sizes[i]);
        free(temporaries[i]);
      }
      slot.size = 16 + random.below(241);
      slot.block = must(malloc(slot.size), "malloc");
      stamp(slot.block, slot.size, random.next());
    });
    if (previous.joinable()) previous.join();
    previous = std::move(current);
  }
  previous.join();
  uint64_t sum = 0;
  for (Slot& slot : slots) {
    if (slot.block != nullptr) sum += read_stamp(slot.block, slot.size);
    free(slot.block);
    sum += slot.sum;
  }
  return sum;
}

// ---- workers: a thread pool whose threads free each other's blocks ---------------------------
// 4 workers, each keeping a working set of 2000 objects of 16 B..2 KiB (one in 16 up to
// 32 KiB) that it replaces at random, and sending a message of 16 B..4 KiB to another worker
// at every other step (in batches of 32, at most 256 waiting per inbox); a worker frees the
// messages it receives.
uint64_t worker_pool(double scale) {
  constexpr int kWorkers = 4;
  constexpr int kWorkingSet = 2000;
  constexpr size_t kBatch = 32;
  constexpr size_t kMaxQueued = 8 * kBatch;
  const long steps = scaled(scale, 2000000);
  struct Message {
    void* block;
    size_t size;
  };
  struct Inbox {
    std::mutex mutex;
    std::vector<Message> messages;
  };
  std::vector<Inbox> inboxes(kWorkers);
  std::vector<uint64_t> sums(kWorkers, 0);
  std::atomic<int> finished_sending{0};
  const auto drain = [&](int worker, uint64_t& sum) {
    std::vector<Message> received;
    {
      std::lock_guard<std::mutex> lock(inboxes[worker].mutex);
      received.swap(inboxes[worker].messages);
    }
    for (const Message& message : received) {
      sum += read_stamp(message.block, message.size);
      free(message.block);
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      Random random(23 + w);
      std::vector<Message> working(kWorkingSet);
      std::vector<Message> outgoing[kWorkers];
      uint64_t sum = 0;
      const auto object_size = [&random] {
        return random.below(16) == 0 ? 16 + random.below(32753) : 16 + random.below(2033);
      };
      for (Message& object : working) {
        object.size = object_size();
        object.block = must(malloc(object.size), "malloc");
        stamp(object.block, object.size, random.next());
      }
      for (long step = 0; step < steps; ++step) {
        Message& object = working[random.below(kWorkingSet)];
        sum += read_stamp(object.block, object.size);
        free(object.block);
        object.size = object_size();
        object.block = must(malloc(object.size), "malloc");
        stamp(object.block, object.size, random.next());
        if (step % 2 == 0) {
          const int to = static_cast<int>((w + 1 + random.below(kWorkers - 1)) % kWorkers);
          Message message{nullptr, 16 + random.below(4081)};
          message.block = must(malloc(message.size), "malloc");
          stamp(message.block, message.size, random.next());
          outgoing[to].push_back(message);
          if (outgoing[to].size() == kBatch) {
            // A full inbox makes the sender wait (draining its own): the messages in flight,
            // and so the memory, do not depend on how the threads happen to be scheduled.
            for (;;) {
              {
                std::lock_guard<std::mutex> lock(inboxes[to].mutex);
                if (inboxes[to].messages.size() < kMaxQueued) {
                  inboxes[to].messages.insert(inboxes[to].messages.end(), outgoing[to].begin(),
                                              outgoing[to].end());
                  break;
                }
              }
              drain(w, sum);
              std::this_thread::yield();
            }
            outgoing[to].clear();
          }
        }
        if (step % 64 == 0) drain(w, sum);
      }
      for (int to = 0; to < kWorkers; ++to) {
        std::lock_guard<std::mutex> lock(inboxes[to].mutex);
        inboxes[to].messages.insert(inboxes[to].messages.end(), outgoing[to].begin(), outgoing[to].end());
      }
      // Others may still wait for room in this worker's inbox: drain until every worker has
      // sent its last message, then once more.
      finished_sending.fetch_add(1);
      while (finished_sending.load() < kWorkers) {
        drain(w, sum);
        std::this_thread::yield();
      }
      drain(w, sum);
      for (Message& object : working) {
        sum += read_stamp(object.block, object.size);
        free(object.block);
      }
      sums[w] = sum;
    });
  }
  for (std::thread& thread : threads) thread.join();
  uint64_t total = 0;
  for (uint64_t sum : sums) total += sum;
  return total;
}

// ---- steady: churn around a live set -----------------------------------------------------------
// About 100 MiB live in blocks of 8 B..1 MiB (each power-of-two range equally likely), one
// replaced at random per step, every page written: a cache or a long-running service at its
// working size, where memory freed now is needed again soon.
uint64_t steady_churn(double scale) {
  constexpr int kSlots = 1100;  // x the mean size (~92 KiB) = ~100 MiB
  const long steps = scaled(scale, 200000);
  struct Slot {
    void* block;
    size_t size;
  };
  Random random(29);
  const auto block_size = [&random] {
    const size_t low = size_t{8} << random.below(17);
    return low + random.below(low);
  };
  std::vector<Slot> slots(kSlots);
  for (Slot& slot : slots) {
    slot.size = block_size();
    slot.block = must(malloc(slot.size), "malloc");
    stamp(slot.block, slot.size, random.next());
  }
  uint64_t sum = 0;
  for (long step = 0; step < steps; ++step) {
    Slot& slot = slots[random.below(kSlots)];
    sum += read_stamp(slot.block, slot.size);
    free(slot.block);
    slot.size = block_size();
    slot.block = must(malloc(slot.size), "malloc");
    stamp(slot.block, slot.size, random.next());
  }
  for (Slot& slot : slots) {
    sum += read_stamp(slot.block, slot.size);
    free(slot.block);
  }
  return sum;
}

// ---- bigreplace: large buffers replaced in a loop ----------------------------------------------
// 20 buffers of 5..25 MiB alive, one replaced at a time by a buffer of a new size, every page
// written: frames of an image pipeline, a cache of decoded files.
uint64_t large_replace(double scale) {
  constexpr int kLive = 20;
  const long steps = scaled(scale, 600);
  struct Buffer {
    void* block = nullptr;
    size_t size = 0;
  };
  Random random(31);
  std::vector<Buffer> buffers(kLive);
  uint64_t sum = 0;
  for (long step = 0; step < steps + kLive; ++step) {
    Buffer& buffer = buffers[step < kLive ? step : random.below(kLive)];
    if (buffer.block != nullptr) sum += read_stamp(buffer.block, buffer.size);
    free(buffer.block);
    buffer.size = (size_t{5} << 20) + random.below(size_t{20} << 20);
    buffer.block = must(malloc(buffer.size), "malloc");
    stamp(buffer.block, buffer.size, random.next());
  }
  for (Buffer& buffer : buffers) {
    sum += read_stamp(buffer.block, buffer.size);
    free(buffer.block);
  }
  return sum;
}

}  // namespace

const Workload kMemoryWorkloads[] = {
    {"trim100", trim_small, "500 MiB of 100 B blocks freed, then malloc_trim(0); RSS after it"},
    {"trim4000", trim_page, "500 MiB of 4000 B blocks freed, then malloc_trim(0); RSS after it"},
    {"threadchurn", thread_churn, "rounds of 400 threads alive at once; main frees their blocks"},
    {"shortthreads", short_threads, "20000 threads one after another, each leaving one object"},
    {"workers", worker_pool, "4 workers with working sets, freeing each other's messages"},
    {"steady", steady_churn, "churn around a 100 MiB live set of 8 B..1 MiB blocks"},
    {"bigreplace", large_replace, "20 live buffers of 5..25 MiB replaced one at a time"},
};
const size_t kMemoryWorkloadCount = sizeof kMemoryWorkloads / sizeof(Workload);

}  // namespace benchmarks
}  // namespace freebump
