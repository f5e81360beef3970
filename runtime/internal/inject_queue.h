#ifndef TIDEPOOL_RUNTIME_INTERNAL_INJECT_QUEUE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_INJECT_QUEUE_H_

#include <atomic>
#include <cstddef>

#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// The global run queue: spawns from outside the workers and overflow from
// full local queues. An intrusive FIFO list under a mutex; any thread may
// push or pop. After Close(), pushes are refused and the caller drops the
// task's queue reference instead.
class InjectQueue {
 public:
  // Returns false if the queue is closed (the runtime is shutting down).
  bool Push(TaskHeader* task) { return PushBatch(task, task, 1); }
  // Pushes the list first..last (linked through queue_next_) of n tasks.
  bool PushBatch(TaskHeader* first, TaskHeader* last, size_t n);
  // Pops up to `max` tasks into `out`; returns how many.
  size_t PopBatch(TaskHeader** out, size_t max);
  TaskHeader* Pop() {
    TaskHeader* task = nullptr;
    return PopBatch(&task, 1) == 1 ? task : nullptr;
  }
  // Refuses further pushes and drops the queue reference of everything still
  // queued.
  void CloseAndDrain();

  // Lock-free hint for parking decisions and metrics. seq_cst: it takes part
  // in the store-buffering handshake with parking workers (see idle.h).
  size_t Size() const { return len_.load(std::memory_order_seq_cst); }

 private:
  Mutex mu_;
  TaskHeader* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  TaskHeader* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> len_{0};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_INJECT_QUEUE_H_
