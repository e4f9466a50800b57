// The allocator a threads test runs on, so that one test source serves two builds: linked
// with the overrides (the whole process on libfreebump, as under LD_PRELOAD) or with the fb_
// names beside the system allocator (so that the sanitizers, which bring their own malloc,
// can check libfreebump's threading layers). Each build links one of the two definitions:
// through_overrides.cc or through_prefixed_names.cc.
#ifndef FREEBUMP_TESTS_PRELOAD_ALLOCATOR_UNDER_TEST_H_
#define FREEBUMP_TESTS_PRELOAD_ALLOCATOR_UNDER_TEST_H_

#include <stddef.h>

namespace freebump {
namespace testing {

void* test_malloc(size_t size);
void test_free(void* pointer);
void* test_realloc(void* pointer, size_t size);
void* test_aligned_alloc(size_t alignment, size_t size);
size_t test_usable_size(void* pointer);
// Bytes of heap memory the allocator has handed out so far (mallinfo2().arena).
size_t test_heap_bytes();

}  // namespace testing
}  // namespace freebump

#endif  // FREEBUMP_TESTS_PRELOAD_ALLOCATOR_UNDER_TEST_H_
