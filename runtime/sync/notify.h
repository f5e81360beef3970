#ifndef TIDEPOOL_RUNTIME_SYNC_NOTIFY_H_
#define TIDEPOOL_RUNTIME_SYNC_NOTIFY_H_

// Notify: wakes tasks waiting for an event, carrying no data.
//
// co_await n.notified() waits for a notification.
// - notify_one() wakes the longest-waiting task; if none waits, it stores one
//   permit (at most one) that the next notified() consumes without waiting.
//   So a notify_one() that races ahead of the wait is not lost.
// - notify_waiters() wakes every task waiting right now and stores nothing.
//   A Notified created before the call (by notified()) but not yet awaited
//   completes at once too, so "create, check the condition, await" never
//   misses a notify_waiters() that lands between the check and the await.
// If a task that notify_one() picked is destroyed before it runs, the
// notification passes on to the next waiter (or becomes the permit).
//
// Any thread may call notify_one and notify_waiters; co_await notified()
// only inside a tidepool task. The Notify must outlive its waiters.
// Cost: each call takes an internal lock once and allocates nothing.
//
//   tidepool::Notify ready;
//   tidepool::Task<void> Consumer() {
//     co_await ready.notified();
//     Consume();
//   }
//   void Producer() { Produce(); ready.notify_one(); }

#include <atomic>
#include <coroutine>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool {

class Notify {
 public:
  Notify() = default;
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;

  // The awaitable returned by notified().
  class [[nodiscard]] Notified : private internal::Waiter {
   public:
    Notified(const Notified&) = delete;
    Notified& operator=(const Notified&) = delete;
    ~Notified();

    bool await_ready() const { return false; }
    bool await_suspend(std::coroutine_handle<> awaiting);
    void await_resume() { suspended_ = false; }

   private:
    friend class Notify;
    enum class Outcome { kPending, kNotifiedOne, kNotifiedAll };

    explicit Notified(Notify* notify);

    Notify* const notify_;
    // notify_->generation_ when this was created.
    const uint64_t generation_;
    // Written under notify_->mu_ by whoever dequeues us.
    Outcome outcome_ = Outcome::kPending;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  Notified notified() { return Notified(this); }

  void notify_one();
  void notify_waiters();

 private:
  void NotifyOneLocked(internal::WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  internal::Mutex mu_;
  internal::WaitList waiters_ ABSL_GUARDED_BY(mu_);
  bool permit_ ABSL_GUARDED_BY(mu_) = false;
  // Counts notify_waiters() calls; written under mu_, read without it when
  // a Notified is created: release in notify_waiters(), acquire in the
  // Notified constructor.
  std::atomic<uint64_t> generation_{0};
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_NOTIFY_H_
