// A user's wasm32-wasi program: ordinary C and C++ that allocates (malloc, std::string,
// std::vector, strdup inside libc), built as a cc_binary that depends on //wasm:malloc.
// It checks that libfreebump, not wasi-libc's dlmalloc, served it, and exits 0.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

int main() {
  std::vector<std::string> words;
  for (int i = 0; i < 1000; ++i) words.push_back("word number " + std::to_string(i));
  char* copy = strdup(words[999].c_str());  // allocated inside wasi-libc
  void* block = malloc(30);
  // libfreebump's size classes: 30 bytes land in the 40-byte order (dlmalloc would say 36).
  const size_t usable = malloc_usable_size(block);
  printf("%s; malloc(30) has %zu usable bytes\n", copy, usable);
  free(copy);
  free(block);
  return usable == 40 && words.size() == 1000 ? 0 : 1;
}
