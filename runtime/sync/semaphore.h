#ifndef TIDEPOOL_RUNTIME_SYNC_SEMAPHORE_H_
#define TIDEPOOL_RUNTIME_SYNC_SEMAPHORE_H_

// Semaphore: an async counting semaphore with fair (FIFO) waiters.
//
// acquire(n) waits until n permits are free and returns a SemaphorePermit
// that gives them back when destroyed. Waiters are served strictly in
// arrival order: permits freed while the first waiter still needs more are
// assigned to it, never to a later or non-waiting caller, so a large request
// is not starved by a stream of small ones. close() fails every waiter and
// every later acquire with FAILED_PRECONDITION; permits still go back.
//
// Any thread may call try_acquire, add_permits, available_permits, close and
// destroy a permit; co_await acquire() only inside a tidepool task. The
// Semaphore must outlive every task waiting on it and every permit.
//
// Cost: an uncontended acquire is one CAS and allocates nothing; giving
// permits back takes the internal lock once. A waiting acquire costs one
// lock to enqueue and one wake-up.
//
//   tidepool::Semaphore sem(4);  // at most four requests at a time
//   tidepool::Task<void> Fetch() {
//     absl::StatusOr<tidepool::SemaphorePermit> permit =
//         co_await sem.acquire();
//     if (!permit.ok()) co_return;  // closed
//     DoRequest();
//   }  // the permit goes back here

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"
#include "runtime/sync/try_result.h"

namespace tidepool {

class Semaphore;

// Permits taken from a Semaphore; destroying the permit gives them back.
// Move-only. Any thread may destroy it.
class [[nodiscard]] SemaphorePermit {
 public:
  SemaphorePermit(SemaphorePermit&& other) noexcept;
  SemaphorePermit& operator=(SemaphorePermit&& other) noexcept;
  SemaphorePermit(const SemaphorePermit&) = delete;
  SemaphorePermit& operator=(const SemaphorePermit&) = delete;
  ~SemaphorePermit();

  size_t num_permits() const { return permits_; }

  // Keeps the permits out of the semaphore for good.
  void forget() { permits_ = 0; }

 private:
  friend class Semaphore;
  SemaphorePermit(Semaphore* sem, size_t permits)
      : sem_(sem), permits_(permits) {}

  Semaphore* sem_;
  size_t permits_;
};

class Semaphore {
 public:
  // The largest count a semaphore can hold (one bit of the state word flags
  // closing; two more keep additions from overflowing).
  static constexpr size_t kMaxPermits = std::numeric_limits<size_t>::max() >> 3;

  // Throws std::invalid_argument above kMaxPermits.
  explicit Semaphore(size_t permits);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // The awaitable returned by acquire(). If its task is destroyed while it
  // waits, it leaves the queue and returns any permits already assigned to
  // it, so they go to the next waiter.
  class [[nodiscard]] Acquire : private internal::Waiter {
   public:
    Acquire(const Acquire&) = delete;
    Acquire& operator=(const Acquire&) = delete;
    ~Acquire();

    bool await_ready();
    bool await_suspend(std::coroutine_handle<> awaiting);
    absl::StatusOr<SemaphorePermit> await_resume();

   private:
    friend class Semaphore;
    enum class Outcome { kPending, kAcquired, kClosed };

    Acquire(Semaphore* sem, size_t permits) : sem_(sem), needed_(permits) {}

    Semaphore* const sem_;
    const size_t needed_;
    // Permits still missing while queued. Guarded by sem_->mu_ while queued.
    size_t remaining_ = 0;
    // Written by whoever dequeues us (under sem_->mu_) before the wake-up;
    // read by us after resuming, or under the lock in the destructor.
    Outcome outcome_ = Outcome::kPending;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: waits for `permits` permits, in FIFO order with other
  // waiters. Yields the permit, or FAILED_PRECONDITION once closed. Throws
  // std::invalid_argument above kMaxPermits.
  Acquire acquire(size_t permits = 1);

  // Takes `permits` permits if they are free and nobody is queued ahead:
  // kNoPermits if not, kClosed once closed.
  TryResult<SemaphorePermit, TryAcquireError> try_acquire(size_t permits = 1);

  // Adds permits, serving queued waiters first. Throws std::overflow_error
  // if the count would pass kMaxPermits.
  void add_permits(size_t permits);

  // A snapshot: permits neither held nor assigned to a waiter.
  size_t available_permits() const;

  // Fails every queued acquire and every later one. Idempotent.
  void close();
  bool is_closed() const;

 private:
  friend class SemaphorePermit;

  static constexpr size_t kClosed = 1;
  static constexpr size_t kOne = 2;  // one permit in state_

  enum class Taken { kAcquired, kNoPermits, kClosed };

  Taken TryAcquireAll(size_t permits);
  size_t TakeUpTo(size_t permits) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Enqueue(Acquire* waiter, std::coroutine_handle<> awaiting);
  void Cancel(Acquire* waiter);
  void Release(size_t permits);
  void ReleaseLocked(size_t permits, internal::WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Free permits times kOne, plus kClosed. Invariant: while waiters_ is
  // non-empty, the count is zero (released permits go to the waiters
  // first), so the lock-free fast path can never overtake a waiter.
  // Permits are only added under mu_; taking them may happen without it.
  std::atomic<size_t> state_;
  internal::Mutex mu_;
  internal::WaitList waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_SEMAPHORE_H_
