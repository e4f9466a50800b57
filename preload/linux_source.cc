#include "preload/linux_source.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/random.h>
#include <time.h>

#include <initializer_list>

#include <valgrind/memcheck.h>

#include "lib/bits.h"
#include "lib/header_tag.h"

namespace freebump {
namespace {

// The heap is mapped in steps of this much (fewer mmap calls; untouched pages cost nothing but
// address space), or exactly what a request needs when a step cannot be had.
constexpr uint64_t kRangeStep = uint64_t{4} << 20;
// Heaps get at least this much per grow(), so threads rarely come back for more.
constexpr uint64_t kChunkBytes = uint64_t{64} << 10;
// Every range ends below base + kLinkReach (header_tag.h), where tags' links reach.
// The first range is tried at this many random addresses (aligned to kHintAlignment, so that
// the kernel can back the heap with huge pages) before the kernel is let choose.
constexpr int kFirstRangeHints = 4;
constexpr uintptr_t kHintAlignment = uintptr_t{2} << 20;

// A cached huge mapping serves a request whole when it is at most this many times as large:
// replacing 5..25 MiB buffers at random then faults in 37 % of the pages that cutting each
// mapping to size did (a simulation of the `bigreplace` workload; max RSS +26 %, as glibc's).
constexpr uint64_t kHugeReuseRatio = 4;

constexpr bool reusable_whole(uint64_t cached, uint64_t length) {
  return cached >= length && cached / kHugeReuseRatio <= length;
}

// System calls set errno on failure; the malloc family must not change it on success, and
// decides itself what to report on failure.
class ErrnoKeeper {
 public:
  ErrnoKeeper() : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }

 private:
  int saved_;
};

// Random bits from the kernel's pool; from the stack's address and the clock if the pool is
// not ready yet (early boot).
uint64_t secret_bits() {
  uint64_t bits = 0;
  if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof bits)) return bits;
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  bits = reinterpret_cast<uintptr_t>(&now) ^ static_cast<uint64_t>(now.tv_nsec) << 20 ^ static_cast<uint64_t>(now.tv_sec);
  return bits * 0x9E3779B97F4A7C15ull;
}

// Random bits for the first range's address (ASLR for the heap). None where the process runs with address
// randomisation off (setarch -R, gdb): its heap is where it was the last time, as glibc's is.
uint64_t random_bits() {
  const int persona = personality(0xffffffff);
  if (persona != -1 && (persona & ADDR_NO_RANDOMIZE) != 0) return 0;
  return secret_bits();
}

// Under valgrind, heap memory is the allocator's until a block is handed out (valgrind_heap.h):
// no-access to the program. Elsewhere these are a few instructions that do nothing.
void hide_from_program(uintptr_t begin, uint64_t bytes) {
  VALGRIND_MAKE_MEM_NOACCESS(reinterpret_cast<void*>(begin), bytes);
}

}  // namespace

