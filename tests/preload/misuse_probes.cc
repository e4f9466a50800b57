// Misuses of the malloc family and of operator new and delete, one per run: `misuse_probes
// NAME` commits the misuse NAME and, if the allocator lets it go on, prints what the program
// saw as its last line and exits 0. `misuse_probes --list` names every probe.
//
// Built against the ordinary C library, unoptimised and with -fno-builtin, so that every
// call and every stray write stays in the program; misuse_probes_test.sh runs it under each
// flavour of libfreebump and holds the outcome to README.md's table of misuse results.
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <string>

namespace {

// A block's allocation through a pointer the compiler cannot see through, so that no
// mismatched pair is paired up or removed at compile time.
void* (*volatile g_new)(size_t) = [](size_t size) { return ::operator new(size); };
void* (*volatile g_new_array)(size_t) = [](size_t size) { return ::operator new[](size); };
void* (*volatile g_aligned_new)(size_t, std::align_val_t) = [](size_t size, std::align_val_t alignment) {
  return ::operator new(size, alignment);
};
void (*volatile g_delete)(void*) = [](void* pointer) { ::operator delete(pointer); };
void (*volatile g_delete_array)(void*) = [](void* pointer) { ::operator delete[](pointer); };
void (*volatile g_free)(void*) = free;

char g_global[64];

// A block allocated by one function and released by a function of another form.
struct Mismatch {
  const char* name;
  void* (*allocate)();
  void (*release)(void*);
};
const Mismatch kMismatches[] = {
    {"delete-of-new-array", [] { return g_new_array(64); }, [](void* p) { g_delete(p); }},
    {"delete-array-of-new", [] { return g_new(64); }, [](void* p) { g_delete_array(p); }},
    {"free-of-new", [] { return g_new(64); }, [](void* p) { g_free(p); }},
    {"delete-of-malloc", [] { return malloc(64); }, [](void* p) { g_delete(p); }},
    {"delete-of-aligned-new", [] { return g_aligned_new(64, std::align_val_t{64}); }, [](void* p) { g_delete(p); }},
};

int went_on(const char* what) {
  printf("%s\n", what);
  return 0;
}

// Blocks of another size class than the probes' 64 bytes, allocated and freed between a
// free and the misuse: the misused block's list and the allocator's recent past move on.
void churn_other_sizes() {
  for (int round = 0; round < 100; ++round) {
    void* blocks[8];
    for (void*& block : blocks) block = malloc(1000);
    for (void* block : blocks) free(block);
  }
}

// Writes `bytes` bytes of 'A' from `at` on, one at a time (no memset for the compiler to
// reason about).
void scribble(void* at, size_t bytes) {
  volatile char* byte = static_cast<volatile char*>(at);
  for (size_t i = 0; i < bytes; ++i) byte[i] = 'A';
}

// The neighbour above a 64-byte block, overflowed by `bytes` bytes; then the neighbour freed.
int overflow(size_t bytes) {
  char* block = static_cast<char*>(malloc(64));
  char* above = static_cast<char*>(malloc(64));
  const size_t usable = malloc_usable_size(block);
  // The tag of the block above sits right past this one's usable bytes.
  if (block + usable + 8 != above) return went_on("the blocks are not neighbours");
  scribble(block + usable, bytes);
  free(above);
  return went_on("unnoticed");
}

// `bytes` bytes written just below a block's payload (into its header); then the block freed.
int underflow(size_t bytes) {
  char* block = static_cast<char*>(malloc(64));
  scribble(block - bytes, bytes);
  free(block);
  return went_on("unnoticed");
}

int run(const std::string& name) {
  if (name == "double-free-immediate") {
    void* p = malloc(64);
    free(p);
    free(p);
    return went_on("unnoticed");
  }
  if (name == "double-free-delayed") {
    void* p = malloc(64);
    free(p);
    churn_other_sizes();
    free(p);
    return went_on("unnoticed");
  }
  if (name == "double-free-interleaved") {
    void* a = malloc(64);
    void* b = malloc(64);
    free(a);
    free(b);
    free(a);
    return went_on("unnoticed");
  }
  if (name == "invalid-free-stack") {
    char local[64];
    g_free(local + 16);
    return went_on("unnoticed");
  }
  if (name == "invalid-free-global") {
    g_free(g_global + 16);
    return went_on("unnoticed");
  }
  if (name == "invalid-free-unaligned") {
    char* p = static_cast<char*>(malloc(64));
    free(p + 1);
    return went_on("unnoticed");
  }
  if (name == "invalid-free-interior") {
    char* p = static_cast<char*>(malloc(256));
    free(p + 64);
    return went_on("unnoticed");
  }
  if (name == "invalid-free-far-away") {
    // 1 TiB above a block: memory of no one's, which the allocator must not read.
    char* p = static_cast<char*>(malloc(64));
    free(p + (uintptr_t{1} << 40));
    return went_on("unnoticed");
  }
  if (name == "invalid-free-aligned-offset") {
    char* p = static_cast<char*>(aligned_alloc(256, 256));
    free(p + 16);
    return went_on("unnoticed");
  }
  if (name.rfind("overflow-", 0) == 0) return overflow(std::stoul(name.substr(9)));
  if (name.rfind("underflow-", 0) == 0) return underflow(std::stoul(name.substr(10)));
  if (name == "write-after-free-then-reuse") {
    // The freed block written into, then blocks of its size taken (and given back) until it
    // comes back: handed out dirty, or found written at that moment.
    char* p = static_cast<char*>(malloc(64));
    free(p);
    scribble(p, 8);
    for (int i = 0; i < 100000; ++i) {
      char* q = static_cast<char*>(malloc(64));
      if (q == p) return went_on(q[0] == 'A' ? "handed out dirty" : "handed out clean");
      free(q);
    }
    return went_on("never reused");
  }
  if (name == "stale-free-after-reuse") {
    // p freed; the next block of its size goes to a new owner; p freed again.
    void* p = malloc(64);
    free(p);
    void* q = malloc(64);
    free(p);
    void* r = malloc(64);
    return went_on(q == p && r == q ? "the new owner's block freed and handed out twice" : "unnoticed");
  }
  if (name == "impossibly-large-malloc") {
    // Each request beyond any address space: NULL with ENOMEM, every time.
    void* keep = malloc(64);
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, size_t{PTRDIFF_MAX} + 1, size_t{1} << 62};
    for (size_t size : sizes) {
      errno = 0;
      if (malloc(size) != nullptr || errno != ENOMEM) return went_on("malloc served it");
      errno = 0;
      if (calloc(size, 1) != nullptr || errno != ENOMEM) return went_on("calloc served it");
      errno = 0;
      if (realloc(keep, size) != nullptr || errno != ENOMEM) return went_on("realloc served it");
      errno = 0;
      if (aligned_alloc(4096, size) != nullptr || errno != ENOMEM) return went_on("aligned_alloc served it");
    }
    errno = 0;
    if (calloc(SIZE_MAX / 2, 3) != nullptr || errno != ENOMEM) return went_on("calloc overflowed");
    free(keep);
    return went_on("NULL, errno ENOMEM");
  }
  if (name == "impossibly-large-new") {
    try {
      void* p = g_new_array(SIZE_MAX / 2);
      return went_on(p == nullptr ? "NULL" : "served");
    } catch (const std::bad_alloc&) {
      return went_on("std::bad_alloc thrown");
    }
  }
  for (const Mismatch& mismatch : kMismatches) {
    if (name != mismatch.name) continue;
    mismatch.release(mismatch.allocate());
    return went_on("unnoticed");
  }
  fprintf(stderr, "misuse_probes: no probe named %s\n", name.c_str());
  return 2;
}

const char* const kProbes[] = {
    "double-free-immediate", "double-free-delayed", "double-free-interleaved", "invalid-free-stack",
    "invalid-free-global", "invalid-free-unaligned", "invalid-free-interior", "invalid-free-far-away",
    "invalid-free-aligned-offset", "overflow-1..16", "underflow-1..8", "write-after-free-then-reuse",
    "stale-free-after-reuse", "impossibly-large-malloc", "impossibly-large-new", "delete-of-new-array",
    "delete-array-of-new", "free-of-new", "delete-of-malloc", "delete-of-aligned-new",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: misuse_probes NAME | --list\n");
    return 2;
  }
  if (strcmp(argv[1], "--list") == 0) {
    for (const char* probe : kProbes) printf("%s\n", probe);
    return 0;
  }
  return run(argv[1]);
}
