#ifndef TIDEPOOL_RUNTIME_SYNC_RW_LOCK_H_
#define TIDEPOOL_RUNTIME_SYNC_RW_LOCK_H_

// RwLock<T>: an async reader-writer lock that owns the value it protects.
//
// co_await lock.read() yields an RwLockReadGuard<T> (const access; any
// number of readers at once), co_await lock.write() an RwLockWriteGuard<T>
// (exclusive, mutable access); each releases the lock when destroyed. Both
// suspend the task, never the worker thread.
//
// Fair and write-preferring: waiters form one FIFO queue. A reader that
// arrives while anyone waits (a writer, or a reader queued behind one)
// queues too, so a stream of readers cannot starve a writer; when the lock
// frees up, the front of the queue gets it: a writer alone, or every
// consecutive reader at the front together. The lock is handed straight to
// them, so nobody can barge in between. try_read() and try_write() succeed
// only when they could enter without waiting under the same rules.
//
// Cancellation: a task destroyed while waiting (aborted, or its read() raced
// in timeout() or select()) leaves the queue, and readers queued behind a
// writer that leaves are let in at once; one destroyed just after being
// handed the lock releases it to the next waiters. Nothing is lost.
//
// Use it when a guard is held across a co_await; for short sections that
// never suspend a std::shared_mutex is cheaper. Any thread may call
// try_read, try_write and destroy a guard; co_await read()/write() only
// inside a tidepool task. A task must not wait for a lock it holds (a
// writer waiting for read() deadlocks, as does a reader waiting for
// write(), or a reader waiting for read() behind a queued writer). The
// RwLock must outlive its waiters and guards.
//
// Cost: each acquire and each release takes an internal lock once; a
// waiting acquire adds one wake-up. Nothing is allocated.
//
//   tidepool::RwLock<std::map<std::string, int>> table;
//   tidepool::Task<int> Lookup(std::string key) {
//     auto r = co_await table.read();
//     co_return r->at(key);
//   }
//   tidepool::Task<void> Store(std::string key, int v) {
//     auto w = co_await table.write();
//     (*w)[key] = v;
//   }

#include <coroutine>
#include <optional>
#include <utility>

#include "runtime/sync/internal/rw_lock_core.h"

namespace tidepool {

template <typename T>
class RwLock;

// Shared, read-only access to an RwLock's value; releases its read lock
// when destroyed. Move-only; a moved-from guard must not be dereferenced.
template <typename T>
class [[nodiscard]] RwLockReadGuard {
 public:
  RwLockReadGuard(RwLockReadGuard&& other) noexcept
      : core_(std::exchange(other.core_, nullptr)), value_(other.value_) {}
  RwLockReadGuard& operator=(RwLockReadGuard&& other) noexcept {
    if (this != &other) {
      Reset();
      core_ = std::exchange(other.core_, nullptr);
      value_ = other.value_;
    }
    return *this;
  }
  RwLockReadGuard(const RwLockReadGuard&) = delete;
  RwLockReadGuard& operator=(const RwLockReadGuard&) = delete;
  ~RwLockReadGuard() { Reset(); }

  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_; }

 private:
  friend class RwLock<T>;
  RwLockReadGuard(internal::RwLockCore* core, const T* value)
      : core_(core), value_(value) {}
  void Reset() {
    if (core_) {
      std::exchange(core_, nullptr)->Release(internal::RwLockCore::Mode::kRead);
    }
  }

  internal::RwLockCore* core_;
  const T* value_;
};

// Exclusive access to an RwLock's value; releases the write lock when
// destroyed. Move-only; a moved-from guard must not be dereferenced.
template <typename T>
class [[nodiscard]] RwLockWriteGuard {
 public:
  RwLockWriteGuard(RwLockWriteGuard&& other) noexcept
      : core_(std::exchange(other.core_, nullptr)), value_(other.value_) {}
  RwLockWriteGuard& operator=(RwLockWriteGuard&& other) noexcept {
    if (this != &other) {
      Reset();
      core_ = std::exchange(other.core_, nullptr);
      value_ = other.value_;
    }
    return *this;
  }
  RwLockWriteGuard(const RwLockWriteGuard&) = delete;
  RwLockWriteGuard& operator=(const RwLockWriteGuard&) = delete;
  ~RwLockWriteGuard() { Reset(); }

  T& operator*() const { return *value_; }
  T* operator->() const { return value_; }

 private:
  friend class RwLock<T>;
  RwLockWriteGuard(internal::RwLockCore* core, T* value)
      : core_(core), value_(value) {}
  void Reset() {
    if (core_) {
      std::exchange(core_, nullptr)
          ->Release(internal::RwLockCore::Mode::kWrite);
    }
  }

  internal::RwLockCore* core_;
  T* value_;
};

template <typename T>
class RwLock {
 public:
  // Constructs the protected value from `args`.
  template <typename... Args>
  explicit RwLock(Args&&... args) : value_(std::forward<Args>(args)...) {}
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  // The awaitable returned by read().
  class [[nodiscard]] Read {
   public:
    bool await_ready() { return acquire_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      return acquire_.await_suspend(awaiting);
    }
    RwLockReadGuard<T> await_resume() {
      acquire_.await_resume();
      return RwLockReadGuard<T>(&lock_->core_, &lock_->value_);
    }

   private:
    friend class RwLock;
    explicit Read(RwLock* lock)
        : lock_(lock),
          acquire_(&lock->core_, internal::RwLockCore::Mode::kRead) {}

    RwLock* lock_;
    internal::RwLockCore::Acquire acquire_;
  };

  // The awaitable returned by write().
  class [[nodiscard]] Write {
   public:
    bool await_ready() { return acquire_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      return acquire_.await_suspend(awaiting);
    }
    RwLockWriteGuard<T> await_resume() {
      acquire_.await_resume();
      return RwLockWriteGuard<T>(&lock_->core_, &lock_->value_);
    }

   private:
    friend class RwLock;
    explicit Write(RwLock* lock)
        : lock_(lock),
          acquire_(&lock->core_, internal::RwLockCore::Mode::kWrite) {}

    RwLock* lock_;
    internal::RwLockCore::Acquire acquire_;
  };

  // co_await: waits for shared access; yields its guard.
  Read read() { return Read(this); }
  // co_await: waits for exclusive access; yields its guard.
  Write write() { return Write(this); }

  // The read guard if a reader may enter now (no writer holds the lock and
  // nobody waits), else nullopt.
  std::optional<RwLockReadGuard<T>> try_read() {
    if (!core_.TryAcquire(internal::RwLockCore::Mode::kRead)) {
      return std::nullopt;
    }
    return RwLockReadGuard<T>(&core_, &value_);
  }

  // The write guard if the lock is free and nobody waits, else nullopt.
  std::optional<RwLockWriteGuard<T>> try_write() {
    if (!core_.TryAcquire(internal::RwLockCore::Mode::kWrite)) {
      return std::nullopt;
    }
    return RwLockWriteGuard<T>(&core_, &value_);
  }

 private:
  internal::RwLockCore core_;
  T value_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_RW_LOCK_H_