// Maps `bytes` read-write at exactly `at`, never over another mapping: kTaken if something is
// in the way (or the address cannot be had), kNoMemory at an address-space limit.
LinuxSource::MapResult LinuxSource::map_exactly(uintptr_t at, uint64_t bytes) {
  void* mapped = mmap(reinterpret_cast<void*>(at), bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (mapped == MAP_FAILED) return errno == ENOMEM ? MapResult::kNoMemory : MapResult::kTaken;
  if (reinterpret_cast<uintptr_t>(mapped) != at) {
    // A kernel before 4.17 (or valgrind) took the address as a mere hint.
    munmap(mapped, bytes);
    return MapResult::kTaken;
  }
  return MapResult::kMapped;
}

bool LinuxSource::start() {
  LockGuard guard(grow_lock_);
  return start_locked();
}

bool LinuxSource::start_locked() {
  if (range_count_ != 0) return true;
  ErrnoKeeper keep_errno;
#if FREEBUMP_CHECKED
  // Before the first range: no heap exists yet to build its tags' codec from the key.
  // Random even with address randomisation off: a key the attacker can know protects nothing.
  if (tag_key_ == 0) tag_key_ = secret_bits();
#endif
  // Between 1/16 and 1/4 of the way up to the stack (8..32 TiB on x86-64): the kernel maps
  // top-down from below the stack and programs start near the bottom, so nothing else lands
  // here and the heap can grow upwards in one run.
  const uintptr_t top = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const uintptr_t low = top / 16;
  const uintptr_t width = top / 4 - low;
  for (int attempt = 0; attempt < kFirstRangeHints && width >= kHintAlignment; ++attempt) {
    const uintptr_t at = (low + static_cast<uintptr_t>(random_bits() % width)) & ~(kHintAlignment - 1);
    for (const uint64_t bytes : {kRangeStep, kChunkBytes}) {
      const MapResult result = map_exactly(at, bytes);
      if (result == MapResult::kMapped) {
        add_range_locked(at, bytes);
        return true;
      }
      if (result == MapResult::kTaken) break;
    }
  }
  for (const uint64_t bytes : {kRangeStep, kChunkBytes}) {
    void* at = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) continue;
    add_range_locked(reinterpret_cast<uintptr_t>(at), bytes);
    return true;
  }
  return false;
}

Span LinuxSource::grow(uint64_t min_bytes) {
  LockGuard guard(grow_lock_);
  const uint64_t take = round_up(min_bytes > kChunkBytes ? min_bytes : kChunkBytes, kPageBytes);
  if (range_count_ == 0 || take < min_bytes) return Span{};
  if (ranges_[range_count_ - 1].end - next_ < take && !make_room_locked(take)) return Span{};
  const Span span{next_, next_ + static_cast<uintptr_t>(take)};
  next_ = span.end;
  handed_out_bytes_ += take;
  // A heap that grows is past the phase that freed its idle huge blocks (a sort's buffers,
  // say): beyond kMinIdleBytes, what nobody has reused for a moment goes before fresh heap
  // pages are touched.
  const uint64_t now = now_ms();
  if (now >= kHeapGrowthIdleMs) {
    LockGuard huge_guard(huge_lock_);
    release_free_locked(kMinIdleBytes, now - kHeapGrowthIdleMs);
  }
  if (range_count_ == 1) raise_high_water(span.end);
  return span;
}

// Room for `bytes` more in the last range: by extending it, else in a new range above it.
bool LinuxSource::make_room_locked(uint64_t bytes) {
  ErrnoKeeper keep_errno;
  for (int attempt = 0; attempt < 2; ++attempt) {
    MapResult result = extend_range_locked(bytes);
    if (result == MapResult::kTaken) result = open_range_locked(bytes);
    if (result == MapResult::kMapped) return true;
    // At an address-space limit the cached huge mappings count too: they go first.
    if (result != MapResult::kNoMemory || drop_huge_cache() == 0) return false;
  }
  return false;
}

LinuxSource::MapResult LinuxSource::extend_range_locked(uint64_t bytes) {
  Range& range = ranges_[range_count_ - 1];
  const uint64_t shortfall = bytes - (range.end - next_);
  MapResult result = MapResult::kTaken;
  for (const uint64_t step : {kRangeStep, kPageBytes}) {
    const uint64_t extension = round_up(shortfall, step);
    if (range.end + extension - base() > kLinkReach) return MapResult::kTaken;
    result = map_exactly(range.end, extension);
    if (result == MapResult::kMapped) {
      hide_from_program(range.end, extension);
      __atomic_store_n(&range.end, range.end + static_cast<uintptr_t>(extension), __ATOMIC_RELEASE);
      note_heap_mapped_locked(extension);
      return result;
    }
  }
  return result;
}

