#include "runtime/sync/notify.h"

namespace tidepool {

Notify::Notified::Notified(Notify* notify)
    : notify_(notify),
      // acquire: pairs with the release in notify_waiters(). Seeing a later
      // generation means seeing what the notifier wrote before the call,
      // which the caller's condition check that follows relies on.
      generation_(notify->generation_.load(std::memory_order_acquire)) {}

Notify::Notified::~Notified() {
  if (!suspended_) return;
  internal::WakeList wake;
  internal::TaskHeader* drop = nullptr;
  {
    internal::MutexLock lock(&notify_->mu_);
    if (linked) {
      notify_->waiters_.Remove(this);
      drop = task;
    } else if (outcome_ == Outcome::kNotifiedOne) {
      // Picked by notify_one() but destroyed before running: pass it on.
      notify_->NotifyOneLocked(wake);
    }
  }
  if (drop) drop->Unref();
}

bool Notify::Notified::await_suspend(std::coroutine_handle<> awaiting) {
  internal::TaskHeader* const self = internal::SuspendCurrentTask(awaiting);
  internal::MutexLock lock(&notify_->mu_);
  // relaxed: generation_ only changes under mu_ (notify_waiters), which we
  // hold.
  if (notify_->generation_.load(std::memory_order_relaxed) != generation_) {
    return false;
  }
  if (notify_->permit_) {
    notify_->permit_ = false;
    return false;
  }
  self->Ref();
  task = self;
  notify_->waiters_.PushBack(this);
  suspended_ = true;
  return true;
}

void Notify::notify_one() {
  internal::WakeList wake;
  internal::MutexLock lock(&mu_);
  NotifyOneLocked(wake);
}

void Notify::NotifyOneLocked(internal::WakeList& wake) {
  internal::Waiter* w = waiters_.PopFront();
  if (w == nullptr) {
    permit_ = true;
    return;
  }
  auto* waiter = static_cast<Notified*>(w);
  waiter->outcome_ = Notified::Outcome::kNotifiedOne;
  wake.Add(waiter->task);
}

void Notify::notify_waiters() {
  internal::WakeList wake;
  internal::MutexLock lock(&mu_);
  // release: pairs with the acquire load in the Notified constructor.
  generation_.fetch_add(1, std::memory_order_release);
  while (internal::Waiter* w = waiters_.PopFront()) {
    auto* waiter = static_cast<Notified*>(w);
    waiter->outcome_ = Notified::Outcome::kNotifiedAll;
    wake.Add(waiter->task);
  }
}

}  // namespace tidepool
