#ifndef TIDEPOOL_RUNTIME_SYNC_BARRIER_H_
#define TIDEPOOL_RUNTIME_SYNC_BARRIER_H_

// Barrier: lets n tasks wait until all n have reached the same point.
//
// `co_await barrier.wait()` suspends until n tasks (counting this one) have
// called it in the current generation; then all n resume and the barrier
// starts a new generation, so it can be reused for the next round. Exactly
// one of the n, the last to arrive, gets a BarrierWaitResult whose
// is_leader() is true (it does not wait at all).
//
// Cancellation: a task destroyed while waiting (aborted, or its wait()
// raced in timeout() or select()) withdraws its arrival, so the generation
// still needs n live arrivals: it neither completes short of n nor counts
// the dead task. A task destroyed after the generation completed but
// before it ran again changes nothing: the generation is complete.
//
// Any thread may construct and destroy it; co_await wait() only inside a
// tidepool task. The Barrier must outlive its waiters.
//
// Cost: wait() takes an internal lock once and allocates nothing; the
// leader wakes the n - 1 others outside the lock.
//
//   tidepool::Barrier ready(3);
//   tidepool::Task<void> Worker() {
//     Prepare();
//     if ((co_await ready.wait()).is_leader()) Log("all three prepared");
//     Go();
//   }

#include <coroutine>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool {

// What Barrier::wait() yields.
class BarrierWaitResult {
 public:
  explicit BarrierWaitResult(bool leader) : leader_(leader) {}
  // True for exactly one waiter per generation: the one that completed it.
  bool is_leader() const { return leader_; }

 private:
  bool leader_;
};

class Barrier {
 public:
  // Throws std::invalid_argument for n == 0.
  explicit Barrier(size_t n);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // The awaitable returned by wait().
  class [[nodiscard]] Wait : private internal::Waiter {
   public:
    // Only before it is awaited (timeout() moves its awaitable into a
    // task): it has not arrived yet.
    Wait(Wait&& other) noexcept : Waiter(), barrier_(other.barrier_) {}
    Wait(const Wait&) = delete;
    Wait& operator=(const Wait&) = delete;
    ~Wait();

    bool await_ready() { return false; }
    bool await_suspend(std::coroutine_handle<> awaiting);
    BarrierWaitResult await_resume() {
      suspended_ = false;
      return BarrierWaitResult(leader_);
    }

   private:
    friend class Barrier;
    explicit Wait(Barrier* barrier) : barrier_(barrier) {}

    Barrier* const barrier_;
    // Owner-only: set in await_suspend when this arrival completes the
    // generation.
    bool leader_ = false;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: waits for the generation's n-th arrival.
  Wait wait() { return Wait(this); }

  // The number of tasks each generation waits for.
  size_t parties() const { return n_; }

 private:
  const size_t n_;
  internal::Mutex mu_;
  // Tasks waiting in the current generation; the n-th arrival wakes them.
  size_t arrived_ ABSL_GUARDED_BY(mu_) = 0;
  internal::WaitList waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_BARRIER_H_
