#include "runtime/internal/timer_driver.h"

#include <thread>
#include <utility>
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
  // seq_cst: the registering side of the store-buffering handshake; pairs
  // with the seq_cst load of the watcher in Scheduler::RegisterTimer().
  next_.store(wheel_.NextExpiration().value_or(kNever),
              std::memory_order_seq_cst);
}

bool TimerDriver::Register(TimerEntry* e) {
  MutexLock lock(&mu_);
  // relaxed (both): next_ is only written under mu_, which we hold.
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

bool TimerDriver::CancelOrWait(TimerEntry* e) {
  if (Cancel(e)) return true;
  // The firing thread set the flag under mu_ before Cancel took it, so a
  // false here means the action is over. An action is a few instructions
  // and a submission, so yielding beats sleeping. acquire: pairs with the
  // release store in FireDue(): the action's effects are done.
  while (e->action_running.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  return false;
}

size_t TimerDriver::FireDue() {
  // Called whenever a worker runs dry: with no timers pending, skip the
  // clock read too. (seq_cst only because NextDeadline() serves the
  // handshake; this skip needs no ordering, the wheel is read under mu_.)
  const uint64_t next = NextDeadline();
  if (next == kNever) return 0;
  const uint64_t now = NowMs();
  if (next > now) return 0;
  // Reused per thread, so firing allocates nothing once warm. The wakers are
  // taken under the lock; after it, an entry that only wakes may already be
  // gone, and one with an action stays until its action_running clears.
  thread_local std::vector<TaskHeader*> fired;
  thread_local std::vector<TimerEntry*> actions;
  {
    MutexLock lock(&mu_);
    wheel_.Advance(now, [](TimerEntry* e) {
      if (e->action != nullptr) {
        // relaxed: published by the lock to CancelOrWait's Cancel.
        e->action_running.store(true, std::memory_order_relaxed);
        actions.push_back(e);
      } else {
        fired.push_back(std::exchange(e->waker, nullptr));
      }
    });
    UpdateNext();
  }
  const size_t n = fired.size() + actions.size();
  for (TimerEntry* e : actions) {
    e->action(e->context);
    // release: the action's effects before the owner may free the entry;
    // pairs with the acquire load in CancelOrWait().
    e->action_running.store(false, std::memory_order_release);
  }
  actions.clear();
  for (TaskHeader* t : fired) {
    t->Wake();
    t->Unref();
  }
  fired.clear();
  return n;
}

}  // namespace tidepool::internal
