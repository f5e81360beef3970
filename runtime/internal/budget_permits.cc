#include "runtime/internal/budget_permits.h"

#include <algorithm>

namespace tidepool::internal {

BudgetPermits::BudgetPermits(size_t budget, int64_t first_sample, size_t cpus,
                             uint64_t share_eighths)
    : budget_(budget),
      room_(budget / 8 * std::clamp<uint64_t>(share_eighths, 1, 8)),
      base_(static_cast<uint64_t>(std::max<int64_t>(first_sample, 0))),
      floor_(std::clamp<size_t>(cpus, 1, kFloor)),
      limit_(std::max<size_t>(cpus, 1)),
      in_use_(std::max<int64_t>(first_sample, 0)) {}

bool BudgetPermits::Acquire(PermitWaiter* w, TaskHeader* task,
                            bool calls_waiting) {
  if (waiters_.empty() && Room(calls_waiting)) {
    ++held_;
    ++granted_;
    return true;
  }
  w->task = task;
  w->granted = false;
  w->since = Clock::now();
  waiters_.PushBack(w);
  ++waiting_;
  return false;
}

void BudgetPermits::Release() {
  const bool limit_reached = held_ >= limit_ || !waiters_.empty();
  --held_;
  if (!limit_reached) return;
  // Both below 2^62: no overflow.
  const uint64_t bytes = static_cast<uint64_t>(std::max<int64_t>(in_use_, 0));
  if (limit_ >= cap_) return;
  if (bytes < budget_ / 2) {
    ++limit_;
  } else if (bytes < budget_ / 8 * 7) {
    if (++credit_ >= limit_) {
      ++limit_;
      credit_ = 0;
    }
  }
}

TaskHeader* BudgetPermits::Withdraw(PermitWaiter* w) {
  if (w->linked) {
    waiters_.Remove(w);
    --waiting_;
    return w->task;
  }
  if (w->granted) {
    w->granted = false;
    Release();
  }
  return nullptr;
}

void BudgetPermits::Grant(bool calls_waiting, Granted* out) {
  const Clock::time_point now = Clock::now();
  while (!waiters_.empty() && Room(calls_waiting)) {
    auto* w = static_cast<PermitWaiter*>(waiters_.PopFront());
    --waiting_;
    w->granted = true;
    ++held_;
    ++granted_;
    ++waited_;
    wait_ns_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - w->since)
            .count());
    out->push_back(w->task);
  }
}

void BudgetPermits::OnSample(int64_t in_use) {
  if (in_use < 0) return;
  in_use_ = in_use;
  const uint64_t bytes = static_cast<uint64_t>(in_use);
  if (held_ == 0) {
    base_ = std::min(base_, bytes);
  } else {
    const uint64_t seen = (bytes > base_ ? bytes - base_ : 0) / held_;
    per_permit_ = std::max(seen, per_permit_ - per_permit_ / 32);
  }
  if (per_permit_ > 0) {
    cap_ = std::max<uint64_t>(room_ > base_ ? (room_ - base_) / per_permit_ : 0,
                              floor_);
    limit_ = std::min<size_t>(limit_, cap_);
  }
}

void BudgetPermits::AddMetrics(MemoryBudgetMetrics* m) const {
  m->permits_held = held_;
  m->permit_limit = limit_;
  m->permits_waiting = waiting_;
  m->permits_granted = granted_;
  m->permits_waited = waited_;
  m->permit_wait_ns = wait_ns_;
}

uint64_t PermitShareEighths(alloc::Backend kind) {
  return kind == alloc::Backend::kJemalloc ? 8 : BudgetPermits::kShareEighths;
}

}  // namespace tidepool::internal