// Another mapping follows the last range: a new range starts above it, as close as can be
// found (the distance doubling) within reach of the links. What the last range has left
// stays mapped and unused.
LinuxSource::MapResult LinuxSource::open_range_locked(uint64_t bytes) {
  if (range_count_ == kMaxRanges) return MapResult::kTaken;
  const uintptr_t end = ranges_[range_count_ - 1].end;
  for (uint64_t gap = kRangeStep; end + gap + bytes - base() <= kLinkReach; gap *= 2) {
    const uintptr_t at = end + static_cast<uintptr_t>(gap);
    for (const uint64_t length : {round_up(bytes, kRangeStep), bytes}) {
      const MapResult result = map_exactly(at, length);
      if (result == MapResult::kMapped) {
        add_range_locked(at, length);
        return result;
      }
      if (result == MapResult::kNoMemory && length == bytes) return result;
    }
  }
  return MapResult::kTaken;
}

void LinuxSource::add_range_locked(uintptr_t begin, uint64_t bytes) {
  hide_from_program(begin, bytes);
  ranges_[range_count_] = Range{begin, begin + static_cast<uintptr_t>(bytes)};
  next_ = begin;
  __atomic_store_n(&range_count_, range_count_ + 1, __ATOMIC_RELEASE);
  note_heap_mapped_locked(bytes);
}

void LinuxSource::note_heap_mapped_locked(uint64_t bytes) {
  LockGuard huge_guard(huge_lock_);
  heap_mapped_bytes_ += bytes;
  note_mapped_locked();
}

Span LinuxSource::map_huge(uint64_t bytes, bool* zeroed) {
  const uint64_t length = round_up(bytes, kPageBytes);
  // A huge block's tag is measured from the heap's base, which must exist first.
  if (length < bytes || (base() == 0 && !start())) return Span{};
  {
    LockGuard guard(huge_lock_);
    // Room to record the block first: a huge block the registry does not know would be
    // refused when freed.
    if (!huge_registry_.reserve_room(*this)) return Span{};
  }
  const Span block = obtain_huge(length, zeroed);
  if (!block.empty()) hide_from_program(block.begin, block.end - block.begin);
  LockGuard guard(huge_lock_);
  if (block.empty()) {
    huge_registry_.release_room();
  } else {
    huge_registry_.add_live(block);
  }
  return block;
}

// Memory for a huge block of `length` bytes (whole pages): an extent of the arena, or a
// mapping of its own.
Span LinuxSource::obtain_huge(uint64_t length, bool* zeroed) {
  if (length <= kLargestExtent) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      {
        LockGuard guard(huge_lock_);
        if (!arena_.fits(length)) make_way_locked();
        const Span extent = arena_.take(length, now_ms(), zeroed);
        note_mapped_locked();
        if (!extent.empty()) return extent;
      }
      // At an address-space limit the cached mappings and free extents count too: they go
      // first.
      if (drop_huge_cache() == 0) break;
    }
    return Span{};
  }
  Span reused{};
  {
    LockGuard guard(huge_lock_);
    // The smallest cached mapping that fits and is at most kHugeReuseRatio times the request
    // is taken whole: its pages are already faulted in, and cutting it down would only fault
    // them in again for the next, bigger request (glibc's heap keeps such memory too). Else
    // the largest one is resized below: only the difference costs page faults (growing) or
    // goes back to the kernel (shrinking).
    int fit = -1, largest = -1;
    for (int slot = 0; slot < kHugeCacheSlots; ++slot) {
      const uint64_t cached = huge_cache_[slot].end - huge_cache_[slot].begin;
      if (cached == 0) continue;
      if (reusable_whole(cached, length) &&
          (fit < 0 || cached < huge_cache_[fit].end - huge_cache_[fit].begin)) {
        fit = slot;
      }
      if (largest < 0 || cached > huge_cache_[largest].end - huge_cache_[largest].begin) {
        largest = slot;
      }
    }
    const int taken = fit >= 0 ? fit : largest;
    if (taken >= 0) {
      reused = huge_cache_[taken];
      huge_cache_[taken] = Span{};
      huge_cached_bytes_ -= reused.end - reused.begin;
    }
  }
  Span mapping{};
  if (!reused.empty()) {
    *zeroed = false;
    const uint64_t cached = reused.end - reused.begin;
    mapping = reusable_whole(cached, length) ? reused : remap(reused, length);
    if (mapping.empty()) release_mapping(reused);  // could not resize: let it go, and map afresh
  }
  if (mapping.empty()) {
    {
      LockGuard guard(huge_lock_);
      make_way_locked();
    }
    ErrnoKeeper keep_errno;
    void* at = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // At an address-space limit the cached mappings count too: they go first.
    if (at == MAP_FAILED && errno == ENOMEM && drop_huge_cache() != 0) {
      at = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (at != MAP_FAILED) {
      *zeroed = true;
      mapping = Span{reinterpret_cast<uintptr_t>(at), reinterpret_cast<uintptr_t>(at) + static_cast<uintptr_t>(length)};
      LockGuard guard(huge_lock_);
      huge_mapped_bytes_ += length;
      note_mapped_locked();
    }
  }
  return mapping;
}

