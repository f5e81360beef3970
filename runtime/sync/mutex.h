#ifndef TIDEPOOL_RUNTIME_SYNC_MUTEX_H_
#define TIDEPOOL_RUNTIME_SYNC_MUTEX_H_

// Mutex<T>: an async mutex that owns the value it protects.
//
// co_await m.lock() suspends the task (never the worker thread) until the
// lock is free and yields a MutexGuard<T>, through which the value is
// reached; the guard unlocks when destroyed. Waiters are served in FIFO
// order and the lock is handed straight to the first of them, so no waiter
// starves and nobody can barge in between. It is a Semaphore with one
// permit, so a task destroyed while waiting leaves the queue cleanly, and
// one destroyed just after being handed the lock passes it on.
//
// Use it when the lock is held across a co_await; for short critical
// sections that never suspend a plain std::mutex is cheaper. Any thread may
// call try_lock and destroy a guard; co_await lock() only inside a tidepool
// task. The Mutex must outlive its waiters and guards.
//
// Cost: an uncontended lock is one CAS, unlock takes an internal lock once;
// nothing is allocated.
//
//   tidepool::Mutex<std::vector<int>> log;
//   tidepool::Task<void> Append(int v) {
//     tidepool::MutexGuard<std::vector<int>> guard = co_await log.lock();
//     guard->push_back(v);
//   }

#include <coroutine>
#include <optional>
#include <utility>

#include "runtime/sync/semaphore.h"

namespace tidepool {

template <typename T>
class Mutex;

// Access to a Mutex's value while it is locked; unlocks when destroyed.
// Move-only; a moved-from guard must not be dereferenced.
template <typename T>
class [[nodiscard]] MutexGuard {
 public:
  MutexGuard(MutexGuard&&) noexcept = default;
  MutexGuard& operator=(MutexGuard&&) noexcept = default;

  T& operator*() const { return *value_; }
  T* operator->() const { return value_; }

 private:
  friend class Mutex<T>;
  MutexGuard(T* value, SemaphorePermit permit)
      : value_(value), permit_(std::move(permit)) {}

  T* value_;
  SemaphorePermit permit_;
};

template <typename T>
class Mutex {
 public:
  // Constructs the protected value from `args`.
  template <typename... Args>
  explicit Mutex(Args&&... args) : value_(std::forward<Args>(args)...) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // The awaitable returned by lock().
  class [[nodiscard]] Lock {
   public:
    bool await_ready() { return acquire_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      return acquire_.await_suspend(awaiting);
    }
    MutexGuard<T> await_resume() {
      // The semaphore is never closed, so the acquire always succeeds.
      return MutexGuard<T>(&mutex_->value_, *acquire_.await_resume());
    }

   private:
    friend class Mutex;
    explicit Lock(Mutex* mutex)
        : mutex_(mutex), acquire_(mutex->permit_.acquire()) {}

    Mutex* mutex_;
    Semaphore::Acquire acquire_;
  };

  // co_await: waits for the lock; yields its guard.
  Lock lock() { return Lock(this); }

  // The guard if the lock is free and nobody waits for it, else nullopt.
  std::optional<MutexGuard<T>> try_lock() {
    TryResult<SemaphorePermit, TryAcquireError> permit = permit_.try_acquire();
    if (!permit.ok()) return std::nullopt;
    return MutexGuard<T>(&value_, *std::move(permit));
  }

 private:
  Semaphore permit_{1};
  T value_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_MUTEX_H_
