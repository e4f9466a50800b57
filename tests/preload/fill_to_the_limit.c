// Allocates blocks until malloc fails, frees them all, and does it again: what a program gets
// under an address-space limit (ulimit -v). Prints one line per phase; //tests/preload:
// address_limit_test compares the figures with glibc's at the same limit. A free the allocator
// rejects aborts, so exit status 0 means every free succeeded. Built against the ordinary C
// library.
//
// Usage: fill_to_the_limit BLOCK_BYTES ROUNDS
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

// Blocks are linked through their first word, so that the program needs no array.
static size_t fill(size_t block_bytes, void** list) {
  size_t count = 0;
  for (;;) {
    void** block = malloc(block_bytes);
    if (block == NULL) {
      if (errno != ENOMEM) {
        printf("malloc failed with errno %d, not ENOMEM\n", errno);
        exit(2);
      }
      return count;
    }
    *block = *list;
    *list = block;
    count++;
  }
}

static void free_all(void* list) {
  while (list != NULL) {
    void* next = *(void**)list;
    free(list);
    list = next;
  }
}

int main(int argc, char** argv) {
  if (argc != 3) return 64;
  const size_t block_bytes = strtoul(argv[1], NULL, 10);
  const int rounds = atoi(argv[2]);
  if (block_bytes < sizeof(void*)) return 64;
  // A small and a huge block (above 1 MiB: a mapping of its own) both work and both free.
  void* small = malloc(100);
  void* huge = malloc(2 << 20);
  printf("malloc(100): %s; malloc(2 MiB): %s\n", small != NULL ? "ok" : "NULL", huge != NULL ? "ok" : "NULL");
  free(small);
  free(huge);
  for (int round = 0; round < rounds; ++round) {
    void* list = NULL;
    const size_t count = fill(block_bytes, &list);
    printf("round %d: %zu KiB\n", round, count * block_bytes >> 10);
    fflush(stdout);
    free_all(list);
  }
  return 0;
}
