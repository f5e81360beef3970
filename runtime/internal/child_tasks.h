#ifndef TIDEPOOL_RUNTIME_INTERNAL_CHILD_TASKS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_CHILD_TASKS_H_

#include <cstddef>
#include <span>

#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// The spawned children of a select(), when_all(), join_all() or general
// timeout(), which may borrow from the frame of the task that waits for
// them. When that task is aborted, its frame must not go before they have:
// the worker that claims it aborts the children and leaves the task
// suspended until the last one has ended (Scheduler::CancelClaimed), so no
// worker waits for a child polled elsewhere or for a child's I/O. The
// combinator's own destructors then find the children gone.
//
// Lives in the waiting task's frame. Only the thread that owns that frame
// touches it (TaskState's rule 1).
class ChildTasks {
 public:
  // `children` are the children's cells (null for an empty handle), owned
  // by the caller and alive as long as this object.
  explicit ChildTasks(std::span<TaskHeader* const> children)
      : children_(children) {}
  ChildTasks(const ChildTasks&) = delete;
  ChildTasks& operator=(const ChildTasks&) = delete;

  // Records the children in the current task for the duration of one
  // co_await, so that an abort while it is suspended there waits for them:
  //   { ChildTasks::Awaiting scope(children); co_await ...; }
  // The worker clears the record before the task's next poll; the scope
  // clears it when the co_await completed without suspending.
  class Awaiting {
   public:
    explicit Awaiting(ChildTasks& children);
    Awaiting(const Awaiting&) = delete;
    Awaiting& operator=(const Awaiting&) = delete;
    ~Awaiting();

   private:
    ChildTasks& children_;
    TaskHeader* task_;
  };

  // The owner of `parent`'s frame, which claimed it to cancel it. Aborts
  // every child (the first time) and registers `parent` to be woken when
  // the first child still alive completes. Returns false once every child
  // has completed, and with it destroyed its frame.
  bool AbortAndWatch(TaskHeader* parent);

 private:
  std::span<TaskHeader* const> children_;
  bool aborted_ = false;
  // Children before it have completed.
  size_t first_alive_ = 0;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_CHILD_TASKS_H_
