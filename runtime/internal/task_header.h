#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_HEADER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_HEADER_H_

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <source_location>

#include "runtime/internal/block_cache.h"
#include "runtime/internal/task_names.h"
#include "runtime/internal/task_state.h"

namespace tidepool::internal {

class Scheduler;
class ChildTasks;
class ThreadWaiter;
struct IoOp;

// The part of every task the runtime touches: the lifecycle state and
// reference count (TaskState), the join waiter, and the intrusive links of
// the queues and the owned-task list.
//
// References: the owned-task list holds one until completion, a JoinHandle
// holds one, each queue entry holds one, each registered join waiter holds
// one on the waiting task. The last Unref deletes the task.
class TaskHeader {
 public:
  // Task cells not built inside a frame's block (CoroTask) come from the
  // per-thread block cache (block_cache.h); the virtual destructor makes
  // `delete this` pass the most-derived size.
  static void* operator new(size_t n) { return AllocateTaskMemory(n); }
  static void operator delete(void* p, size_t n) noexcept {
    FreeTaskMemory(p, n);
  }

  // scheduler is null for blocking-pool tasks, which are never woken.
  TaskHeader(Scheduler* scheduler, uint32_t initial_refs)
      : scheduler_(scheduler), state_(initial_refs), id_(NextTaskId()) {}
  TaskHeader(const TaskHeader&) = delete;
  TaskHeader& operator=(const TaskHeader&) = delete;

  // Any holder of a reference.
  void Ref() { state_.Ref(); }
  // Drops `n` references held by the caller; the last one destroys the task.
  void Unref(uint32_t n = 1) {
    if (state_.Unref(n)) Destroy();
  }

  // Any thread. Makes the task runnable: schedules it when idle, marks it
  // notified when running (the worker reschedules it after the poll), does
  // nothing when already scheduled or complete. From a thread that is not
  // one of the task's runtime's workers it may race the runtime's
  // destruction, and runs in an OutsideWakeScope (outside_wakes.h).
  void Wake();

  // Any thread. Requests cancellation: the task is destroyed at its next
  // suspension point (or before it first runs) and its JoinHandle reports
  // cancellation. A blocking task that has not started is skipped.
  void Abort();  // same scope as Wake()

  // Any thread but the one polling this task. Cancels the task before
  // returning: a task suspended or queued is claimed as a worker would
  // claim it and its frame destroyed here, so whatever the frame had in
  // flight (a socket read into the caller's buffer) is withdrawn by then;
  // a task being polled is waited for, as a poll runs only until the next
  // suspension point. For timeout(), select() and when_all(), whose
  // branches may borrow from a caller whose frame is being destroyed. A
  // blocking task gets Abort().
  void CancelHere();

  bool IsComplete() const { return state_.IsComplete(); }
  bool IsCancelRequested() const { return state_.IsCancelRequested(); }

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
  // The scheduler's side of the lifecycle (TransitionToRunning/Idle).
  TaskState& state() { return state_; }
  const TaskState& state() const { return state_; }
  // Whether the task has a name (task_names.h). Any holder of a reference.
  bool IsNamed() const { return state_.IsNamed(); }
  // NameTask(), before the task is shared.
  void MarkNamedUnshared() { state_.SetNamedUnshared(); }
  // Whether a listener waits for the frame's end (task_end_listeners.h).
  bool IsTracked() const { return state_.IsTracked(); }
  // ListenForTaskEnd(), before the task is shared.
  void MarkTrackedUnshared() { state_.SetTrackedUnshared(); }

  // The inject queue's link: the thread pushing the task writes it before
  // the push publishes the task (a release CAS on the queue's pushed stack,
  // or its mutex), and the thread that takes it reads and rewrites it after
  // that (the acquire, or under the mutex); nobody else touches it.
  TaskHeader* queue_next() const { return queue_next_; }
  void set_queue_next(TaskHeader* next) { queue_next_ = next; }

  // The innermost suspended coroutine of this task: set by an awaitable in
  // await_suspend before it publishes a wake-up, resumed by the next Poll().
  void set_resume_point(std::coroutine_handle<> h) { resume_point_ = h; }

