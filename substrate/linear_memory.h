// The seam between the Substrate-compatible allocator and a host: the wasm instance's linear
// memory, as the host sees it from outside.
//
// sc-allocator runs on the host and manages memory that is not its own address space: offsets
// into an instance's memory, reached through the engine (wasmtime, wasmer, WAVM, an
// interpreter). A host implements this interface over its engine's memory object; the
// allocator asks it for the size, asks it to grow, and reads and writes the 8-byte headers
// through it. It never keeps a pointer into the memory, so an engine may move the memory when
// it grows.
#ifndef FREEBUMP_SUBSTRATE_LINEAR_MEMORY_H_
#define FREEBUMP_SUBSTRATE_LINEAR_MEMORY_H_

#include <stdint.h>

namespace freebump {
namespace substrate {

// A wasm page, the unit a memory grows by.
inline constexpr uint32_t kPageBytes = 65536;
// 4 GiB / 64 KiB: the most pages a wasm32 memory can have, and the limit a memory without a
// declared maximum grows to.
inline constexpr uint32_t kMaxWasmPages = 65536;

class LinearMemory {
 public:
  // The memory's current size in pages. The allocator counts on it never shrinking (it
  // reports kMemoryShrank when it does).
  virtual uint32_t pages() const = 0;
  // The instance's declared maximum, at most kMaxWasmPages and at least pages(); a memory
  // without a declared maximum keeps this default.
  virtual uint32_t max_pages() const { return kMaxWasmPages; }
  // Grows the memory by `additional_pages`; false when the engine refuses (the allocator then
  // reports kAllocatorOutOfSpace).
  virtual bool grow(uint32_t additional_pages) = 0;
  // How many bytes from offset 0 read() and write() can reach. For an engine's memory this is
  // pages() * kPageBytes, the default; sc-allocator's Memory trait lets the two differ (its
  // bounds checks use the byte slice, its growth rule the pages), and so does this interface,
  // so that a host whose view is shorter gets sc-allocator's out-of-bounds errors.
  virtual uint64_t byte_length() const { return uint64_t{pages()} * kPageBytes; }
  // Copy bytes out of and into the memory. The allocator calls them only for ranges inside
  // [0, byte_length()).
  virtual void read(uint32_t offset, void* into, uint32_t bytes) const = 0;
  virtual void write(uint32_t offset, const void* from, uint32_t bytes) = 0;

 protected:
  // Not owned or deleted through this interface.
  ~LinearMemory() = default;
};

}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_LINEAR_MEMORY_H_
