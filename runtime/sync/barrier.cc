#include "runtime/sync/barrier.h"

#include <stdexcept>

#include "runtime/internal/context.h"

namespace tidepool {

Barrier::Barrier(size_t n) : n_(n) {
  if (n == 0) throw std::invalid_argument("tidepool::Barrier: n == 0");
}

bool Barrier::Wait::await_suspend(std::coroutine_handle<> awaiting) {
  internal::TaskHeader* const self = internal::SuspendCurrentTask(awaiting);
  internal::WakeList wake;
  internal::MutexLock lock(&barrier_->mu_);
  if (++barrier_->arrived_ == barrier_->n_) {
    // The last arrival: release everyone and start the next generation.
    barrier_->arrived_ = 0;
    while (internal::Waiter* w = barrier_->waiters_.PopFront()) {
      wake.Add(w->task);
    }
    leader_ = true;
    return false;
  }
  self->Ref();
  task = self;
  barrier_->waiters_.PushBack(this);
  suspended_ = true;
  return true;
}

Barrier::Wait::~Wait() {
  if (!suspended_) return;
  internal::TaskHeader* drop = nullptr;
  {
    internal::MutexLock lock(&barrier_->mu_);
    // Still linked: the generation is not complete; withdraw the arrival.
    if (linked) {
      barrier_->waiters_.Remove(this);
      --barrier_->arrived_;
      drop = task;
    }
  }
  if (drop) drop->Unref();
}

}  // namespace tidepool
