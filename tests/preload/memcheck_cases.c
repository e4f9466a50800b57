// Programs for //tests/preload:valgrind_test to run under memcheck, with memcheck's own
// allocator and on top of libfreebump. Built against the ordinary C library.
//
// Usage: memcheck_cases bugs          the heap bugs memcheck exists to find: leaks, overruns,
//                                     uses after free, uninitialised reads
//        memcheck_cases double-free   frees a block twice (libfreebump then aborts)
//        memcheck_cases churn         a correct program that frees far more than memcheck's
//                                     quarantine holds; says whether freed blocks came back
//                                     while quarantined and after
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Through a volatile pointer, so that the compiler keeps every access.
static char* volatile sink;

static void leak(size_t size) {
  sink = malloc(size);
  sink[0] = 1;
  sink = NULL;
}

static int bugs(void) {
  leak(1000);  // definitely lost: 1,000 bytes in 1 block
  for (int i = 0; i < 3; ++i) leak(24);  // and 72 bytes in 3 blocks
  char* overrun = malloc(100);
  sink = overrun;
  sink[100] = 1;  // a write just past the end
  int total = sink[104];  // a read a little further
  free(overrun);
  char* exact = malloc(136);  // a size libfreebump holds with no rounding: the next tag follows
  sink = exact;
  sink[136] = 2;
  free(exact);
  char* freed = malloc(64);
  memset(freed, 0, 64);
  free(freed);
  sink = freed;
  total += sink[10];  // a read after free
  sink[5] = 1;  // a write after free
  int* uninitialised = malloc(4 * sizeof(int));
  if (uninitialised[2] > 0) total++;  // a decision on a value never written
  free(uninitialised);
  char* grown = malloc(50);
  memset(grown, 'x', 50);
  grown = realloc(grown, 5000);  // moves: the first 50 bytes stay defined, the rest do not
  if (grown[49] == 'x' && grown[60] == 'y') total++;
  grown = realloc(grown, 20);  // shrinks in place: the rest becomes no-access
  sink = grown;
  total += sink[25];
  free(grown);
  char* huge = malloc(3 << 20);  // a mapping of its own
  sink = huge;
  sink[3 << 20] = 1;
  free(huge);
  printf("bugs done %d\n", total > 1000);
  return 0;
}

static int double_free(void) {
  char* block = malloc(300);
  free(block);
  free(block);
  printf("double free survived\n");
  return 0;
}

// 400 blocks of 1 KiB stay live; 100,000 more (about 100 MB) come and go, each written and
// read back. Under memcheck, a freed block's address must not come back before some 20 MB
// more have been freed (the quarantine), and must come back eventually (it lets go).
static int churn(void) {
  enum { kLive = 400, kRounds = 100000, kBytes = 1000 };
  char* live[kLive] = {0};
  char* first_freed = NULL;
  long reused_at = -1;
  for (long round = 0; round < kRounds; ++round) {
    const int slot = (int)(round % kLive);
    if (live[slot] != NULL) {
      for (int i = 0; i < kBytes; i += 100) {
        if (live[slot][i] != (char)(slot + i)) return 1;
      }
      if (first_freed == NULL) first_freed = live[slot];
      free(live[slot]);
    }
    live[slot] = malloc(kBytes);
    if (live[slot] == NULL) return 2;
    if (live[slot] == first_freed && reused_at < 0) reused_at = round;
    for (int i = 0; i < kBytes; ++i) live[slot][i] = (char)(slot + i);
  }
  for (int slot = 0; slot < kLive; ++slot) free(live[slot]);
  // The first block was freed at round kLive, and 1000 bytes more at each round after it.
  printf("churn done; the first freed block came back %s (%ld frees later)\n",
         reused_at < 0 ? "never" : reused_at - kLive < 19000 ? "within 19 MB of frees" : "after 19 MB of frees",
         reused_at < 0 ? -1 : reused_at - kLive);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "bugs") == 0) return bugs();
  if (argc == 2 && strcmp(argv[1], "double-free") == 0) return double_free();
  if (argc == 2 && strcmp(argv[1], "churn") == 0) return churn();
  return 64;
}
