// The one lock the preload library uses: a pthread mutex, which is constant-initialised
// (ready before any constructor runs), never allocates, and sleeps instead of spinning when
// contended. Locks guard only slow paths: growing, the central pool, the thread registry.
#ifndef FREEBUMP_PRELOAD_LOCK_H_
#define FREEBUMP_PRELOAD_LOCK_H_

#include <pthread.h>

namespace freebump {

class Lock {
 public:
  constexpr Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  void lock() { pthread_mutex_lock(&mutex_); }
  void unlock() { pthread_mutex_unlock(&mutex_); }
  // After fork() the child is single-threaded: its copy of a lock the parent's prepare
  // handler held is released by the thread that holds it, so plain unlock is correct.

 private:
  pthread_mutex_t mutex_ = PTHREAD_MUTEX_INITIALIZER;
};

class LockGuard {
 public:
  explicit LockGuard(Lock& lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Lock& lock_;
};

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_LOCK_H_
