#ifndef TIDEPOOL_RUNTIME_INTERNAL_MONITOR_H_
#define TIDEPOOL_RUNTIME_INTERNAL_MONITOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace tidepool::internal {

// A runtime's watchdog thread (Go calls its own sysmon): while any worker
// is awake it calls `scan`, which looks at the workers from outside, the
// one view that still works when a worker is stuck in a long poll (the
// Scheduler's scan takes a task a stuck worker's LIFO slot holds, and marks
// slow polls).
//
// Three paces:
// - fast: a scan every `fast_period`, while a scan asks to look again soon
//   (Look::watching: a task waits in the LIFO slot of a worker inside a
//   poll) and for a few periods after;
// - relaxed: a scan every `relaxed_period` otherwise, until a worker calls
//   Hurry() because it put a task in its LIFO slot during a poll;
// - asleep: once scans have found every worker asleep for `linger`, no
//   scan until a worker that wakes calls Wake(); so an idle runtime costs
//   the monitor nothing. The linger spares workers that sleep and wake
//   thousands of times a second (a task waiting on the blocking pool, a
//   channel's consumer) a futex wake of the monitor at each wake-up.
// A busy runtime whose tasks do not wake each other inside their polls (an
// I/O-bound server: its wakes come from reaped completions, between polls)
// thus pays a relaxed scan, not a fast one.
//
// Cost: one wake-up per period (a few microseconds of CPU, one nanosleep or
// futex call); going from fast to relaxed, one HeavyFence(). Wake() and
// Hurry() cost one load when they have nothing to do, a compare-exchange
// and a futex wake when they do. Stop() is seen within a period.
class Monitor {
 public:
  using Clock = std::chrono::steady_clock;
  // Fast scans in a row that asked for no watch before the monitor relaxes:
  // a task that wakes or spawns another inside its polls every few periods
  // keeps the fast pace without a Hurry() and a HeavyFence() each time.
  static constexpr int kQuietScans = 8;
  struct Look {
    // Some worker is awake. The loads that decide it must be seq_cst (or
    // follow a seq_cst fence): they pair with Wake().
    bool awake = false;
    // The scan must look again within the fast period. The loads that
    // decide it pair with Hurry() (see there).
    bool watching = false;
  };
  // `scan(now)` runs on the monitor's thread only. `hurried`: workers call
  // Hurry() (only where HeavyFenceAvailable()), so relaxing costs a
  // HeavyFence(). A relaxed period no longer than the fast one keeps the
  // fast pace.
  Monitor(std::chrono::nanoseconds fast_period,
          std::chrono::nanoseconds relaxed_period,
          std::chrono::nanoseconds linger, bool hurried,
          absl::AnyInvocable<Look(Clock::time_point)> scan);
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
    // buffering); pairs with the compare-exchange to kAsleep in Main().
    if (pace_.load(std::memory_order_seq_cst) == kAsleep) WakeFrom(kAsleep);
  }

  // A worker, after a store that a scan would report as Look::watching and
  // a LightFence() (asymmetric_fence.h), so that a monitor about to relax
  // either sees that store or is hurried. Only on a monitor made with
  // `hurried`.
  void Hurry() {
    // relaxed: the caller's LightFence() and the monitor's HeavyFence()
    // after its compare-exchange to kRelaxed order this load against the
    // caller's store (asymmetric store buffering).
    if (pace_.load(std::memory_order_relaxed) == kRelaxed) WakeFrom(kRelaxed);
  }

 private:
  static constexpr uint32_t kFast = 0;
  static constexpr uint32_t kRelaxed = 1;
  static constexpr uint32_t kAsleep = 2;
  static constexpr uint32_t kStopped = 3;

  void Main();
  void WakeFrom(uint32_t pace);
  // Move pace_ from kFast to `pace`, and from `pace` back to kFast; false
  // once Stop() came.
  bool Enter(uint32_t pace);
  bool Leave(uint32_t pace);

  const std::chrono::nanoseconds fast_period_;
  const std::chrono::nanoseconds relaxed_period_;
  const std::chrono::nanoseconds linger_;
  const bool hurried_;
  absl::AnyInvocable<Look(Clock::time_point)> scan_;
  std::thread thread_;
  // The monitor's pace, and its futex word. The monitor moves it from
  // kFast to kRelaxed or kAsleep; Wake() and Hurry() move it back to kFast,
  // Stop() to kStopped for good. Orders: see Wake() and Hurry().
  std::atomic<uint32_t> pace_{kFast};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_MONITOR_H_
