#include "runtime/sync/semaphore.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "absl/status/status.h"

namespace tidepool {

SemaphorePermit::SemaphorePermit(SemaphorePermit&& other) noexcept
    : sem_(other.sem_), permits_(std::exchange(other.permits_, 0)) {}

SemaphorePermit& SemaphorePermit::operator=(SemaphorePermit&& other) noexcept {
  if (this != &other) {
    if (permits_ > 0) sem_->Release(permits_);
    sem_ = other.sem_;
    permits_ = std::exchange(other.permits_, 0);
  }
  return *this;
}

SemaphorePermit::~SemaphorePermit() {
  if (permits_ > 0) sem_->Release(permits_);
}

Semaphore::Semaphore(size_t permits) {
  if (permits > kMaxPermits) {
    throw std::invalid_argument("tidepool::Semaphore: too many permits");
  }
  // relaxed: nothing else can see the semaphore yet.
  state_.store(permits * kOne, std::memory_order_relaxed);
}

Semaphore::Acquire Semaphore::acquire(size_t permits) {
  if (permits > kMaxPermits) {
    throw std::invalid_argument("tidepool::Semaphore: too many permits");
  }
  return Acquire(this, permits);
}

TryResult<SemaphorePermit, TryAcquireError> Semaphore::try_acquire(
    size_t permits) {
  switch (TryAcquireAll(permits)) {
    case Taken::kAcquired:
      return SemaphorePermit(this, permits);
    case Taken::kClosed:
      return TryAcquireError::kClosed;
    case Taken::kNoPermits:
      break;
  }
  return TryAcquireError::kNoPermits;
}

void Semaphore::add_permits(size_t permits) {
  internal::WakeList wake;
  internal::MutexLock lock(&mu_);
  // relaxed: an upper bound is enough: only holders of mu_ add permits, so
  // we see every addition; lock-free takers only lower the count.
  const size_t free = state_.load(std::memory_order_relaxed) / kOne;
  if (permits > kMaxPermits - free) {
    throw std::overflow_error("tidepool::Semaphore: too many permits");
  }
  ReleaseLocked(permits, wake);
}

size_t Semaphore::available_permits() const {
  // relaxed: a snapshot that orders nothing.
  return state_.load(std::memory_order_relaxed) / kOne;
}

void Semaphore::close() {
  internal::WakeList wake;
  internal::MutexLock lock(&mu_);
  // release: a caller that sees the bit (is_closed(), try_acquire()'s
  // kClosed) also sees what the closer did before close(), as with tokio;
  // pairs with the acquire loads there. Waiters learn of it under mu_.
  state_.fetch_or(kClosed, std::memory_order_release);
  size_t returned = 0;
  while (internal::Waiter* w = waiters_.PopFront()) {
    auto* waiter = static_cast<Acquire*>(w);
    returned += waiter->needed_ - waiter->remaining_;
    waiter->outcome_ = Acquire::Outcome::kClosed;
    wake.Add(waiter->task);
  }
  // release: like any release of permits; pairs with the acquire CAS in
  // TryAcquireAll() or TakeUpTo().
  if (returned > 0)
    state_.fetch_add(returned * kOne, std::memory_order_release);
}

bool Semaphore::is_closed() const {
  // acquire: pairs with the release in close().
  return state_.load(std::memory_order_acquire) & kClosed;
}

Semaphore::Taken Semaphore::TryAcquireAll(size_t permits) {
  // acquire: a kClosed answer pairs with the release in close(); a permit
  // taken is ordered by the CAS below.
  size_t s = state_.load(std::memory_order_acquire);
  while (true) {
    if (s & kClosed) return Taken::kClosed;
    if (s / kOne < permits) return Taken::kNoPermits;
    // acquire: pairs with the release fetch_add in ReleaseLocked() (or
    // close()) that gave the permits back, so what the previous holder did
    // under them (say, a Mutex's data) is visible. relaxed on failure: the
    // loop only retries.
    if (state_.compare_exchange_weak(s, s - permits * kOne,
                                     std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return Taken::kAcquired;
    }
  }
}

size_t Semaphore::TakeUpTo(size_t permits) {
  // relaxed: the CAS below carries the ordering.
  size_t s = state_.load(std::memory_order_relaxed);
  while (true) {
    const size_t take = std::min(s / kOne, permits);
    if (take == 0) return 0;
    // acquire: as in TryAcquireAll(); pairs with ReleaseLocked().
    if (state_.compare_exchange_weak(s, s - take * kOne,
                                     std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return take;
    }
  }
}

bool Semaphore::Enqueue(Acquire* waiter, std::coroutine_handle<> awaiting) {
  internal::TaskHeader* const self = internal::SuspendCurrentTask(awaiting);
  internal::MutexLock lock(&mu_);
  // relaxed: kClosed is only set under mu_, which we hold.
  if (state_.load(std::memory_order_relaxed) & kClosed) {
    waiter->outcome_ = Acquire::Outcome::kClosed;
    return false;
  }
  // With waiters queued the count is zero, so this takes nothing and we
  // queue behind them; otherwise we take what there is and wait for the
  // rest, which keeps the invariant on state_.
  waiter->remaining_ = waiter->needed_ - TakeUpTo(waiter->needed_);
  if (waiter->remaining_ == 0) {
    waiter->outcome_ = Acquire::Outcome::kAcquired;
    return false;
  }
  self->Ref();
  waiter->task = self;
  waiters_.PushBack(waiter);
  return true;
}

void Semaphore::Cancel(Acquire* waiter) {
  internal::WakeList wake;
  internal::TaskHeader* drop = nullptr;
  {
    internal::MutexLock lock(&mu_);
    if (waiter->linked) {
      waiters_.Remove(waiter);
      drop = waiter->task;
      ReleaseLocked(waiter->needed_ - waiter->remaining_, wake);
    } else if (waiter->outcome_ == Acquire::Outcome::kAcquired) {
      // Granted, but the task died before it could take the permits.
      ReleaseLocked(waiter->needed_, wake);
    }
  }
  if (drop) drop->Unref();
}

void Semaphore::Release(size_t permits) {
  internal::WakeList wake;
  internal::MutexLock lock(&mu_);
  ReleaseLocked(permits, wake);
}

void Semaphore::ReleaseLocked(size_t permits, internal::WakeList& wake) {
  while (permits > 0 && !waiters_.empty()) {
    auto* waiter = static_cast<Acquire*>(waiters_.front());
    const size_t give = std::min(permits, waiter->remaining_);
    waiter->remaining_ -= give;
    permits -= give;
    if (waiter->remaining_ == 0) {
      waiters_.PopFront();
      waiter->outcome_ = Acquire::Outcome::kAcquired;
      wake.Add(waiter->task);
    }
  }
  // release: pairs with the acquire CAS of whoever takes these permits
  // (TryAcquireAll(), TakeUpTo()); a waiter given them directly is ordered
  // by mu_ and its wake-up.
  if (permits > 0) state_.fetch_add(permits * kOne, std::memory_order_release);
}

Semaphore::Acquire::~Acquire() {
  if (suspended_) sem_->Cancel(this);
}

bool Semaphore::Acquire::await_ready() {
  switch (sem_->TryAcquireAll(needed_)) {
    case Taken::kAcquired:
      outcome_ = Outcome::kAcquired;
      return true;
    case Taken::kClosed:
      outcome_ = Outcome::kClosed;
      return true;
    case Taken::kNoPermits:
      break;
  }
  return false;
}

bool Semaphore::Acquire::await_suspend(std::coroutine_handle<> awaiting) {
  suspended_ = sem_->Enqueue(this, awaiting);
  return suspended_;
}

absl::StatusOr<SemaphorePermit> Semaphore::Acquire::await_resume() {
  suspended_ = false;
  if (outcome_ == Outcome::kClosed) {
    return absl::FailedPreconditionError("tidepool: semaphore closed");
  }
  return SemaphorePermit(sem_, needed_);
}

}  // namespace tidepool
