/* The loop fast_path.py counts instructions of under callgrind: N pairs of malloc(40) and free
 * through the PLT. Its count for 2N pairs minus its count for N is N pairs' worth, without the
 * program's start-up. Built with the builtins off, so that the pair is not elided. */
#include <stdlib.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  for (long i = 0; i < n; ++i) {
    void* volatile p = malloc(40);
    free(p);
  }
  return 0;
}
