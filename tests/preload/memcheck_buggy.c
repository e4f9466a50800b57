// A program with the heap bugs memcheck exists to find, for //tests/preload:valgrind_test to
// run under memcheck with its own allocator and on top of libfreebump. Built against the
// ordinary C library.
//
// Usage: memcheck_buggy bugs          leaks, overruns, uses after free, uninitialised reads
//        memcheck_buggy double-free   frees a block twice (libfreebump then aborts)
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

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "bugs") == 0) return bugs();
  if (argc == 2 && strcmp(argv[1], "double-free") == 0) return double_free();
  return 64;
}