// Fresh pages replace idle ones: before fresh memory is mapped for a huge block (an arena
// chunk or a mapping), free extents and cached mappings go back to the kernel down to
// 1/kIdleShare of the live huge blocks (or kMinIdleBytes). The peak then follows live memory
// (glibc unmaps each freed mapping), while freed extents that requests fit are still reused
// with no system call and no page fault.
void LinuxSource::make_way_locked() {
  const uint64_t idle = huge_cached_bytes_ + arena_.free_bytes();
  const uint64_t live = huge_mapped_bytes_ + arena_.mapped_bytes() - idle;
  release_free_locked(live / kIdleShare > kMinIdleBytes ? live / kIdleShare : kMinIdleBytes, ~uint64_t{0});
}

// Unmaps free extents and cached mappings freed at or before idle_since_ms, those idle longest
// first (from their ends), until at most `kept` bytes of them are left.
uint64_t LinuxSource::release_free_locked(uint64_t kept, uint64_t idle_since_ms) {
  uint64_t released = 0;
  for (;;) {
    const uint64_t idle = huge_cached_bytes_ + arena_.free_bytes();
    if (idle <= kept) break;
    const uint64_t excess = round_up(idle - kept, kPageBytes);
    int slot = -1;
    for (int i = 0; i < kHugeCacheSlots; ++i) {
      if (!huge_cache_[i].empty() && (slot < 0 || huge_cached_ms_[i] < huge_cached_ms_[slot])) slot = i;
    }
    const uint64_t extent_ms = arena_.oldest_free_ms();
    if (slot < 0 || extent_ms < huge_cached_ms_[slot]) {
      if (extent_ms > idle_since_ms) break;
      released += arena_.release_oldest(excess);
      continue;
    }
    if (huge_cached_ms_[slot] > idle_since_ms) break;
    Span& mapping = huge_cache_[slot];
    const uint64_t tail = excess < mapping.end - mapping.begin ? excess : mapping.end - mapping.begin;
    unmap_pages(Span{mapping.end - static_cast<uintptr_t>(tail), mapping.end});
    mapping.end -= static_cast<uintptr_t>(tail);
    huge_cached_bytes_ -= tail;
    huge_mapped_bytes_ -= tail;
    released += tail;
  }
  returned_bytes_ += released;
  return released;
}

void LinuxSource::unmap_huge(Span mapping) {
  {
    LockGuard guard(huge_lock_);
    huge_registry_.mark_freed(mapping);
  }
  release_huge(mapping);
}

// A freed huge block (recorded as such): an extent back to the arena, a mapping to the cache.
void LinuxSource::release_huge(Span block) {
  if (block.end - block.begin > kLargestExtent) return release_mapping(block);
  LockGuard guard(huge_lock_);
  give_extent_locked(block);
}

