// fork() while other threads allocate: the child must be able to allocate, start threads
// and exit cleanly (glibc's tst-mallocfork and tst-malloc-fork-deadlock in spirit).
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

void churn(std::atomic<bool>& stop, unsigned seed) {
  std::vector<void*> blocks(256, nullptr);
  unsigned state = seed;
  while (!stop.load(std::memory_order_relaxed)) {
    state = state * 1103515245u + 12345u;
    void*& slot = blocks[(state >> 8) % blocks.size()];
    free(slot);
    slot = malloc(1 + (state >> 16) % 5000);
  }
  for (void* p : blocks) free(p);
}

// What the child does: allocate in every regime, from a new thread too, then exit.
int child_work() {
  alarm(20);  // a deadlock ends in SIGALRM, not a hung test
  std::vector<void*> blocks;
  for (int i = 0; i < 10000; ++i) blocks.push_back(malloc(1 + i % 3000));
  blocks.push_back(malloc(4 << 20));
  for (void* p : blocks) free(p);
  std::thread helper([] {
    for (int i = 0; i < 10000; ++i) free(malloc(64));
  });
  helper.join();
  return 0;
}

TEST(Fork, ChildAllocatesWhileParentThreadsWereAllocating) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 3; ++t) threads.emplace_back(churn, std::ref(stop), t + 1);
  for (int i = 0; i < 100; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) _exit(child_work());
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "child " << i << " died with signal "
                                   << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ASSERT_EQ(WEXITSTATUS(status), 0);
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
