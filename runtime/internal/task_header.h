#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_HEADER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_HEADER_H_

#include <atomic>
#include <coroutine>
#include <cstdint>

#include "runtime/internal/block_cache.h"

namespace tidepool::internal {

class Scheduler;
class ThreadWaiter;

// The part of every task the runtime touches: reference count, the state word
// that decides who may run the task, the join waiter, and queue links.
//
// State word (state_): bits below. Invariants, relied on by every CAS:
// - at most one of kScheduled / kRunning is set, except during the single
//   CAS that moves a task from one to the other (and on a task CancelHere
//   claimed in a queue, which no worker polls again);
// - only the thread that performed the kScheduled -> kRunning transition,
//   or that took the yield claim of a task a yield requeued in kRunning (a
//   worker, CancelHere, or the shutdown sweep once workers are joined),
//   touches the coroutine frame;
// - kComplete is set once, after the result is stored, and never cleared.
//
// References: the owned-task list holds one until completion, a JoinHandle
// holds one, each queue entry holds one, each registered join waiter holds
// one on the waiting task. The last Unref deletes the task. The count lives
// in the state word's upper bits (kRefOne each), so that completing a task
// nobody can join publishes kComplete and drops the last references in one
// atomic; every CAS above keeps those bits as it found them.
class TaskHeader {
 public:
  static constexpr uint32_t kScheduled = 1;
  static constexpr uint32_t kRunning = 2;
  static constexpr uint32_t kNotified = 4;
  static constexpr uint32_t kComplete = 8;
  static constexpr uint32_t kCancelled = 16;
  static constexpr int kRefShift = 6;
  static constexpr uint32_t kRefOne = uint32_t{1} << kRefShift;
  static_assert(kCancelled < kRefOne, "the flags must stay below the count");

  // Task cells not built inside a frame's block (CoroTask) come from the
  // per-thread block cache (block_cache.h); the virtual destructor makes
  // `delete this` pass the most-derived size.
  static void* operator new(size_t n) { return AllocateTaskMemory(n); }
  static void operator delete(void* p, size_t n) noexcept {
    FreeTaskMemory(p, n);
  }

  // scheduler is null for blocking-pool tasks, which are never woken.
  TaskHeader(Scheduler* scheduler, uint32_t initial_refs)
      : scheduler_(scheduler),
        state_(initial_refs * kRefOne),
        id_(NextTaskId()) {}
  TaskHeader(const TaskHeader&) = delete;
  TaskHeader& operator=(const TaskHeader&) = delete;

  // Relaxed: taking a reference needs no ordering, as the caller already
  // holds one that keeps the task alive.
  void Ref() { state_.fetch_add(kRefOne, std::memory_order_relaxed); }
  // acq_rel: every prior use of the task by any holder must happen before the
  // delete done by whoever drops the last reference. Drops `n` references
  // held by the caller in one step.
  void Unref(uint32_t n = 1) { UnrefSetting(n, 0); }

  // Any thread. Makes the task runnable: schedules it when idle, marks it
  // notified when running (the worker reschedules it after the poll), does
  // nothing when already scheduled or complete.
  void Wake();

  // Any thread. Requests cancellation: the task is destroyed at its next
  // suspension point (or before it first runs) and its JoinHandle reports
  // cancellation. A blocking task that has not started is skipped.
  void Abort();

  // Any thread but the one polling this task. Cancels the task before
  // returning: a task suspended or queued is claimed as a worker would
  // claim it and its frame destroyed here, so whatever the frame had in
  // flight (a socket read into the caller's buffer) is withdrawn by then;
  // a task being polled is waited for, as a poll runs only until the next
  // suspension point. For timeout() and select(), whose branches may borrow
  // from a caller that is being destroyed. A blocking task gets Abort().
  void CancelHere();

  // acquire: pairs with the release in Complete(), making the stored result
  // visible to the caller.
  bool IsComplete() const {
    return state_.load(std::memory_order_acquire) & kComplete;
  }
  bool IsCancelRequested() const {
    return state_.load(std::memory_order_acquire) & kCancelled;
  }

  // Registers `waiter` to be woken when this task completes. Returns false,
  // registering nothing, if the task is already complete.
  bool SetJoinWaiter(TaskHeader* waiter);
  bool SetJoinWaiter(ThreadWaiter* waiter);
  // Withdraws a registration (the waiting task is being destroyed). Safe if
  // the waiter was already taken by completion.
  void ClearJoinWaiter(TaskHeader* waiter);

