#ifndef TIDEPOOL_RUNTIME_TIME_SLEEP_H_
#define TIDEPOOL_RUNTIME_TIME_SLEEP_H_

// sleep(d) and sleep_until(t): suspend the calling task for a while.
//
//   co_await tidepool::sleep(std::chrono::milliseconds(10));
//
// Resolution is one millisecond, and a sleep never ends early. The timer
// lives in the coroutine frame (no allocation); filing and cancelling it
// are O(1) under the runtime's timer lock. No thread per timer and no
// polling: workers fire due timers between polls, and an idle runtime sleeps
// until its earliest deadline. If the task is aborted while sleeping, the
// timer is cancelled with it. Only inside a tidepool task (elsewhere the
// co_await throws std::logic_error).

#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/task_header.h"
#include "runtime/internal/timer_wheel.h"

namespace tidepool {

class [[nodiscard]] Sleep {
 public:
  explicit Sleep(std::chrono::steady_clock::time_point deadline)
      : deadline_(deadline) {}
  // Movable until awaited (so it can be handed to timeout() or select()).
  Sleep(Sleep&& other) noexcept : deadline_(other.deadline_) {}
  Sleep(const Sleep&) = delete;
  Sleep& operator=(const Sleep&) = delete;
  ~Sleep() {
    if (scheduler_ != nullptr && scheduler_->CancelTimer(&entry_)) {
      std::exchange(entry_.waker, nullptr)->Unref();
    }
  }

  std::chrono::steady_clock::time_point deadline() const { return deadline_; }

  bool await_ready() const {
    return std::chrono::steady_clock::now() >= deadline_;
  }
  void await_suspend(std::coroutine_handle<> awaiting) {
    internal::Scheduler* scheduler = internal::CurrentScheduler();
    if (scheduler == nullptr) {
      throw std::logic_error("tidepool::sleep awaited outside a runtime");
    }
    internal::TaskHeader* task = internal::SuspendCurrentTask(awaiting);
    entry_.deadline_ms = scheduler->timers().DeadlineMs(deadline_);
    task->Ref();  // the timer's reference, dropped by whoever unfiles it
    entry_.waker = task;
    scheduler_ = scheduler;
    scheduler->RegisterTimer(&entry_);
  }
  void await_resume() const noexcept {}

 private:
  std::chrono::steady_clock::time_point deadline_;
  internal::Scheduler* scheduler_ = nullptr;
  internal::TimerEntry entry_;
};

inline Sleep sleep_until(std::chrono::steady_clock::time_point deadline) {
  return Sleep(deadline);
}

inline Sleep sleep(std::chrono::nanoseconds duration) {
  return Sleep(std::chrono::steady_clock::now() + duration);
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TIME_SLEEP_H_
