// glibc's malloc introspection (mallinfo, mallinfo2, malloc_trim, mallopt, malloc_stats)
// answered from libfreebump's own figures, and the FREEBUMP_STATS=1 report at exit.
#ifndef FREEBUMP_PRELOAD_MALLOC_EXTRAS_H_
#define FREEBUMP_PRELOAD_MALLOC_EXTRAS_H_

#include <malloc.h>
#include <stddef.h>

namespace freebump {

struct mallinfo2 process_mallinfo2();
struct mallinfo process_mallinfo();
int process_malloc_trim(size_t pad);
int process_mallopt(int parameter, int value);
// Writes the statistics summary to stderr (malloc_stats, and at exit with FREEBUMP_STATS=1).
void print_stats_report();

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_MALLOC_EXTRAS_H_
