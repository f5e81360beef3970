#ifndef TIDEPOOL_RUNTIME_BUDGET_PERMIT_H_
#define TIDEPOOL_RUNTIME_BUDGET_PERMIT_H_

// budget_permit(): a task's turn to take on work under the memory budget
// (Builder::memory_budget).
//
// The budget holds spawn_blocking calls back while the allocator's in-use
// bytes are over it, but what a task allocates before its call (a request
// body read from a socket, a buffer filled for it) is out of that gate's
// reach, and with many connections it is most of the memory. A server
// bounds it by taking a permit before it takes on a request, and holding it
// until the request is answered:
//
//   while (auto head = co_await ReadHead(conn)) {
//     tidepool::BudgetPermit permit = co_await tidepool::budget_permit();
//     std::string body = co_await ReadBody(conn, *head);
//     co_await Respond(conn, co_await tidepool::spawn_blocking(...));
//   }  // the permit goes back here
//
// Permits are granted in FIFO order, never refused and never time out;
// spawn_blocking calls waiting for admission go first. The number held at
// once follows memory: it starts at the CPU count and grows by one for each
// permit given back at the limit while memory is under half the budget
// (more slowly up to 7/8 of it), but never past what fits 5/8 of the budget
// (all of it on jemalloc) at the most memory per permit that samples have
// seen; over the budget that is fewer than are held, but never fewer than
// two (one on a single CPU), so a request's task and its blocking call can
// overlap. While spawn_blocking calls wait for admission, a permit is
// granted only when none is held. With no permit held the oldest waiter is
// granted whatever the budget says, so memory held elsewhere cannot stall a
// server for good. docs/configuration.md ("The memory budget") has the
// whole rule.
//
// Without a budget, co_await budget_permit() completes at once with an
// empty permit and costs a few loads; with one, it takes a lock shared
// with the blocking pool, as does giving the permit back.
//
// From a task of a runtime (elsewhere it completes at once, empty). A task
// must not wait for a second permit while it holds one: like any
// semaphore's, that can wait for ever once memory stays over the budget.
// If the task is destroyed while it waits, it leaves the queue, and a
// permit granted to it meanwhile goes back. A BudgetPermit may be given
// back from any thread, but not after its Runtime is destroyed.

#include <coroutine>
#include <memory>

#include "runtime/internal/budget_permits.h"

namespace tidepool {

namespace internal {
class BlockingPool;
}  // namespace internal

// A permit held; given back when destroyed or reset. Empty (holding
// nothing) when the runtime has no budget, or once moved from.
class [[nodiscard]] BudgetPermit {
 public:
  BudgetPermit() = default;
  BudgetPermit(BudgetPermit&& other) noexcept = default;
  BudgetPermit& operator=(BudgetPermit&& other) noexcept;
  BudgetPermit(const BudgetPermit&) = delete;
  BudgetPermit& operator=(const BudgetPermit&) = delete;
  ~BudgetPermit();

  // Whether this holds a permit of a budget.
  bool held() const { return pool_ != nullptr; }
  // Gives the permit back now.
  void reset();

 private:
  friend class BudgetPermitAwaitable;
  explicit BudgetPermit(std::shared_ptr<internal::BlockingPool> pool)
      : pool_(std::move(pool)) {}

  std::shared_ptr<internal::BlockingPool> pool_;
};

// What budget_permit() returns; co_await it once.
class [[nodiscard]] BudgetPermitAwaitable {
 public:
  BudgetPermitAwaitable() = default;
  BudgetPermitAwaitable(const BudgetPermitAwaitable&) = delete;
  BudgetPermitAwaitable& operator=(const BudgetPermitAwaitable&) = delete;
  ~BudgetPermitAwaitable();

  bool await_ready();
  bool await_suspend(std::coroutine_handle<> awaiting);
  BudgetPermit await_resume();

 private:
  // The runtime's pool when it has a budget, else null.
  std::shared_ptr<internal::BlockingPool> pool_;
  internal::PermitWaiter waiter_;
  // Owner-only: true between a suspending await_suspend and await_resume.
  bool suspended_ = false;
};

// co_await: a permit of the current runtime's memory budget (above).
inline BudgetPermitAwaitable budget_permit() { return {}; }

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_BUDGET_PERMIT_H_
