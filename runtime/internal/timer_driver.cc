#include "runtime/internal/timer_driver.h"

#include <vector>

#include "runtime/internal/task_header.h"

namespace tidepool::internal {

uint64_t TimerDriver::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start_)
      .count();
}

uint64_t TimerDriver::DeadlineMs(
    std::chrono::steady_clock::time_point t) const {
  if (t <= start_) return 0;
  const auto since = t - start_;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since);
  if (ms < since) ++ms;
  return ms.count();
}

void TimerDriver::UpdateNext() {
  next_.store(wheel_.NextExpiration().value_or(kNever),
              std::memory_order_seq_cst);
}

bool TimerDriver::Register(TimerEntry* e) {
  MutexLock lock(&mu_);
  const uint64_t before = next_.load(std::memory_order_relaxed);
  wheel_.Insert(e);
  UpdateNext();
  return next_.load(std::memory_order_relaxed) < before;
}

bool TimerDriver::Cancel(TimerEntry* e) {
  MutexLock lock(&mu_);
  if (e->level < 0) return false;
  wheel_.Remove(e);
  UpdateNext();
  return true;
}

size_t TimerDriver::FireDue() {
  // Called whenever a worker runs dry: with no timers pending, skip the
  // clock read too.
  const uint64_t next = NextDeadline();
  if (next == kNever) return 0;
  const uint64_t now = NowMs();
  if (next > now) return 0;
  // Reused per thread, so firing allocates nothing once warm. The wakers are
  // taken under the lock; after it the entries may already be gone.
  thread_local std::vector<TaskHeader*> fired;
  {
    MutexLock lock(&mu_);
    wheel_.Advance(now, [](TimerEntry* e) {
      fired.push_back(e->waker);
      e->waker = nullptr;
    });
    UpdateNext();
  }
  const size_t n = fired.size();
  for (TaskHeader* t : fired) {
    t->Wake();
    t->Unref();
  }
  fired.clear();
  return n;
}

}  // namespace tidepool::internal
