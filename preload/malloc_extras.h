// glibc's malloc introspection (mallinfo, mallinfo2, malloc_trim, mallopt, malloc_stats)
// answered from libfreebump's own figures, and the FREEBUMP_STATS report at exit.
#ifndef FREEBUMP_PRELOAD_MALLOC_EXTRAS_H_
#define FREEBUMP_PRELOAD_MALLOC_EXTRAS_H_

#include <malloc.h>
#include <stddef.h>

namespace freebump {

struct mallinfo2 process_mallinfo2();
struct mallinfo process_mallinfo();
int process_malloc_trim(size_t pad);
int process_mallopt(int parameter, int value);
// Writes the statistics summary to `fd` in one write (malloc_stats: to stderr; at exit, where
// FREEBUMP_STATS says).
void print_stats_report(int fd);

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_MALLOC_EXTRAS_H_