void LinuxSource::give_extent_locked(Span extent) {
  const uint64_t mapped = arena_.mapped_bytes();
  arena_.give(extent, now_ms());
  returned_bytes_ += mapped - arena_.mapped_bytes();  // unmapped if it could not be recorded
}

// A freed mapping (recorded as such) goes to the cache if there is room, else to the kernel.
void LinuxSource::release_mapping(Span mapping) {
  const uint64_t length = mapping.end - mapping.begin;
  {
    LockGuard guard(huge_lock_);
    if (length + huge_cached_bytes_ <= kHugeCacheMaxBytes) {
      for (int slot = 0; slot < kHugeCacheSlots; ++slot) {
        if (!huge_cache_[slot].empty()) continue;
        huge_cache_[slot] = mapping;
        huge_cached_ms_[slot] = now_ms();
        huge_cached_bytes_ += length;
        return;
      }
    }
    huge_mapped_bytes_ -= length;
    returned_bytes_ += length;
  }
  ErrnoKeeper keep_errno;
  munmap(reinterpret_cast<void*>(mapping.begin), length);
}

Span LinuxSource::remap_huge(Span mapping, uint64_t bytes) {
  const uint64_t length = round_up(bytes, kPageBytes);
  if (length < bytes) return Span{};
  {
    LockGuard guard(huge_lock_);
    if (!huge_registry_.reserve_room(*this)) return Span{};  // a move records one more
  }
  const Span resized = resize_huge(mapping, length);
  LockGuard guard(huge_lock_);
  if (resized.empty()) {
    huge_registry_.release_room();
  } else {
    huge_registry_.resize_live(mapping, resized);
  }
  return resized;
}

// A mapping stays one (mremap); an extent keeps a tail of less than a quarter (a block grown
// by moving has that much room to grow again), shrinks in place, or grows into the free
// extent after it; else the block moves, into the arena or out of it, by copying, with a
// quarter more room if it grows (so a buffer grown step by step moves a logarithmic number of
// times, as a vector's capacity doubles, and not at every step).
Span LinuxSource::resize_huge(Span block, uint64_t length) {
  const uint64_t old_length = block.end - block.begin;
  if (old_length > kLargestExtent && length > kLargestExtent) return remap(block, length);
  if (old_length <= kLargestExtent && length <= kLargestExtent) {
    LockGuard guard(huge_lock_);
    const Span resized{block.begin, block.begin + static_cast<uintptr_t>(length)};
    if (length <= old_length) {
      if (old_length - length < old_length / kGrowthRoomShare) return block;
      give_extent_locked(Span{resized.end, block.end});
      return resized;
    }
    if (arena_.extend(block, length - old_length)) return resized;
  }
  bool zeroed = false;
  const uint64_t room = length > old_length ? round_up(length / kGrowthRoomShare, kPageBytes) : 0;
  const bool room_stays_extent = length > kLargestExtent || length + room <= kLargestExtent;
  Span moved = obtain_huge(room_stays_extent ? length + room : length, &zeroed);
  if (moved.empty() && room != 0) moved = obtain_huge(length, &zeroed);  // at a limit: no room
  if (moved.empty()) return Span{};
  hide_from_program(moved.begin, moved.end - moved.begin);
  memcpy(reinterpret_cast<void*>(moved.begin), reinterpret_cast<const void*>(block.begin),
         length < old_length ? length : old_length);
  release_huge(block);
  return moved;
}

Span LinuxSource::remap(Span mapping, uint64_t bytes) {
  const uint64_t length = round_up(bytes, kPageBytes);
  const uint64_t old_length = mapping.end - mapping.begin;
  if (length < bytes) return Span{};
  ErrnoKeeper keep_errno;
  void* at = mremap(reinterpret_cast<void*>(mapping.begin), old_length, length, MREMAP_MAYMOVE);
  if (at == MAP_FAILED) return Span{};
  LockGuard guard(huge_lock_);
  huge_mapped_bytes_ += length - old_length;  // modular: shrinking subtracts
  if (length < old_length) returned_bytes_ += old_length - length;
  note_mapped_locked();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(at);
  return Span{begin, begin + static_cast<uintptr_t>(length)};
}

