#include "runtime/budget_permit.h"

#include <utility>

#include "runtime/internal/blocking_pool.h"
#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"

namespace tidepool {

BudgetPermit& BudgetPermit::operator=(BudgetPermit&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
  }
  return *this;
}

BudgetPermit::~BudgetPermit() { reset(); }

void BudgetPermit::reset() {
  if (pool_ != nullptr) std::exchange(pool_, nullptr)->ReleasePermit();
}

BudgetPermitAwaitable::~BudgetPermitAwaitable() {
  if (suspended_) pool_->WithdrawPermit(&waiter_);
}

bool BudgetPermitAwaitable::await_ready() {
  internal::Scheduler* s = internal::CurrentScheduler();
  if (s == nullptr || !s->blocking_pool()->HasBudget()) return true;
  pool_ = s->blocking_pool();
  return false;
}

bool BudgetPermitAwaitable::await_suspend(std::coroutine_handle<> awaiting) {
  internal::TaskHeader* self = internal::SuspendCurrentTask(awaiting);
  if (pool_->AcquirePermit(&waiter_, self)) {
    waiter_.granted = true;
    return false;
  }
  suspended_ = true;
  return true;
}

BudgetPermit BudgetPermitAwaitable::await_resume() {
  // No budget: nothing to hold. Otherwise granted at once, or by the grant
  // that woke us (which set `granted` under the pool's lock before the
  // wake-up); only a grant wakes a waiter. Were the task ever resumed
  // without one, `suspended_` stays set, so the destructor still takes the
  // waiter out of the queue.
  if (pool_ == nullptr || !waiter_.granted) return BudgetPermit();
  suspended_ = false;
  waiter_.granted = false;
  return BudgetPermit(std::move(pool_));
}

}  // namespace tidepool
