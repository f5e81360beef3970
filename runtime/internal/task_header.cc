#include "runtime/internal/task_header.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <thread>

#include "runtime/internal/child_tasks.h"
#include "runtime/internal/context.h"
#include "runtime/internal/io/io_driver.h"
#include "runtime/internal/outside_wakes.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/thread_waiter.h"

namespace tidepool::internal {

// TaskHeader::in_flight_ tells the two apart by the low bit.
static_assert(alignof(ChildTasks) > 1 && alignof(IoOp) > 1);

void TaskHeader::Wake() {
  std::optional<OutsideWakeScope> scope;
  if (NeedsOutsideWakeScope()) scope.emplace();
  if (state_.TransitionToNotified()) {
    Ref();  // the queue's reference
    scheduler_->Schedule(this);
  }
}

void TaskHeader::Abort() {
  std::optional<OutsideWakeScope> scope;
  if (NeedsOutsideWakeScope()) scope.emplace();
  if (state_.TransitionToAborted(scheduler_ != nullptr)) {
    Ref();  // the queue's reference
    scheduler_->Schedule(this);
  }
}

bool TaskHeader::NeedsOutsideWakeScope() const {
  // A blocking task is never queued on a scheduler; the runtime's own
  // workers are joined before it is freed.
  return scheduler_ != nullptr && !Scheduler::IsWorkerOf(scheduler_);
}

void TaskHeader::CancelHere() {
  if (scheduler_ == nullptr) {
    Abort();
    return;
  }
  while (true) {
    switch (state_.TransitionToCancelClaimed()) {
      case TaskState::CancelClaim::kClaimed:
        CancelNow();
        return;
      case TaskState::CancelClaim::kDone:
        return;
      case TaskState::CancelClaim::kBusy:
        // The poll ends at the task's next suspension point. A worker
        // serves its own I/O meanwhile: the poller may be waiting for this
        // worker's ring (a cancellation handed over to it).
        if (Scheduler* own = CurrentScheduler()) own->io().Poll();
        std::this_thread::yield();
        break;
    }
  }
}

uintptr_t TaskHeader::TryInstallJoinWaiter(uintptr_t tagged) {
  uintptr_t expected = 0;
  // acq_rel: release publishes the waiter and its reference (pairs with the
  // acquire exchange in Complete()); acquire on failure, on kJoinDone: the
  // stored result (pairs with that exchange's release).
  join_waiter_.compare_exchange_strong(
      expected, tagged, std::memory_order_acq_rel, std::memory_order_acquire);
  return expected;
}

bool TaskHeader::InstallJoinWaiter(uintptr_t tagged) {
  const uintptr_t found = TryInstallJoinWaiter(tagged);
  if (found == 0) return true;
  if (found != kJoinDone) {
    throw std::logic_error("tidepool: a JoinHandle is awaited twice at once");
  }
  return false;
}

bool TaskHeader::SetJoinWaiter(TaskHeader* waiter) {
  waiter->Ref();
  bool installed = false;
  try {
    installed = InstallJoinWaiter(reinterpret_cast<uintptr_t>(waiter));
  } catch (...) {
    waiter->Unref();
    throw;
  }
  if (!installed) waiter->Unref();
  return installed;
}

bool TaskHeader::WakeOnCompletion(TaskHeader* waiter) {
  const uintptr_t tagged = reinterpret_cast<uintptr_t>(waiter);
  waiter->Ref();  // the registration's, as SetJoinWaiter() takes
  const uintptr_t found = TryInstallJoinWaiter(tagged);
  if (found == 0) return true;
  waiter->Unref();
  // Registered already by the waiter's own co_await on the handle, whose
  // registration holds its reference.
  if (found == tagged) return true;
  // Anything else but completion (a dropped handle, another waiter) would
  // let the waiter's frame go while this task may still borrow from it.
  if (found != kJoinDone) {
    std::fputs(
        "tidepool: internal error: a child task's completion cannot "
        "be watched\n",
        stderr);
    std::abort();
  }
  return false;
}

bool TaskHeader::SetJoinWaiter(ThreadWaiter* waiter) {
  return InstallJoinWaiter(reinterpret_cast<uintptr_t>(waiter) |
                           kThreadWaiterTag);
}

void TaskHeader::ClearJoinWaiter(TaskHeader* waiter) {
  uintptr_t expected = reinterpret_cast<uintptr_t>(waiter);
  // On failure completion already took the waiter and owns its reference.
  // acq_rel, more than needed: Complete()'s exchange, the only other
  // writer, then finds 0 and reads nothing through it. relaxed on failure:
  // we read nothing of kJoinDone.
  if (join_waiter_.compare_exchange_strong(
          expected, 0, std::memory_order_acq_rel, std::memory_order_relaxed)) {
    waiter->Unref();
  }
}

void TaskHeader::CancelNow() {
  // Frame destructors may wake or spawn; they run as part of this task.
  TaskHeader* const outer = CurrentTask();
  SetCurrentTask(this);
  DestroyFrame();
  SetCurrentTask(outer);
  StoreCancelled();
  Complete();
}

void TaskHeader::Complete(uint32_t caller_refs) {
  // Before the completion is visible, so that whoever sees it also sees the
  // hook done.
  if (scheduler_) scheduler_->TaskTerminating(*this);
  const int worker =
      scheduler_ ? scheduler_->CurrentWorker() : OwnedTasks::kNotAWorker;
  // Before the completion is visible, so that whoever sees it also sees the
  // task gone from the runtime's count of live tasks.
  if (scheduler_) scheduler_->owned().Completed(this, worker);
  // relaxed: kDetached is final (no handle is left to register a waiter)
  // and publishes nothing we need; missing it only costs the slow path.
  if (join_waiter_.load(std::memory_order_relaxed) == kDetached &&
      scheduler_ != nullptr && scheduler_->owned().FreeOwnSlot(this, worker)) {
    // Nobody can join, and the list's reference is ours to drop with the
    // caller's: publish completion and drop them in one step.
    if (state_.TransitionToCompleteAndUnref(1 + caller_refs)) Destroy();
    return;
  }
  state_.TransitionToComplete();
  // relaxed: as above; a task nobody can join skips the exchange.
  uintptr_t waiter = join_waiter_.load(std::memory_order_relaxed);
  if (waiter != kDetached) {
    // acq_rel: release the result to a waiter that sees kJoinDone (pairs
    // with the acquire in InstallJoinWaiter()); acquire the registration
    // (pairs with the release of its successful CAS).
    waiter = join_waiter_.exchange(kJoinDone, std::memory_order_acq_rel);
  }
  if (waiter == kDetached) {
    // The handle went while we completed: nobody to tell.
  } else if (waiter & kThreadWaiterTag) {
    reinterpret_cast<ThreadWaiter*>(waiter & ~kThreadWaiterTag)->Notify();
  } else if (waiter > kJoinDone) {
    TaskHeader* task = reinterpret_cast<TaskHeader*>(waiter);
    task->Wake();
    task->Unref();
  }
  // Last: the owned-task list's reference may be the task's last one.
  if (scheduler_) {
    scheduler_->ReleaseOwned(this, worker, caller_refs);
  } else if (caller_refs > 0) {
    Unref(caller_refs);
  }
}

uint64_t TaskHeader::NextTaskId() {
  constexpr uint64_t kBatch = 1024;
  // relaxed: ids need only be distinct, which the RMW guarantees.
  static std::atomic<uint64_t> next_batch{1};
  thread_local uint64_t next = 0;
  thread_local uint64_t end = 0;
  if (next == end) {
    next = next_batch.fetch_add(kBatch, std::memory_order_relaxed);
    end = next + kBatch;
  }
  return next++;
}

void TaskHeader::DropHandle() {
  // relaxed: Complete() only compares with kDetached and needs nothing
  // published; the handle registers no waiter any more (a JoinHandle must
  // outlive its co_await, and a combinator's guard, declared after its
  // handles, ends its children before they go, so no registration is live
  // here), and a completion that already took the word is not disturbed by
  // the store.
  join_waiter_.store(kDetached, std::memory_order_relaxed);
  Unref();
}

}  // namespace tidepool::internal
