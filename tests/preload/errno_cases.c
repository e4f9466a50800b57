// Every failure of the malloc family that sets or keeps errno, one line per case: its result
// and errno. //tests/preload:errno_conformance_test runs this under glibc and under
// libfreebump and requires the same lines. Built against the ordinary C library.
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

// Absurd sizes are the point; and a failed realloc leaves its block alive.
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"

// errno is set to this before each call, so that a call that leaves it alone shows.
#define UNTOUCHED 12345

#define POINTER_CASE(name, call)                                                      \
  do {                                                                                \
    errno = UNTOUCHED;                                                                \
    void* result_ = (call);                                                           \
    int errno_ = errno;                                                               \
    printf("%s: %s, errno %d\n", name, result_ != NULL ? "a pointer" : "NULL", errno_); \
    free(result_);                                                                    \
  } while (0)

#define CODE_CASE(name, call)                                                         \
  do {                                                                                \
    errno = UNTOUCHED;                                                                \
    void* out_ = (void*)0x1;                                                          \
    int code_ = (call);                                                               \
    int errno_ = errno;                                                               \
    printf("%s: returns %d, errno %d, *memptr %s\n", name, code_, errno_,             \
           out_ == (void*)0x1 ? "untouched" : "set");                                 \
    if (out_ != (void*)0x1) free(out_);                                               \
  } while (0)

static void absurd_requests(void) {
  void* block = malloc(10);
  POINTER_CASE("malloc(SIZE_MAX)", malloc(SIZE_MAX));
  POINTER_CASE("malloc(PTRDIFF_MAX + 1)", malloc((size_t)PTRDIFF_MAX + 1));
  POINTER_CASE("malloc(2^46)", malloc((size_t)1 << 46));
  POINTER_CASE("calloc(SIZE_MAX / 2, 3)", calloc(SIZE_MAX / 2, 3));
  POINTER_CASE("calloc(1, SIZE_MAX)", calloc(1, SIZE_MAX));
  POINTER_CASE("realloc(NULL, SIZE_MAX)", realloc(NULL, SIZE_MAX));
  errno = UNTOUCHED;
  void* kept = realloc(block, SIZE_MAX);
  printf("realloc(p, SIZE_MAX): %s, errno %d\n", kept != NULL ? "a pointer" : "NULL", errno);
  errno = UNTOUCHED;
  kept = realloc(block, (size_t)PTRDIFF_MAX + 1);
  printf("realloc(p, PTRDIFF_MAX + 1): %s, errno %d\n", kept != NULL ? "a pointer" : "NULL", errno);
  POINTER_CASE("reallocarray(NULL, SIZE_MAX / 2, 3)", reallocarray(NULL, SIZE_MAX / 2, 3));
  errno = UNTOUCHED;
  kept = reallocarray(block, SIZE_MAX / 2, 3);
  printf("reallocarray(p, SIZE_MAX / 2, 3): %s, errno %d\n", kept != NULL ? "a pointer" : "NULL", errno);
  errno = UNTOUCHED;
  kept = realloc(block, 0);
  printf("realloc(p, 0): %s, errno %d\n", kept != NULL ? "a pointer" : "NULL", errno);
  free(kept);

  CODE_CASE("posix_memalign(0, 8)", posix_memalign(&out_, 0, 8));
  CODE_CASE("posix_memalign(4, 8)", posix_memalign(&out_, 4, 8));
  CODE_CASE("posix_memalign(24, 8)", posix_memalign(&out_, 24, 8));
  CODE_CASE("posix_memalign(64, SIZE_MAX - 100)", posix_memalign(&out_, 64, SIZE_MAX - 100));
  CODE_CASE("posix_memalign(64, PTRDIFF_MAX)", posix_memalign(&out_, 64, PTRDIFF_MAX));
  CODE_CASE("posix_memalign(2^62, 8)", posix_memalign(&out_, (size_t)1 << 62, 8));
  CODE_CASE("posix_memalign(2^63, 8)", posix_memalign(&out_, (size_t)1 << 63, 8));

  POINTER_CASE("aligned_alloc(0, 8)", aligned_alloc(0, 8));
  POINTER_CASE("aligned_alloc(3, 8)", aligned_alloc(3, 8));
  POINTER_CASE("aligned_alloc(24, 8)", aligned_alloc(24, 8));
  POINTER_CASE("aligned_alloc(64, SIZE_MAX)", aligned_alloc(64, SIZE_MAX));
  POINTER_CASE("aligned_alloc(2^63, 8)", aligned_alloc((size_t)1 << 63, 8));
  POINTER_CASE("aligned_alloc(2^63 + 1, 8)", aligned_alloc(((size_t)1 << 63) + 1, 8));
  POINTER_CASE("memalign(0, 8)", memalign(0, 8));
  POINTER_CASE("memalign(3, 8)", memalign(3, 8));
  POINTER_CASE("memalign(64, SIZE_MAX)", memalign(64, SIZE_MAX));
  POINTER_CASE("memalign(2^62, 8)", memalign((size_t)1 << 62, 8));
  POINTER_CASE("memalign(2^63, 8)", memalign((size_t)1 << 63, 8));
  POINTER_CASE("memalign(2^63 + 1, 8)", memalign(((size_t)1 << 63) + 1, 8));
  POINTER_CASE("valloc(SIZE_MAX)", valloc(SIZE_MAX));
  POINTER_CASE("valloc(SIZE_MAX - 8192)", valloc(SIZE_MAX - 8192));
  POINTER_CASE("pvalloc(SIZE_MAX)", pvalloc(SIZE_MAX));
  POINTER_CASE("pvalloc(SIZE_MAX - 10000)", pvalloc(SIZE_MAX - 10000));
}

