#include "runtime/internal/io/io_awaitable.h"

#include "runtime/internal/scheduler.h"

namespace tidepool::internal {

void IoAwaitable::RecordInTask(TaskHeader* task) {
  // The canceller asks the task's own runtime's driver to end the op; a
  // socket made by another runtime keeps the destructor's Cancel().
  if (driver_ == &task->scheduler()->io()) task->set_in_flight_op(&op_);
}

void IoAwaitable::ArmDeadline() {
  Scheduler* scheduler = CurrentScheduler();
  // SuspendCurrentTask succeeded, so this is a worker of a runtime.
  timers_ = &scheduler->timers();
  deadline_entry_.deadline_ms = timers_->DeadlineMs(*deadline_);
  deadline_entry_.action = &IoAwaitable::OnDeadline;
  deadline_entry_.context = this;
  scheduler->RegisterTimer(&deadline_entry_);
}

void IoAwaitable::DisarmDeadlineSlow() noexcept {
  std::exchange(timers_, nullptr)->CancelOrWait(&deadline_entry_);
  // The action has ended; if it ran, its cancellation may still sit in
  // another thread's ring's inbox, naming this op: Forget() takes it back.
  // relaxed: CancelOrWait's acquire ordered the action's store before this
  // load.
  if (timed_out_.load(std::memory_order_relaxed)) driver_->Forget(&op_);
}

void IoAwaitable::OnDeadline(void* self) {
  auto* a = static_cast<IoAwaitable*>(self);
  // relaxed: read by the owner after CancelOrWait, whose acquire pairs
  // with the release that ends this action.
  a->timed_out_.store(true, std::memory_order_relaxed);
  a->driver_->RequestCancel(&a->op_);
}

}  // namespace tidepool::internal
