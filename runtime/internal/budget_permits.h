#ifndef TIDEPOOL_RUNTIME_INTERNAL_BUDGET_PERMITS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_BUDGET_PERMITS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "absl/container/inlined_vector.h"
#include "alloc/backend.h"
#include "runtime/internal/task_header.h"
#include "runtime/metrics.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool::internal {

// A task waiting in tidepool::budget_permit(). It lives in the awaiter, in
// the task's frame. Guarded, like the Waiter it extends, by the owner's
// mutex.
struct PermitWaiter : Waiter {
  std::chrono::steady_clock::time_point since;
  // Set by whoever grants the permit, as it unlinks the waiter; the permit
  // is then counted held on the task's behalf.
  bool granted = false;
};

// Which tasks hold a permit of the memory budget (tidepool::budget_permit)
// and which wait: the gate for memory a task allocates before any
// spawn_blocking call, which BudgetAdmission cannot reach.
//
// Permits are granted in FIFO order and never refused. A task waits while
// an earlier one waits, while spawn_blocking calls wait for admission
// (finishing work comes before taking on more), or while `limit` permits
// are held; with none held the oldest waiter is granted whatever the
// budget says, so waiting cannot deadlock on memory held outside permits.
//
// The limit starts at the CPU count and grows only when reached: a permit
// given back while `limit` were held (or tasks waited) raises it by one if
// the last sample was under half the budget, by one per `limit` such
// permits up to 7/8 of it, and not at all above. Growth waits for permits
// to come back rather than for a sample because a permit's memory shows up
// only over its holder's work (a body is read, then parsed, then
// answered): a sample right after a grant says nothing about it, and a
// quiet period leaves no headroom that a burst would then rush through.
//
// Each sample taken while permits are held also estimates what one permit
// accounts for: the most seen of (in-use - the in-use with no permit held,
// base_) / permits held, decaying by 1/32 a sample so that a lighter load is
// followed. The limit never exceeds what fits the permits' share of the
// budget (5/8, or all of it when the count holds the pages the allocator
// keeps free, as jemalloc's does) at that estimate, and a sample that lowers
// the cap lowers the limit at once: over the budget that is below the permits
// held, so none is granted until enough come back. The estimate charges permits
// with all memory above the start (task frames, caches, thread stacks, and on
// mimalloc the free pages it has not decommitted yet), which errs toward fewer.
//
// But the limit never falls below kFloor (or the CPU count, if smaller):
// with one permit a request's task and its blocking call take turns and a
// CPU idles, and when the estimate is mostly the allocator's own memory
// (mimalloc's undecommitted pages are 10-14 MB at one permit in the seed
// workload) it would hold the limit at one. A second permit costs one
// request's memory.
//
// Not thread-safe: the owner (BlockingPool) calls every method under its
// mutex, and samples for it.
class BudgetPermits {
 public:
  using Clock = std::chrono::steady_clock;
  // The share of the budget, in eighths, that the permits' estimated
  // memory may fill by default. The rest, with the quarter over the budget
  // that the peak may reach, is for what the allocator keeps free but
  // resident and does not count, glibc's free chunks between trims
  // (docs/architecture.md, "The memory budget"); a count that holds that
  // memory (jemalloc's, with its dirty pages) may take the whole budget.
  static constexpr uint64_t kShareEighths = 5;
  // The least the cap lowers the limit to (the CPU count if smaller): see
  // the class comment.
  static constexpr size_t kFloor = 2;
  // Tasks granted by one call of Grant(), each carrying the reference its
  // waiter held: the caller wakes them after its mutex is released.
  using Granted = absl::InlinedVector<TaskHeader*, 8>;

  // `budget` > 0 bytes; `cpus` the CPUs the runtime may use (0 counts as
  // 1), the first limit; `share_eighths` from 1 to 8 (clamped).
  BudgetPermits(size_t budget, int64_t first_sample, size_t cpus,
                uint64_t share_eighths = kShareEighths);

  // A task asks for a permit. True: granted, held until Release(). False:
  // `w` waits for `task`, in FIFO order, until Grant() hands it out or
  // Withdraw() takes it back; the caller gives it a reference on `task`.
  bool Acquire(PermitWaiter* w, TaskHeader* task, bool calls_waiting);
  // A held permit is given back.
  void Release();
  // For a waiter whose task is destroyed while it waits: unlinks it and
  // returns the task reference it held, for the caller to drop; or, when it
  // was granted but its task never took the permit, gives that permit back
  // and returns nullptr.
  TaskHeader* Withdraw(PermitWaiter* w);
  // Grants waiting tasks while the rules above allow, appending them to
  // `out`. After Release(), a sample, or the last call stopped waiting.
  void Grant(bool calls_waiting, Granted* out);
  // Applies a sample of the in-use bytes (negative: the source failed).
  void OnSample(int64_t in_use);

  bool HasWaiting() const { return !waiters_.empty(); }
  // Fills the permit fields of `m`.
  void AddMetrics(MemoryBudgetMetrics* m) const;

 private:
  // Whether one more permit may be held now, queue aside.
  bool Room(bool calls_waiting) const {
    return held_ == 0 || (!calls_waiting && held_ < limit_);
  }

  const size_t budget_;
  // share_eighths of the budget: what the permits' memory may fill.
  const uint64_t room_;
  // The in-use bytes with no permit held: what the estimate leaves out. The
  // first sample, lowered by any later one taken with none held, since the
  // first may include memory the process frees later (on jemalloc, pages
  // freed before the runtime was built and not purged yet).
  uint64_t base_;
  // min(kFloor, CPUs): the least the cap lets the limit fall to.
  const size_t floor_;
  WaitList waiters_;
  size_t waiting_ = 0;
  size_t held_ = 0;
  size_t limit_;
  // Permits given back at the limit since it last grew, in the band where
  // it grows by one per `limit` of them.
  size_t credit_ = 0;
  int64_t in_use_ = 0;
  // The bytes one held permit accounts for: the most seen per permit above
  // base_, decaying by 1/32 a sample so that a lighter load is followed.
  uint64_t per_permit_ = 0;
  // The most permits that fit room_ at per_permit_ each, and at least
  // floor_; the limit grows no further.
  uint64_t cap_ = UINT64_MAX;
  uint64_t granted_ = 0;
  uint64_t waited_ = 0;
  uint64_t wait_ns_ = 0;
};

// The permits' share of the budget, in eighths, when `kind` serves malloc:
// the whole budget on jemalloc, whose count holds the pages it has freed
// but not purged, the free memory the rest of the budget is otherwise for;
// BudgetPermits::kShareEighths elsewhere. glibc's count leaves its free
// chunks out, and mimalloc's, though resident, is mostly memory that stays
// whatever the permits: with the whole budget mimalloc held 9 permits where
// it held 2, and peaked 8 MB higher at the same speed.
uint64_t PermitShareEighths(alloc::Backend kind);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_BUDGET_PERMITS_H_
