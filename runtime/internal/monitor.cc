#include "runtime/internal/monitor.h"

#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/internal/runtime_config.h"

namespace tidepool::internal {

Monitor::Monitor(std::chrono::nanoseconds period,
                 std::chrono::nanoseconds linger,
                 absl::AnyInvocable<bool(Clock::time_point)> scan)
    : period_(period), linger_(linger), scan_(std::move(scan)) {}

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
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

void Monitor::WakeSlow() {
  MutexLock lock(&mu_);
  woken_ = true;
  cv_.Signal();
}

void Monitor::Main() {
  MutexLock lock(&mu_);
  // When a scan last found a worker awake.
  Clock::time_point last_awake = Clock::now();
  while (!stop_) {
    bool sleep = false;
    {
      MutexUnlock unlocked(&mu_);
      Clock::time_point now = Clock::now();
      if (scan_(now)) {
        last_awake = now;
      } else if (now - last_awake >= linger_) {
        // seq_cst: announce the sleep, then look again (store buffering);
        // pairs with the worker's store and load in Wake().
        asleep_.store(true, std::memory_order_seq_cst);
        now = Clock::now();
        if (scan_(now)) {
          last_awake = now;
          // relaxed: a stale true costs a Wake() caller one lock.
          asleep_.store(false, std::memory_order_relaxed);
        } else {
          sleep = true;
        }
      }
    }
    if (!sleep) {
      // A plain sleep, not a timed wait on cv_: a condition variable's wait
      // takes the mutex back marked contended, so each period would also
      // cost the futex wake of the unlock that follows. Stop() is then seen
      // within a period.
      MutexUnlock unlocked(&mu_);
      std::this_thread::sleep_for(period_);
      continue;
    }
    while (!woken_ && !stop_) cv_.Wait(&mu_);
    woken_ = false;
    // relaxed: as above.
    asleep_.store(false, std::memory_order_relaxed);
    last_awake = Clock::now();
  }
}

}  // namespace tidepool::internal
