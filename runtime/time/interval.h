#ifndef TIDEPOOL_RUNTIME_TIME_INTERVAL_H_
#define TIDEPOOL_RUNTIME_TIME_INTERVAL_H_

// interval(period): ticks at a fixed rate.
//
//   tidepool::Interval every = tidepool::interval(100ms);
//   while (running) {
//     co_await every.tick();  // the first tick completes at once
//     Report();
//   }
//
// When the task falls behind (a tick is awaited after the next one was
// due), MissedTickBehavior decides: kBurst fires the missed ticks back to
// back until caught up; kDelay restarts the period from now; kSkip drops
// the missed ticks and keeps the original phase. An Interval belongs to one
// task at a time. Cost per tick: one Sleep.

#include <chrono>

#include "runtime/time/sleep.h"

namespace tidepool {

enum class MissedTickBehavior { kBurst, kDelay, kSkip };

class Interval {
 public:
  Interval(std::chrono::nanoseconds period, MissedTickBehavior behavior)
      : period_(period.count() > 0 ? period : std::chrono::nanoseconds(1)),
        behavior_(behavior),
        next_(std::chrono::steady_clock::now()) {}

  // Completes at the next tick.
  Sleep tick() {
    const auto now = std::chrono::steady_clock::now();
    const auto due = next_;
    if (now <= next_ + period_) {
      next_ += period_;
    } else {
      switch (behavior_) {
        case MissedTickBehavior::kBurst:
          next_ += period_;
          break;
        case MissedTickBehavior::kDelay:
          next_ = now + period_;
          break;
        case MissedTickBehavior::kSkip:
          next_ += period_ * ((now - next_) / period_ + 1);
          break;
      }
    }
    return Sleep(due);
  }

  std::chrono::nanoseconds period() const { return period_; }

 private:
  std::chrono::nanoseconds period_;
  MissedTickBehavior behavior_;
  std::chrono::steady_clock::time_point next_;
};

inline Interval interval(
    std::chrono::nanoseconds period,
    MissedTickBehavior behavior = MissedTickBehavior::kBurst) {
  return Interval(period, behavior);
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TIME_INTERVAL_H_