  // What the task is suspended in that must end before its frame can go,
  // if anything: an I/O operation (set by the awaitable after the driver
  // took it, IoAwaitable::await_suspend), or the spawned children of a
  // select(), when_all() or timeout() that may borrow from the frame
  // (child_tasks.h). Cleared by the worker before each poll. Only the
  // thread that owns the frame reads or writes it (TaskState's rule 1); the
  // state word's release/acquire hands it on with the frame. A worker that
  // claims the task to cancel it reads it to leave the frame alone until
  // the driver lets go of the op, or the children have ended
  // (Scheduler::CancelClaimed).
  IoOp* in_flight_op() const {
    return (in_flight_ & kChildrenTag) ? nullptr
                                       : reinterpret_cast<IoOp*>(in_flight_);
  }
  ChildTasks* in_flight_children() const {
    return (in_flight_ & kChildrenTag)
               ? reinterpret_cast<ChildTasks*>(in_flight_ & ~kChildrenTag)
               : nullptr;
  }
  void set_in_flight_op(IoOp* op) {
    in_flight_ = reinterpret_cast<uintptr_t>(op);
  }
  void set_in_flight_children(ChildTasks* children) {
    in_flight_ = reinterpret_cast<uintptr_t>(children) | kChildrenTag;
  }
  void clear_in_flight() { in_flight_ = 0; }

  // Any thread holding a reference, while the task's JoinHandle lives and
  // no other task awaits it. Registers `waiter` to be woken when this task
  // completes, unless it is registered already (the waiter is suspended in
  // a co_await on this task's JoinHandle). Returns false, registering
  // nothing, if the task is already complete.
  bool WakeOnCompletion(TaskHeader* waiter);

  // The co_await the task is suspended at (await_site.h): written by the
  // polling thread at each suspension, read by Runtime::dump() from any
  // thread holding a reference. relaxed both ways: a report, not a
  // synchronisation; the value read is some suspension's site, whole.
  void set_await_site(std::source_location site) {
    await_site_.store(site, std::memory_order_relaxed);
  }
  std::source_location await_site() const {
    return await_site_.load(std::memory_order_relaxed);
  }

 protected:
  virtual ~TaskHeader() {
    if (IsNamed()) ForgetTaskName(id_);
  }
  // Ends the cell's life and frees its memory; the last Unref calls it.
  virtual void Destroy() { delete this; }
  virtual void DestroyFrame() = 0;
  virtual void StoreCancelled() = 0;

  std::coroutine_handle<> resume_point_;

 private:
  // Both are at least 2-aligned (checked in task_header.cc); the low bit
  // tells them apart.
  static constexpr uintptr_t kChildrenTag = 1;
  // An IoOp*, or a ChildTasks* | kChildrenTag, or 0.
  uintptr_t in_flight_ = 0;
  std::atomic<std::source_location> await_site_{};

  // The owned-task list's links, which only it reads and writes.
  friend class OwnedTasks;
  static constexpr int32_t kNotOwned = -1;

  static constexpr uintptr_t kJoinDone = 1;
  static constexpr uintptr_t kThreadWaiterTag = 2;
  // Compared for equality before any other reading: a TaskHeader* is
  // 8-aligned and a ThreadWaiter* always carries kThreadWaiterTag, so
  // neither can equal it.
  static constexpr uintptr_t kDetached = 4;

  // Installs `tagged` as the join waiter if none is. Returns 0 if it did,
  // else the word found: kJoinDone, kDetached or an installed waiter.
  uintptr_t TryInstallJoinWaiter(uintptr_t tagged);
  // TryInstallJoinWaiter(), true if installed, false once complete; throws
  // std::logic_error if a waiter is installed already.
  bool InstallJoinWaiter(uintptr_t tagged);
  // A Wake() or Abort() on this thread may outlive the runtime unless
  // scoped (outside_wakes.h).
  bool NeedsOutsideWakeScope() const;
  // Ids come from a process-wide counter in per-thread batches, so a spawn
  // touches a shared cache line only once per batch.
  static uint64_t NextTaskId();

  Scheduler* const scheduler_;
  TaskState state_;
  const uint64_t id_;
  // 0, a TaskHeader* (holding a ref), a ThreadWaiter* | kThreadWaiterTag,
  // kJoinDone once completion has taken it, or kDetached once the handle is
  // gone.
  std::atomic<uintptr_t> join_waiter_{0};

  TaskHeader* queue_next_ = nullptr;
  // The list the task joined (kNotOwned if refused); its slot in a worker's
  // table; its links in a shard; the link of a worker table's stack of
  // tasks completed on other threads. A task is in a shard or in a table,
  // never both, so the shard's back link and the table's stack link share
  // their storage: the header stays at 96 bytes, with await_site_ and
  // in_flight_, and a CoroTask<void> on two cache lines.
  int32_t owned_list_ = kNotOwned;
  uint32_t owned_slot_ = 0;
  union {
    TaskHeader* owned_prev_ = nullptr;  // a shard's task
    TaskHeader* owned_returned_next_;   // a worker table's task
  };
  TaskHeader* owned_next_ = nullptr;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_HEADER_H_
