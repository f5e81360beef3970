#include "runtime/internal/task_header.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/thread_waiter.h"

namespace tidepool::internal {

void TaskHeader::Wake() {
  // relaxed first read: the CAS below re-reads with the ordering that counts.
  uint32_t s = state_.load(std::memory_order_relaxed);
  while (true) {
    if (s & (kComplete | kScheduled)) return;
    if (s & kRunning) {
      if (s & kNotified) return;
      // acq_rel: whatever the waker wrote before waking (say, a message)
      // must be visible when the worker sees kNotified and polls again.
      if (state_.compare_exchange_weak(s, s | kNotified,
                                       std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return;
      }
      continue;
    }
    if (state_.compare_exchange_weak(s, s | kScheduled,
                                     std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      Ref();  // the queue's reference
      scheduler_->Schedule(this);
      return;
    }
  }
}

void TaskHeader::Abort() {
  uint32_t s = state_.load(std::memory_order_relaxed);
  while (true) {
    if (s & (kComplete | kCancelled)) return;
    // Whoever runs or will run the task sees kCancelled: the worker after
    // the current poll or before the next one, the blocking pool before it
    // starts the call.
    const bool someone_will_look =
        scheduler_ == nullptr || (s & (kRunning | kScheduled));
    const uint32_t next =
        someone_will_look ? (s | kCancelled) : (s | kCancelled | kScheduled);
    // acq_rel: orders the abort with the owner's transitions, like Wake().
    if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      if (!someone_will_look) {
        Ref();
        scheduler_->Schedule(this);
      }
      return;
    }
  }
}

void TaskHeader::CancelHere() {
  if (scheduler_ == nullptr) {
    Abort();
    return;
  }
  // acquire: a poll that ended elsewhere left the frame for us to destroy.
  uint32_t s = state_.load(std::memory_order_acquire);
  bool asked = false;
  while (true) {
    if (s & kComplete) return;
    if (s & kRunning) {
      if (!asked) {
        // Whoever runs it next cancels it instead of polling or requeueing
        // it: a task that yields in a loop on another worker could keep
        // winning its claim back before we look. relaxed: nothing to
        // publish; CancelNow() publishes completion.
        state_.fetch_or(kCancelled, std::memory_order_relaxed);
        asked = true;
      }
      // relaxed first look: the exchange only when there is a claim to take,
      // so that the wait does not write the task's line on every turn.
      if (yield_requeued_.load(std::memory_order_relaxed) &&
          TakeYieldRequeued()) {
        // Queued by a yield, still marked running: ours now. The worker
        // that pops it finds the claim gone and only drops its reference.
        CancelNow();
        return;
      }
      std::this_thread::yield();
      s = state_.load(std::memory_order_acquire);
      continue;
    }
    // Claimed like a worker claims a task it polls. A queue may still hold
    // it (kScheduled stays set): the worker that takes it sees kRunning or
    // kComplete and only drops the queue's reference.
    if (state_.compare_exchange_weak(s, s | kRunning | kCancelled,
                                     std::memory_order_acquire,
                                     std::memory_order_acquire)) {
      CancelNow();
      return;
    }
  }
}

bool TaskHeader::InstallJoinWaiter(uintptr_t tagged) {
  uintptr_t expected = 0;
  // acq_rel: release publishes the waiter to the completing thread; acquire
  // (on failure, kJoinDone) makes the stored result visible to us.
  if (join_waiter_.compare_exchange_strong(expected, tagged,
                                           std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
    return true;
  }
  if (expected != kJoinDone) {
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

bool TaskHeader::SetJoinWaiter(ThreadWaiter* waiter) {
  return InstallJoinWaiter(reinterpret_cast<uintptr_t>(waiter) |
                           kThreadWaiterTag);
}

void TaskHeader::ClearJoinWaiter(TaskHeader* waiter) {
  uintptr_t expected = reinterpret_cast<uintptr_t>(waiter);
  // On failure completion already took the waiter and owns its reference.
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
    // caller's: publish completion and drop them in one step (kComplete is
    // not set yet, so adding it carries into nothing). acq_rel: release as
    // below, and as Unref() for the delete.
    UnrefSetting(1 + caller_refs, kComplete);
    return;
  }
  // release: the result stored by the owner is visible to IsComplete().
  state_.fetch_or(kComplete, std::memory_order_release);
  // relaxed: as above; a task nobody can join skips the exchange.
  uintptr_t waiter = join_waiter_.load(std::memory_order_relaxed);
  if (waiter != kDetached) {
    // acq_rel: release for the waiter that reads the result after seeing
    // kJoinDone; acquire to see the waiter's registration in full.
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

void TaskHeader::RefCountUnderflow() {
  std::fprintf(stderr, "tidepool: a task's reference was dropped twice\n");
  std::abort();
}

void TaskHeader::DropHandle() {
  // relaxed: Complete() only compares with kDetached and needs nothing
  // published; the handle registers no waiter any more (a JoinHandle must
  // outlive its co_await, so no registration is live here), and a
  // completion that already took the word is not disturbed by the store.
  join_waiter_.store(kDetached, std::memory_order_relaxed);
  Unref();
}

}  // namespace tidepool::internal