  // Worker side. Runs the task until it suspends or finishes; returns true
  // when finished (the result is stored).
  virtual bool Poll() = 0;
  // Owner side: destroys the frame (if any), stores a cancellation error and
  // completes. Only the thread that owns the frame may call it.
  void CancelNow();
  // Owner side: publishes completion and wakes the join waiter. Also drops
  // `caller_refs` of the caller's references, together with the owned-task
  // list's where it can (one atomic instead of two when a worker completes
  // its own task); with caller_refs > 0 the caller must not touch the task
  // afterwards.
  void Complete(uint32_t caller_refs = 0);
  // The JoinHandle is dropped: no waiter can register any more, so
  // completion need not look (one atomic less per detached task). Drops the
  // handle's reference.
  void DropHandle();

  Scheduler* scheduler() const { return scheduler_; }
  // Unique in the process (JoinHandle::id()).
  uint64_t id() const { return id_; }
  std::atomic<uint32_t>& state() { return state_; }

  // A yield puts the task back in a queue without leaving kRunning (no CAS
  // at the end of that poll or at the start of the next). Whoever takes it
  // out of that state, the worker that pops it or CancelHere(), takes this
  // claim first; exactly one of them gets true. release / acquire: the frame
  // as the yielding poll left it.
  void MarkYieldRequeued() {
    yield_requeued_.store(true, std::memory_order_release);
  }
  bool TakeYieldRequeued() {
    return yield_requeued_.exchange(false, std::memory_order_acq_rel);
  }

  static constexpr int32_t kNotOwned = -1;

  // Intrusive links. queue_next_ links the task into the inject queue: the
  // thread pushing it writes it before the push publishes the task (a
  // release CAS on the queue's pushed stack, or its mutex), and the thread
  // that takes it reads and rewrites it after that (the acquire, or under
  // the mutex); nobody else touches it. owned_* belong to OwnedTasks:
  // owned_list_ is the list the task joined (kNotOwned if refused);
  // owned_slot_ its slot in a worker's table, owned_prev_/owned_next_ its
  // links in a shard; owned_returned_next_ links a worker table's stack of
  // tasks completed on other threads.
  TaskHeader* queue_next_ = nullptr;
  int32_t owned_list_ = kNotOwned;
  uint32_t owned_slot_ = 0;
  TaskHeader* owned_prev_ = nullptr;
  TaskHeader* owned_next_ = nullptr;
  TaskHeader* owned_returned_next_ = nullptr;
  // The innermost suspended coroutine of this task: set by an awaitable in
  // await_suspend before it publishes a wake-up, read by the next Poll().
  std::coroutine_handle<> resume_point_;

 protected:
  virtual ~TaskHeader() = default;
  // Ends the cell's life and frees its memory; the last Unref calls it.
  virtual void Destroy() { delete this; }
  virtual void DestroyFrame() = 0;
  virtual void StoreCancelled() = 0;

 private:
  static constexpr uintptr_t kJoinDone = 1;
  static constexpr uintptr_t kThreadWaiterTag = 2;
  // Compared for equality before any other reading: a TaskHeader* is
  // 8-aligned and a ThreadWaiter* always carries kThreadWaiterTag, so
  // neither can equal it.
  static constexpr uintptr_t kDetached = 4;

  bool InstallJoinWaiter(uintptr_t tagged);
  [[noreturn]] static void RefCountUnderflow();
  // Ids come from a process-wide counter in per-thread batches, so a spawn
  // touches a shared cache line only once per batch.
  static uint64_t NextTaskId();
  // Unref(n) that also sets the flags `set` (none of them set yet) in the
  // same atomic, so that a completion can publish kComplete with it.
  void UnrefSetting(uint32_t n, uint32_t set) {
    const uint32_t before =
        state_.fetch_sub(n * kRefOne - set, std::memory_order_acq_rel);
    if (before / kRefOne == n) {
      Destroy();
    } else if (before / kRefOne < n) {
      RefCountUnderflow();  // a reference dropped twice: never silently
    }
  }

  Scheduler* const scheduler_;
  // Flags (kScheduled..kCancelled) below kRefOne, the reference count
  // above.
  std::atomic<uint32_t> state_;
  std::atomic<bool> yield_requeued_{false};
  const uint64_t id_;
  // 0, a TaskHeader* (holding a ref), a ThreadWaiter* | kThreadWaiterTag,
  // kJoinDone once completion has taken it, or kDetached once the handle is
  // gone.
  std::atomic<uintptr_t> join_waiter_{0};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_HEADER_H_
