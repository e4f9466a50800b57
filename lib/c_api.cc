#include "lib/c_api.h"

namespace freebump {
namespace {

size_t append(char* out, size_t at, size_t capacity, const char* text) {
  while (*text != '\0' && at + 1 < capacity) out[at++] = *text++;
  return at;
}

}  // namespace

size_t format_corruption_message(char* out, const char* function, HeapError error,
                                 const void* pointer) {
  constexpr size_t kCapacity = kCorruptionMessageBytes;
  size_t at = append(out, 0, kCapacity, "libfreebump: ");
  at = append(out, at, kCapacity, function);
  at = append(out, at, kCapacity, "(): ");
  at = append(out, at, kCapacity, describe(error));
  at = append(out, at, kCapacity, " (pointer 0x");
  char digits[2 * sizeof(uintptr_t) + 1];
  size_t count = 0;
  uintptr_t value = reinterpret_cast<uintptr_t>(pointer);
  do {
    digits[count++] = "0123456789abcdef"[value & 15];
    value >>= 4;
  } while (value != 0);
  while (count > 0 && at + 3 < kCapacity) out[at++] = digits[--count];
  at = append(out, at, kCapacity, ")\n");
  out[at] = '\0';
  return at;
}

}  // namespace freebump
