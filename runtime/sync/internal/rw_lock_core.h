#ifndef TIDEPOOL_RUNTIME_SYNC_INTERNAL_RW_LOCK_CORE_H_
#define TIDEPOOL_RUNTIME_SYNC_INTERNAL_RW_LOCK_CORE_H_

#include <coroutine>
#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool::internal {

// The untyped state of an RwLock<T> (runtime/sync/rw_lock.h): how many
// readers hold it, whether a writer does, and one FIFO of waiting readers
// and writers. Rules, all applied under mu_:
// - a reader enters if no writer holds the lock and nobody waits (a queued
//   writer, or a reader queued behind one, keeps new readers out: write
//   preference, and FIFO among waiters);
// - a writer enters if nobody holds the lock and nobody waits;
// - on every release or withdrawal the queue is served from its front:
//   consecutive readers enter together, a writer enters alone once the
//   lock is free. The lock is handed over, never left for a barging caller.
// Any thread may call every method; the core must outlive its waiters.
class RwLockCore {
 public:
  enum class Mode { kRead, kWrite };

  RwLockCore() = default;
  RwLockCore(const RwLockCore&) = delete;
  RwLockCore& operator=(const RwLockCore&) = delete;

  // The awaitable of read() and write(). If its task is destroyed while it
  // waits it leaves the queue, and if the lock was already handed to it, it
  // releases it; either way the waiters behind it are served.
  class [[nodiscard]] Acquire : private Waiter {
   public:
    Acquire(RwLockCore* core, Mode mode) : core_(core), mode_(mode) {}
    // Only before it is awaited (timeout() and select() move their
    // awaitable into a task): nothing is queued yet.
    Acquire(Acquire&& other) noexcept
        : Waiter(), core_(other.core_), mode_(other.mode_) {}
    Acquire(const Acquire&) = delete;
    Acquire& operator=(const Acquire&) = delete;
    ~Acquire();

    bool await_ready() { return core_->TryAcquire(mode_); }
    bool await_suspend(std::coroutine_handle<> awaiting);
    void await_resume() { suspended_ = false; }

   private:
    friend class RwLockCore;
    RwLockCore* const core_;
    const Mode mode_;
    // Set under core_->mu_ by whoever hands us the lock, before the wake-up.
    bool granted_ = false;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  bool TryAcquire(Mode mode);
  void Release(Mode mode);

 private:
  bool CanEnterLocked(Mode mode) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnterLocked(Mode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(Mode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the lock to the waiters at the front that may enter now.
  void ServeLocked(WakeList& wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  size_t readers_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_ ABSL_GUARDED_BY(mu_) = false;
  WaitList waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_SYNC_INTERNAL_RW_LOCK_CORE_H_