// What succeeds or does nothing leaves errno alone.
static void successes(void) {
  errno = UNTOUCHED;
  free(NULL);
  printf("free(NULL): errno %d\n", errno);
  errno = UNTOUCHED;
  printf("malloc_usable_size(NULL): %zu, errno %d\n", malloc_usable_size(NULL), errno);
  errno = UNTOUCHED;
  void* block = malloc(100);
  block = realloc(block, 1000000);
  block = realloc(block, 10);
  free(block);
  block = malloc(8 << 20);
  free(block);
  printf("malloc, realloc, free: errno %d\n", errno);
}

// Real exhaustion: an address-space limit just above what the process uses now.
static void out_of_memory(void) {
  struct rlimit limit = {256 << 20, 256 << 20};
  FILE* status = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long vm_kib = 0;
  while (status != NULL && fgets(line, sizeof line, status) != NULL) {
    if (sscanf(line, "VmSize: %lu kB", &vm_kib) == 1) break;
  }
  if (status != NULL) fclose(status);
  limit.rlim_cur = limit.rlim_max = ((rlim_t)vm_kib << 10) + (rlim_t)(64 << 20);
  if (vm_kib == 0 || setrlimit(RLIMIT_AS, &limit) != 0) {
    printf("cannot set an address-space limit\n");
    return;
  }
  const size_t too_much = (size_t)512 << 20;
  POINTER_CASE("malloc(512 MiB) over the limit", malloc(too_much));
  POINTER_CASE("calloc(512 MiB) over the limit", calloc(1, too_much));
  POINTER_CASE("memalign(4096, 512 MiB) over the limit", memalign(4096, too_much));
  CODE_CASE("posix_memalign(64, 512 MiB) over the limit", posix_memalign(&out_, 64, too_much));
  void* block = malloc(1000);
  errno = UNTOUCHED;
  void* kept = realloc(block, too_much);
  printf("realloc(p, 512 MiB) over the limit: %s, errno %d\n", kept != NULL ? "a pointer" : "NULL", errno);
  free(kept != NULL ? kept : block);
}

int main(void) {
  absurd_requests();
  successes();
  out_of_memory();
  return 0;
}
