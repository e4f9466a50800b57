#include "preload/thread_registry.h"

#include <new>

namespace freebump {

__thread ThreadHeap* tls_thread_heap;

namespace {

constexpr uint64_t kRecordPagesBytes = uint64_t{64} << 10;
// Records start on cache lines of their own, so that threads do not share one.
constexpr uintptr_t kRecordBytes = (sizeof(ThreadHeap) + 63) & ~uintptr_t{63};

}  // namespace

ThreadHeap* ThreadRegistry::take_record() {
  LockGuard guard(lock_);
  if (spares_ != nullptr) {
    ThreadHeap* record = spares_;
    spares_ = record->next_spare;
    return record;
  }
  if (page_end_ - page_next_ < kRecordBytes) {
    void* pages = platform_->map_metadata(kRecordPagesBytes);
    if (pages == nullptr) return nullptr;
    page_next_ = reinterpret_cast<uintptr_t>(pages);
    page_end_ = page_next_ + kRecordPagesBytes;
  }
  ThreadHeap* record = new (reinterpret_cast<void*>(page_next_)) ThreadHeap(source_);
  page_next_ += kRecordBytes;
  record->next_record = records_;
  records_ = record;
  records_made_++;
  return record;
}

void ThreadRegistry::give_back(ThreadHeap* record) {
  LockGuard guard(lock_);
  record->next_spare = spares_;
  spares_ = record;
}

uint64_t ThreadRegistry::records_made() {
  LockGuard guard(lock_);
  return records_made_;
}

}  // namespace freebump
