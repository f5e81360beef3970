#include "runtime/internal/context.h"
#include "runtime/sync/internal/rw_lock_core.h"

namespace tidepool::internal {

bool RwLockCore::CanEnterLocked(Mode mode) const {
  if (writer_ || !waiters_.empty()) return false;
  return mode == Mode::kRead || readers_ == 0;
}

void RwLockCore::EnterLocked(Mode mode) {
  if (mode == Mode::kRead) {
    ++readers_;
  } else {
    writer_ = true;
  }
}

void RwLockCore::ReleaseLocked(Mode mode) {
  if (mode == Mode::kRead) {
    --readers_;
  } else {
    writer_ = false;
  }
}

bool RwLockCore::TryAcquire(Mode mode) {
  MutexLock lock(&mu_);
  if (!CanEnterLocked(mode)) return false;
  EnterLocked(mode);
  return true;
}

void RwLockCore::Release(Mode mode) {
  WakeList wake;
  MutexLock lock(&mu_);
  ReleaseLocked(mode);
  ServeLocked(wake);
}

void RwLockCore::ServeLocked(WakeList& wake) {
  while (!waiters_.empty() && !writer_) {
    auto* waiter = static_cast<Acquire*>(waiters_.front());
    if (waiter->mode_ == Mode::kWrite && readers_ > 0) return;
    waiters_.PopFront();
    EnterLocked(waiter->mode_);
    waiter->granted_ = true;
    wake.Add(waiter->task);
  }
}

RwLockCore::Acquire::~Acquire() {
  if (!suspended_) return;
  WakeList wake;
  TaskHeader* drop = nullptr;
  {
    MutexLock lock(&core_->mu_);
    if (linked) {
      // A writer leaving the front may let the readers behind it in.
      core_->waiters_.Remove(this);
      drop = task;
    } else if (granted_) {
      // Handed the lock, but the task died before it could take it.
      core_->ReleaseLocked(mode_);
    }
    core_->ServeLocked(wake);
  }
  if (drop) drop->Unref();
}

bool RwLockCore::Acquire::await_suspend(std::coroutine_handle<> awaiting) {
  TaskHeader* const self = SuspendCurrentTask(awaiting);
  MutexLock lock(&core_->mu_);
  if (core_->CanEnterLocked(mode_)) {
    core_->EnterLocked(mode_);
    return false;
  }
  self->Ref();
  task = self;
  core_->waiters_.PushBack(this);
  suspended_ = true;
  return true;
}

}  // namespace tidepool::internal
