#include "runtime/sync/task_tracker.h"

namespace tidepool {

TaskTracker::TaskTracker() : state_(std::make_shared<State>()) {}

void TaskTracker::State::Add() {
  internal::MutexLock lock(&mu);
  ++count;
}

void TaskTracker::State::TaskEnded() {
  bool ended_last;
  {
    internal::MutexLock lock(&mu);
    ended_last = --count == 0 && closed;
  }
  if (ended_last) done.notify_waiters();
}

void TaskTracker::close() {
  bool done;
  {
    internal::MutexLock lock(&state_->mu);
    state_->closed = true;
    done = state_->count == 0;
  }
  if (done) state_->done.notify_waiters();
}

void TaskTracker::reopen() {
  internal::MutexLock lock(&state_->mu);
  state_->closed = false;
}

bool TaskTracker::is_closed() const {
  internal::MutexLock lock(&state_->mu);
  return state_->closed;
}

size_t TaskTracker::len() const {
  internal::MutexLock lock(&state_->mu);
  return state_->count;
}

Task<void> TaskTracker::wait() const { return Wait(state_); }

Task<void> TaskTracker::Wait(std::shared_ptr<State> state) {
  while (true) {
    // Made before the check: a notify_waiters() between the check and the
    // await still completes it (notify.h).
    Notify::Notified notified = state->done.notified();
    {
      internal::MutexLock lock(&state->mu);
      if (state->closed && state->count == 0) co_return;
    }
    co_await notified;
  }
}

}  // namespace tidepool
