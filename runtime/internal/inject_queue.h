#ifndef TIDEPOOL_RUNTIME_INTERNAL_INJECT_QUEUE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_INJECT_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// The global run queue: spawns from outside the workers and overflow from
// full local queues. Any thread may push or pop.
//
// Two halves, so that a thread feeding the runtime never waits for the
// workers draining it: pushes go on a lock-free stack (one CAS), and
// consumers, under a lock among themselves, take the whole stack at once,
// reverse it and keep it as a FIFO list, which they pop in batches. Order
// is FIFO overall: a consumer takes the stack only behind what the list
// already holds. Two sides, so that a thread spawning many tasks from
// outside never waits for the lock the workers hold. A batch is the
// exception: when the lock is free it goes straight onto the list
// (PushBatch explains why).
//
// After CloseAndDrain() pushes are refused: the queue drops the tasks'
// queue references itself.
class InjectQueue {
 public:
  void Push(TaskHeader* task) { PushBatch(task, task, 1); }
  // Pushes the list first..last (linked through queue_next()) of n tasks.
  void PushBatch(TaskHeader* first, TaskHeader* last, size_t n);
  // Pops up to `max` tasks into `out`; returns how many.
  size_t PopBatch(TaskHeader** out, size_t max);
  TaskHeader* Pop() {
    TaskHeader* task = nullptr;
    return PopBatch(&task, 1) == 1 ? task : nullptr;
  }
  // Refuses further pushes and drops the queue reference of everything still
  // queued.
  void CloseAndDrain();
  // Tasks pushed and not yet popped (for a moment, counted before they can
  // be popped). A lock-free hint for parking decisions and metrics.
  // seq_cst: the worker's side of the store-buffering handshake (idle.h);
  // pairs with the fetch_add in PushBatch() through the fences in
  // Scheduler::Park() and Idle::WorkerToNotify().
  size_t Size() const { return len_.load(std::memory_order_seq_cst); }

 private:
  static TaskHeader* Closed() {
    return reinterpret_cast<TaskHeader*>(uintptr_t{1});
  }
  // Drops the queue reference of every task in `list`; returns how many.
  static size_t UnrefList(TaskHeader* list);
  // Moves the pushed stack behind the list, oldest first.
  void TakePushed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the list first..last (linked through queue_next()) behind the list.
  void Append(TaskHeader* first, TaskHeader* last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The stack of pushes, newest on top, linked through queue_next(); or
  // Closed(). release on push (PushBatch) / acquire on take (TakePushed,
  // CloseAndDrain): the taker reads the links and the tasks.
  std::atomic<TaskHeader*> pushed_{nullptr};
  Mutex mu_;
  TaskHeader* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  TaskHeader* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  // A count: seq_cst on the increment, for the handshake (Size()); relaxed
  // on the decrements, which only lower a hint.
  std::atomic<size_t> len_{0};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_INJECT_QUEUE_H_
