// Beyond Substrate, apart from the exact mode: 16-byte (and larger) alignment for a runtime,
// on top of the exact host allocator, without changing it.
//
// The host allocator aligns to 8 only, and must keep doing so (any change to it changes
// addresses, so consensus). Rust made u128 16-byte aligned, which broke runtimes
// (polkadot-sdk#8818); polkadot-sdk#8891 proposes that the runtime's own allocator aligns what
// it asks the host for. This is that scheme, written for a C++ runtime (or a host that
// simulates one):
// - alignment <= 8: the host's pointer as it is.
// - larger: ask the host for alignment - 8 bytes more, move the pointer up to the alignment,
//   and write the distance moved, in 8-byte units, into the 2 bytes just below the pointer.
// - free: read the 2 bytes below the pointer. A pointer straight from the host has its own
//   header there, whose top 16 bits are always zero (an occupied header is 1 << 32 | order,
//   layout.h), so 0 means "the host's own pointer" and anything else is the distance back.
//   This is what lets a runtime free pointers that the host allocated itself (the host
//   allocates return buffers for the runtime through the same allocator).
// The distance is at least 8 (the host's pointers are 8-aligned), so the 2 bytes lie inside
// the block the host handed out, never in its header. 16 bits of 8-byte units reach 512 KiB,
// which caps the alignment.
//
// What it costs: alignment - 8 more bytes per aligned request, which moves a request into the
// next order when it is within that of a power of two (a 16-aligned request of 9..16 bytes
// takes a 32-byte payload instead of 16).
#ifndef FREEBUMP_SUBSTRATE_RUNTIME_ALIGNMENT_H_
#define FREEBUMP_SUBSTRATE_RUNTIME_ALIGNMENT_H_

#include <stdint.h>

namespace freebump {
namespace substrate {

// `Host` is what the runtime calls and reaches:
//   uint32_t malloc(uint32_t size);       ext_allocator_malloc_version_1 (0: failed)
//   void free(uint32_t pointer);          ext_allocator_free_version_1
//   uint16_t load_u16(uint32_t offset);   the runtime's own memory, little-endian
//   void store_u16(uint32_t offset, uint16_t value);
template <class Host>
class AlignedRuntimeAllocator {
 public:
  static constexpr uint32_t kHostAlignment = 8;
  static constexpr uint32_t kMaxAlignment = uint32_t{1} << 19;

  explicit AlignedRuntimeAllocator(Host& host) : host_(host) {}

  // `size` bytes aligned to `alignment` (a power of two up to kMaxAlignment), or 0 when the
  // alignment is not supported or the host fails.
  uint32_t allocate(uint32_t size, uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment) return 0;
    if (alignment <= kHostAlignment) return host_.malloc(size);
    const uint32_t slack = alignment - kHostAlignment;
    if (size > UINT32_MAX - slack) return 0;
    const uint32_t raw = host_.malloc(size + slack);
    if (raw == 0) return 0;
    const uint32_t aligned = static_cast<uint32_t>((uint64_t{raw} + alignment - 1) & ~uint64_t{alignment - 1});
    if (aligned != raw) host_.store_u16(aligned - 2, static_cast<uint16_t>((aligned - raw) / kHostAlignment));
    return aligned;
  }

  // Frees what allocate() returned, or a pointer the host allocated itself.
  void deallocate(uint32_t pointer) {
    const uint16_t units = host_.load_u16(pointer - 2);
    host_.free(pointer - uint32_t{units} * kHostAlignment);
  }

 private:
  Host& host_;
};

}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_RUNTIME_ALIGNMENT_H_