Ownership LinuxSource::owner_of(uintptr_t address, uint64_t bytes) const {
  const int count = __atomic_load_n(&range_count_, __ATOMIC_ACQUIRE);
  for (int i = 0; i < count; ++i) {
    const uintptr_t end = __atomic_load_n(&ranges_[i].end, __ATOMIC_ACQUIRE);
    if (address >= ranges_[i].begin && address < end) {
      return bytes <= end - address ? Ownership::kHeap : Ownership::kNotOurs;
    }
  }
  LockGuard guard(huge_lock_);
  return huge_registry_.find(address, bytes);
}

void* LinuxSource::map_metadata(uint64_t bytes) {
  ErrnoKeeper keep_errno;
  void* at = mmap(nullptr, round_up(bytes, kPageBytes), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return at == MAP_FAILED ? nullptr : at;
}

void LinuxSource::unmap_metadata(void* pages, uint64_t bytes) {
  ErrnoKeeper keep_errno;
  munmap(pages, round_up(bytes, kPageBytes));
}

uint64_t LinuxSource::discard(uintptr_t begin, uintptr_t end) {
  const uintptr_t first = static_cast<uintptr_t>(round_up(begin, kPageBytes));
  const uintptr_t last = end & ~static_cast<uintptr_t>(kPageBytes - 1);
  if (last <= first) return 0;
  ErrnoKeeper keep_errno;
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) return 0;
  LockGuard guard(huge_lock_);
  returned_bytes_ += last - first;
  return last - first;
}

uint64_t LinuxSource::now_ms() {
  // The coarse clock is read from the vDSO without a system call; its tick (1-4 ms) is far
  // finer than the idle times it measures.
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
}

uint64_t LinuxSource::release_idle(uint64_t idle_since_ms) {
  return idle_since_ms == ~uint64_t{0} ? 0 : drop_cached_since(idle_since_ms);
}

uint64_t LinuxSource::drop_cached_since(uint64_t cached_ms) {
  LockGuard guard(huge_lock_);
  return release_free_locked(0, cached_ms);
}

Span LinuxSource::map_pages(uint64_t bytes) {
  ErrnoKeeper keep_errno;
  void* at = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (at == MAP_FAILED) return Span{};
  return Span{reinterpret_cast<uintptr_t>(at), reinterpret_cast<uintptr_t>(at) + static_cast<uintptr_t>(bytes)};
}

void LinuxSource::unmap_pages(Span span) {
  ErrnoKeeper keep_errno;
  munmap(reinterpret_cast<void*>(span.begin), span.end - span.begin);
}

LinuxSourceStats LinuxSource::stats() {
  LockGuard guard(grow_lock_);
  LockGuard huge_guard(huge_lock_);
  return LinuxSourceStats{heap_mapped_bytes_,
                          static_cast<uint64_t>(range_count_),
                          handed_out_bytes_,
                          huge_mapped_bytes_ + arena_.mapped_bytes(),
                          huge_cached_bytes_ + arena_.free_bytes(),
                          peak_mapped_,
                          returned_bytes_};
}

void LinuxSource::note_mapped_locked() {
  const uint64_t mapped = heap_mapped_bytes_ + huge_mapped_bytes_ + arena_.mapped_bytes();
  if (mapped > peak_mapped_) peak_mapped_ = mapped;
}

void LinuxSource::lock_all() {
  grow_lock_.lock();
  huge_lock_.lock();
}

void LinuxSource::unlock_all() {
  huge_lock_.unlock();
  grow_lock_.unlock();
}

}  // namespace freebump
