#ifndef TIDEPOOL_RUNTIME_INTERNAL_THREAD_WAITER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_THREAD_WAITER_H_

#include "runtime/internal/futex.h"

namespace tidepool::internal {

// Lets a thread outside the runtime (block_on's caller) sleep until a task
// completes.
//
// A futex word (WakeWord) instead of a mutex and a condition variable:
// with those, Notify() had to signal while holding the mutex (the waiter may
// destroy this object as soon as it can reacquire it), so the woken thread
// immediately blocked on the mutex again, and every block_on paid three
// extra futex calls for that.
class ThreadWaiter {
 public:
  // Any thread, at most once. The waiter may return from Wait() and
  // destroy this object as soon as Notify's exchange is done.
  void Notify() { done_.Notify(); }
  // The owning thread, once. With `spin` (Scheduler::may_spin()), polls
  // for up to kBlockOnSpin before it sleeps, unless this thread's recent
  // spins missed (SpinBackoff).
  void Wait(bool spin);
  // The owning thread, polling instead of waiting: whether Notify() came.
  bool Notified() const { return done_.Notified(); }

 private:
  WakeWord done_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_THREAD_WAITER_H_
