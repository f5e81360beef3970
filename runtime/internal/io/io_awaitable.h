#ifndef TIDEPOOL_RUNTIME_INTERNAL_IO_IO_AWAITABLE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IO_IO_AWAITABLE_H_

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/internal/io/io_driver.h"
#include "runtime/internal/timer_driver.h"
#include "runtime/internal/timer_wheel.h"

namespace tidepool::internal {

// Awaits one IoOp on a driver; yields the raw result (>= 0, or -errno).
// The op lives here, in the awaiting coroutine's frame, so an operation
// costs no allocation; it holds a reference on its IoSource. An aborted task
// suspended here is not destroyed while the op is in the driver: the worker
// that finds it aborted asks the driver to end the op and leaves the task
// until the op's completion wakes it (Scheduler::CancelClaimed), so no
// thread waits for the kernel. Destroying the awaitable with the op still
// in the driver otherwise (a task awaiting timeout() or select() destroyed
// with its branches, shutdown) cancels it and waits for the driver to let
// go of the buffer.
// Movable until awaited, so it can be handed to timeout() or select().
//
// A deadline (set_deadline, before the await) ends the op with -ETIMEDOUT
// if it has not completed by then: a timer entry in this object asks the
// driver to cancel the op, and the op's completion wakes the task as
// usual. No task is spawned and nothing is allocated for it.
class IoAwaitable {
 public:
  IoAwaitable(IoDriver* driver, IoSource* source, IoOp::Code code)
      : driver_(driver) {
    op_.code = code;
    op_.source = source;
    if (source != nullptr) source->Ref();
  }
  IoAwaitable(IoAwaitable&& other) noexcept
      : driver_(other.driver_), deadline_(other.deadline_) {
    op_.code = other.op_.code;
    op_.source = std::exchange(other.op_.source, nullptr);
    op_.buf = other.op_.buf;
    op_.len = other.op_.len;
    op_.recv_flags = other.op_.recv_flags;
    if (IsFileOp(op_.code)) {
      op_.offset = other.op_.offset;
    } else {
      op_.addr = other.op_.addr;
    }
    op_.addr_len = other.op_.addr_len;
    op_.poll_events = other.op_.poll_events;
  }
  IoAwaitable& operator=(IoAwaitable&&) = delete;
  ~IoAwaitable() {
    DisarmDeadline();
    // acquire: pairs with the driver's release of done (EpollDriver's
    // Publish, UringDriver's Complete), after which the driver never
    // touches the op again.
    if (op_.started && !op_.done.load(std::memory_order_acquire)) {
      driver_->Cancel(&op_);
    }
    // A cancellation asked for by the worker that found the task cancelled
    // may still sit in another thread's ring's inbox, naming this op:
    // Forget() takes it back.
    if (op_.cancel_requested) driver_->Forget(&op_);
    if (op_.source != nullptr) op_.source->Unref();
  }

  // Before the await: the op ends with -ETIMEDOUT unless it completes by
  // `deadline`.
  void set_deadline(std::chrono::steady_clock::time_point deadline) {
    deadline_ = deadline;
  }

  bool await_ready() {
    if (driver_ == nullptr || op_.source == nullptr) {  // closed socket
      op_.result = -EBADF;
      return true;
    }
    return driver_->TryNow(&op_);
  }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    TaskHeader* task = SuspendCurrentTask(awaiting);
    if (!driver_->Start(&op_, task)) return false;
    RecordInTask(task);
    // The task is running until this returns, so the op's completion can
    // only mark it notified: nothing resumes it before the timer is filed.
    if (deadline_) ArmDeadline();
    return true;
  }
  int64_t await_resume() noexcept {
    DisarmDeadline();
    return deadline_expired() ? -ETIMEDOUT : op_.result;
  }
  // After await_resume: whether the deadline ended the op (its action
  // cancelled it, rather than the op completing first).
  bool deadline_expired() const {
    // relaxed: set by the timer's action, which await_resume's
    // CancelOrWait waited out; its acquire pairs with the release that
    // ends the action (TimerDriver), ordering this read after the store.
    return timed_out_.load(std::memory_order_relaxed) &&
           op_.result == -ECANCELED;
  }

  // For the socket types, to fill in the op before it is awaited.
  IoOp& op() { return op_; }
  IoDriver* driver() const { return driver_; }

 private:
  // After Start(): a cancellation of `task` finds the op there and waits
  // for its completion instead of for the kernel (Scheduler::CancelClaimed).
  void RecordInTask(TaskHeader* task);
  // Files the deadline's timer with the runtime of the calling worker.
  void ArmDeadline();
  // Unfiles it, waiting out its action if it is firing. Idempotent.
  void DisarmDeadline() noexcept {
    if (timers_ != nullptr) DisarmDeadlineSlow();
  }
  void DisarmDeadlineSlow() noexcept;
  // The timer's action: the deadline passed with the op in the driver.
  static void OnDeadline(void* self);

  IoDriver* driver_;
  IoOp op_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  // Set while the deadline's timer is filed (or firing).
  TimerDriver* timers_ = nullptr;
  TimerEntry deadline_entry_;
  std::atomic<bool> timed_out_{false};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IO_IO_AWAITABLE_H_
