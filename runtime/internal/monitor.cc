#include "runtime/internal/monitor.h"

#include <algorithm>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/internal/asymmetric_fence.h"
#include "runtime/internal/futex.h"
#include "runtime/internal/runtime_config.h"

namespace tidepool::internal {
Monitor::Monitor(std::chrono::nanoseconds fast_period,
                 std::chrono::nanoseconds relaxed_period,
                 std::chrono::nanoseconds linger, bool hurried,
                 absl::AnyInvocable<Look(Clock::time_point)> scan)
    : fast_period_(fast_period),
      relaxed_period_(relaxed_period),
      linger_(linger),
      hurried_(hurried),
      scan_(std::move(scan)) {}

Monitor::~Monitor() { Stop(); }

absl::Status Monitor::Start(const std::string& thread_name) {
  try {
    thread_ = std::thread([this, thread_name] {
      NameThisThread(thread_name, 'm', 0);
      Main();
    });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "tidepool: could not start the monitor thread: ", e.what()));
  }
  return absl::OkStatus();
}

void Monitor::Stop() {
  // seq_cst: any order would do for the flag (the monitor re-reads pace_
  // after every wait); kStopped is final, so no waiter can miss it.
  if (pace_.exchange(kStopped, std::memory_order_seq_cst) != kStopped) {
    FutexWake(&pace_);
  }
  if (thread_.joinable()) thread_.join();
}

void Monitor::WakeFrom(uint32_t pace) {
  // seq_cst: part of the handshakes in Wake() and Hurry(); a failure means
  // the monitor already left `pace` (or stopped), and needs nothing.
  if (pace_.compare_exchange_strong(pace, kFast, std::memory_order_seq_cst)) {
    FutexWake(&pace_);
  }
}

bool Monitor::Enter(uint32_t pace) {
  uint32_t expected = kFast;
  // seq_cst: the monitor's store in the store-buffering handshakes (see
  // Wake()); the scan that follows is the monitor's load. Only Stop() moves
  // pace_ away from kFast besides this thread.
  return pace_.compare_exchange_strong(expected, pace,
                                       std::memory_order_seq_cst);
}

bool Monitor::Leave(uint32_t pace) {
  // relaxed: the move back publishes nothing; a Wake() or Hurry() that
  // reads kFast has nothing to do, which is right once the monitor scans
  // at the fast pace. On failure `pace` holds what is there: kFast (a
  // wake did the move) or kStopped.
  pace_.compare_exchange_strong(pace, kFast, std::memory_order_relaxed);
  return pace != kStopped;
}

void Monitor::Main() {
  const bool relaxes = relaxed_period_ > fast_period_;
  Clock::time_point last_awake = Clock::now();
  int quiet = 0;
  uint32_t pace = kFast;  // what this thread last made pace_
  while (true) {
    const Clock::time_point now = Clock::now();
    const Look look = scan_(now);
    if (look.awake) last_awake = now;
    quiet = look.watching ? 0 : std::min(quiet + 1, kQuietScans);
    uint32_t next = kFast;
    if (!look.awake && now - last_awake >= linger_) {
      next = kAsleep;
    } else if (quiet == kQuietScans && relaxes) {
      next = kRelaxed;
    }
    if (next != pace) {
      // pace is kFast or kRelaxed here (kAsleep ends only in a wake,
      // below); a new pace is entered from kFast.
      if (pace != kFast && !Leave(pace)) return;
      pace = kFast;
      if (next != kFast) {
        if (!Enter(next)) return;
        pace = next;
        // Makes the workers' LightFence() a full one (Hurry()).
        if (next == kRelaxed && hurried_) HeavyFence();
        // The handshake's second look: a worker that woke, or stored a
        // watch, before the announcement is seen here; one after it sees
        // the announcement and wakes the monitor.
        const Look again = scan_(Clock::now());
        if (again.awake) last_awake = Clock::now();
        if (again.watching || (next == kAsleep && again.awake)) {
          quiet = 0;
          if (!Leave(next)) return;
          pace = kFast;
        }
      }
    }
    switch (pace) {
      case kFast:
        // A plain sleep: nothing needs to end it early (Stop() waits one
        // period at most), and a futex or condition variable wait would
        // cost its waker a system call.
        std::this_thread::sleep_for(fast_period_);
        break;
      case kRelaxed:
        FutexWait(&pace_, kRelaxed, now + relaxed_period_);
        break;
      default:
        // acquire: see below.
        while (pace_.load(std::memory_order_acquire) == kAsleep) {
          FutexWait(&pace_, kAsleep);
        }
        break;
    }
    // acquire: pairs with the compare-exchange in WakeFrom(), so that the
    // next scan sees what the hurrying worker stored before Hurry() (its
    // task in the slot) or what the waking one did before Wake(); and with
    // Stop()'s exchange.
    const uint32_t seen = pace_.load(std::memory_order_acquire);
    if (seen == kStopped) return;
    if (seen == kFast && pace != kFast) {
      // Woken or hurried: a worker is awake, and may have a task waiting.
      pace = kFast;
      quiet = 0;
      last_awake = Clock::now();
    }
  }
}

}  // namespace tidepool::internal
