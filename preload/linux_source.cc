#include "preload/linux_source.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>

namespace freebump {
namespace {

// The reservation: 1 TiB of address space if the process may have it, halving down to
// 1 GiB under an address-space limit (ulimit -v, valgrind). Tag links reach 8 TiB.
constexpr uint64_t kLargestReservation = uint64_t{1} << 40;
constexpr uint64_t kSmallestReservation = uint64_t{1} << 30;
// Heaps get at least this much per grow(), so threads rarely come back for more.
constexpr uint64_t kChunkBytes = uint64_t{64} << 10;
// Commit in steps of this much: fewer mprotect calls; untouched pages still cost nothing.
constexpr uint64_t kCommitStep = uint64_t{4} << 20;

// A cached huge mapping serves a request whole when it is at most this many times as large:
// replacing 5..25 MiB buffers at random then faults in 37 % of the pages that cutting each
// mapping to size did (a simulation of the `bigreplace` workload; max RSS +26 %, as glibc's).
constexpr uint64_t kHugeReuseRatio = 4;

constexpr bool reusable_whole(uint64_t cached, uint64_t length) {
  return cached >= length && cached / kHugeReuseRatio <= length;
}

constexpr uint64_t round_up(uint64_t value, uint64_t step) {
  return (value + step - 1) / step * step;
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

}  // namespace

bool LinuxSource::reserve() {
  LockGuard guard(grow_lock_);
  if (reservation_begin_ != 0) return true;
  ErrnoKeeper keep_errno;
  for (uint64_t size = kLargestReservation; size >= kSmallestReservation; size /= 2) {
    void* at = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (at == MAP_FAILED) continue;
    reservation_begin_ = reinterpret_cast<uintptr_t>(at);
    reservation_end_ = reservation_begin_ + size;
    committed_end_ = next_ = reservation_begin_;
    return true;
  }
  return false;
}

Span LinuxSource::grow(uint64_t min_bytes) {
  LockGuard guard(grow_lock_);
  const uint64_t take = round_up(min_bytes > kChunkBytes ? min_bytes : kChunkBytes, kPageBytes);
  if (reservation_begin_ == 0 || take < min_bytes || take > reservation_end_ - next_) {
    return Span{};
  }
  const uintptr_t end = next_ + static_cast<uintptr_t>(take);
  if (end > committed_end_) {
    ErrnoKeeper keep_errno;
    uint64_t commit = round_up(end - committed_end_, kCommitStep);
    if (commit > reservation_end_ - committed_end_) commit = reservation_end_ - committed_end_;
    if (mprotect(reinterpret_cast<void*>(committed_end_), commit, PROT_READ | PROT_WRITE) != 0) {
      return Span{};  // the commit limit was reached: ENOMEM for this request only
    }
    committed_end_ += static_cast<uintptr_t>(commit);
    LockGuard huge_guard(huge_lock_);
    committed_bytes_ = committed_end_ - reservation_begin_;
    note_mapped_locked();
  }
  const Span span{next_, end};
  next_ = end;
  raise_high_water(end);
  return span;
}

Span LinuxSource::map_huge(uint64_t bytes, bool* zeroed) {
  const uint64_t length = round_up(bytes, kPageBytes);
  if (length < bytes) return Span{};
  Span reused{};
  {
    LockGuard guard(huge_lock_);
    // Room to record the mapping first: a huge block the registry does not know would be
    // refused when freed.
    if (!huge_registry_.reserve_room(*this)) return Span{};
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
    ErrnoKeeper keep_errno;
    void* at = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at != MAP_FAILED) {
      *zeroed = true;
      mapping = Span{reinterpret_cast<uintptr_t>(at), reinterpret_cast<uintptr_t>(at) + static_cast<uintptr_t>(length)};
      LockGuard guard(huge_lock_);
      huge_mapped_bytes_ += length;
      note_mapped_locked();
    }
  }
  LockGuard guard(huge_lock_);
  if (mapping.empty()) {
    huge_registry_.release_room();
  } else {
    huge_registry_.add_live(mapping);
  }
  return mapping;
}

void LinuxSource::unmap_huge(Span mapping) {
  {
    LockGuard guard(huge_lock_);
    huge_registry_.mark_freed(mapping);
  }
  release_mapping(mapping);
}

// A freed mapping (recorded as such) goes to the cache if there is room, else to the kernel.
void LinuxSource::release_mapping(Span mapping) {
  const uint64_t length = mapping.end - mapping.begin;
  {
    LockGuard guard(huge_lock_);
    if (length + huge_cached_bytes_ <= kHugeCacheMaxBytes) {
      for (Span& slot : huge_cache_) {
        if (!slot.empty()) continue;
        slot = mapping;
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
  {
    LockGuard guard(huge_lock_);
    if (!huge_registry_.reserve_room(*this)) return Span{};  // a move records one more
  }
  const Span resized = remap(mapping, bytes);
  LockGuard guard(huge_lock_);
  if (resized.empty()) {
    huge_registry_.release_room();
  } else {
    huge_registry_.resize_live(mapping, resized);
  }
  return resized;
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

uint64_t LinuxSource::drop_huge_cache() {
  Span dropped[kHugeCacheSlots];
  uint64_t released = 0;
  {
    LockGuard guard(huge_lock_);
    for (int slot = 0; slot < kHugeCacheSlots; ++slot) {
      dropped[slot] = huge_cache_[slot];
      huge_cache_[slot] = Span{};
      released += dropped[slot].end - dropped[slot].begin;
    }
    huge_cached_bytes_ = 0;
    huge_mapped_bytes_ -= released;
    returned_bytes_ += released;
  }
  ErrnoKeeper keep_errno;
  for (const Span& mapping : dropped) {
    if (!mapping.empty()) munmap(reinterpret_cast<void*>(mapping.begin), mapping.end - mapping.begin);
  }
  return released;
}

LinuxSourceStats LinuxSource::stats() {
  LockGuard guard(grow_lock_);
  LockGuard huge_guard(huge_lock_);
  return LinuxSourceStats{reservation_end_ - reservation_begin_,
                          committed_end_ - reservation_begin_,
                          next_ - reservation_begin_,
                          huge_mapped_bytes_,
                          huge_cached_bytes_,
                          peak_mapped_,
                          returned_bytes_};
}

void LinuxSource::note_mapped_locked() {
  const uint64_t mapped = committed_bytes_ + huge_mapped_bytes_;
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
