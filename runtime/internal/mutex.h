#ifndef TIDEPOOL_RUNTIME_INTERNAL_MUTEX_H_
#define TIDEPOOL_RUNTIME_INTERNAL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace tidepool::internal {

// A std::mutex carrying abseil's thread-safety annotations.
//
// Why not absl::Mutex: Debian's libabsl is built without ThreadSanitizer, so
// absl::Mutex synchronises through futexes TSan cannot see and every stress
// test reports false races under --config=tsan. pthread mutexes are
// intercepted by TSan, and the annotations keep clang's -Wthread-safety
// checks. Any thread may use it; lock and unlock cost one uncontended CAS.
class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return mu_.try_lock();
  }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

// The reverse of MutexLock: releases a held mutex for its scope and takes it
// back at the end, so that code which must drop a lock around a wait or a
// call stays checkable by -Wthread-safety. clang recognises the pattern only
// with release_capability on both (abseil has no macro for it); the
// destructor's ends the scope, which the analysis reads as taking back what
// the constructor released.
#if defined(__clang__)
#define TIDEPOOL_RELEASE_CAPABILITY(...) \
  __attribute__((release_capability(__VA_ARGS__)))
#else
#define TIDEPOOL_RELEASE_CAPABILITY(...)
#endif
class ABSL_SCOPED_LOCKABLE MutexUnlock {
 public:
  explicit MutexUnlock(Mutex* mu) TIDEPOOL_RELEASE_CAPABILITY(mu) : mu_(mu) {
    mu_->Unlock();
  }
  ~MutexUnlock() TIDEPOOL_RELEASE_CAPABILITY() { mu_->Lock(); }
  MutexUnlock(const MutexUnlock&) = delete;
  MutexUnlock& operator=(const MutexUnlock&) = delete;

 private:
  Mutex* mu_;
};

// Condition variable for Mutex. Wait() and WaitFor() must be called with the
// mutex held; they return with it held.
class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Returns false on timeout.
  bool WaitFor(Mutex* mu, std::chrono::nanoseconds d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_for(lock, d) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_MUTEX_H_
