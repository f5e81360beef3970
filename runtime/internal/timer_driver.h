#ifndef TIDEPOOL_RUNTIME_INTERNAL_TIMER_DRIVER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TIMER_DRIVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "runtime/internal/mutex.h"
#include "runtime/internal/timer_wheel.h"

namespace tidepool::internal {

// A runtime's timers: one TimerWheel under a mutex, on a millisecond clock
// that starts with the runtime. There is no timer thread: workers fire due
// timers between polls and before parking, and one parked worker at a time
// (the watcher, see Scheduler::Park) sleeps until the earliest deadline.
// Any thread may call any method.
class TimerDriver {
 public:
  static constexpr uint64_t kNever = UINT64_MAX;

  TimerDriver() : start_(std::chrono::steady_clock::now()) {}

  // Milliseconds since start, rounded down (a deadline is rounded up, so a
  // timer never fires early).
  uint64_t NowMs() const;
  uint64_t DeadlineMs(std::chrono::steady_clock::time_point t) const;
  std::chrono::steady_clock::time_point TimeOf(uint64_t ms) const {
    return start_ + std::chrono::milliseconds(ms);
  }

  // Files `e` (whose waker holds a reference for the driver). Returns true
  // when it became the earliest deadline, so a sleeping watcher must
  // re-arm.
  bool Register(TimerEntry* e);
  // Unfiles `e`. Returns true if it was still pending (the caller then owns
  // the waker's reference again); false if it already fired.
  bool Cancel(TimerEntry* e);
  // Cancel for an entry with an action: when it already fired, waits until
  // its action has returned, so the entry (and what the action touches) may
  // be freed. Returns whether it was still pending.
  bool CancelOrWait(TimerEntry* e);
  // Wakes the tasks, and runs the actions, of every timer due by now.
  // Returns how many.
  size_t FireDue();

  // The earliest deadline, or kNever. seq_cst: part of the store-buffering
  // handshake between Register and a parking watcher: pairs with the store
  // in UpdateNext() and the watcher CAS in Scheduler::PlanSleep().
  uint64_t NextDeadline() const {
    return next_.load(std::memory_order_seq_cst);
  }

 private:
  void UpdateNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::chrono::steady_clock::time_point start_;
  Mutex mu_;
  TimerWheel wheel_ ABSL_GUARDED_BY(mu_);
  // Written under mu_ only (UpdateNext), read without it.
  std::atomic<uint64_t> next_{kNever};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TIMER_DRIVER_H_
