#ifndef TIDEPOOL_RUNTIME_INTERNAL_MONITOR_H_
#define TIDEPOOL_RUNTIME_INTERNAL_MONITOR_H_

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "runtime/internal/mutex.h"

namespace tidepool::internal {

// A runtime's watchdog thread (Go calls its own sysmon): while any worker
// is awake it calls `scan` every `period`, which looks at the workers from
// outside, the one view that still works when a worker is stuck in a long
// poll (the Scheduler's scan takes a task a stuck worker's LIFO slot holds,
// and marks slow polls). Once `scan` has found every worker asleep for
// `linger`, the monitor sleeps too, until a worker that wakes calls Wake();
// so an idle runtime costs it nothing. The linger spares workers that sleep
// and wake thousands of times a second (a task waiting on the blocking
// pool, a channel's consumer) a futex wake of the monitor at each wake-up.
//
// Cost while awake: one wake-up per period (a few microseconds of CPU and
// one nanosleep call); Stop() is seen within a period.
// Wake() costs one load when the monitor is awake, a lock and a futex wake
// when it sleeps.
class Monitor {
 public:
  using Clock = std::chrono::steady_clock;
  // `scan(now)` runs on the monitor's thread only; it returns whether some
  // worker is awake. Its loads that decide that must be seq_cst (or follow
  // a seq_cst fence): they pair with Wake().
  Monitor(std::chrono::nanoseconds period, std::chrono::nanoseconds linger,
          absl::AnyInvocable<bool(Clock::time_point)> scan);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Starts the thread, named `<thread_name>-m0`. Once.
  absl::Status Start(const std::string& thread_name);
  // Stops and joins the thread; scan() is not called after. Idempotent.
  void Stop();

  // Any thread; a worker calls it after it has marked itself awake with a
  // seq_cst store, so that a monitor about to sleep either sees that worker
  // awake or is woken.
  void Wake() {
    // seq_cst: the worker's store that it is awake, then this load (store
    // buffering); pairs with the store of asleep_ and the scan's loads in
    // Main().
    if (asleep_.load(std::memory_order_seq_cst)) WakeSlow();
  }

 private:
  void Main();
  void WakeSlow();

  const std::chrono::nanoseconds period_;
  const std::chrono::nanoseconds linger_;
  absl::AnyInvocable<bool(Clock::time_point)> scan_;
  std::thread thread_;
  // The monitor has found every worker asleep and is about to wait for, or
  // waits for, Wake(). seq_cst: see Wake().
  std::atomic<bool> asleep_{false};
  Mutex mu_;
  CondVar cv_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_MONITOR_H_
