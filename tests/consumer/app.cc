// The program of the scratch workspace that consumer_workspace_test.sh builds for wasm32-wasi
// against @libfreebump//wasm:malloc. It allocates the ways a C++ program does (std::string and
// std::vector through operator new, malloc and realloc, strdup inside wasi-libc) and prints what
// it built. With the argument "double-free" it then frees a block twice: libfreebump says so on
// stderr ("libfreebump: free(): double free") and aborts, and wasi-libc's dlmalloc prints no such
// line, so the test knows whose malloc the program ran on.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 0; i < 1000; ++i) words.push_back("word " + std::to_string(i));
  char* last = strdup(words.back().c_str());
  if (last == nullptr) return 1;

  char* joined = nullptr;
  size_t length = 0;
  for (const std::string& word : words) {
    char* grown = static_cast<char*>(realloc(joined, length + word.size() + 1));
    if (grown == nullptr) return 1;
    joined = grown;
    memcpy(joined + length, word.c_str(), word.size() + 1);
    length += word.size();
  }
  printf("%zu words, %zu bytes joined, the last is '%s'\n", words.size(), length, last);
  free(joined);
  free(last);

  if (argc > 1 && strcmp(argv[1], "double-free") == 0) {
    void* volatile block = malloc(24);  // volatile: the compiler sees two calls, as written
    free(block);
    free(block);
  }
  return 0;
}
