#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_END_LISTENERS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_END_LISTENERS_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tidepool::internal {

class TaskHeader;

// Told once when a task's coroutine frame is gone: the task returned or
// threw, or abort or shutdown destroyed it. TaskTracker counts its tasks
// this way, without a wrapper coroutine around each (whose frame an idle
// connection task would carry for its whole life).
class TaskEndListener {
 public:
  virtual ~TaskEndListener() = default;
  // On the thread that ended the frame, right after; must not block.
  virtual void TaskEnded() = 0;
};

// The listeners, in a process-wide table keyed by task id: a side table, so
// that a task nobody listens to pays one flag test (kTracked, TaskState) at
// its end. A listened-to task pays a lock and an entry at its spawn and at
// its end.

// The spawner, before the task is shared: `listener` hears of its end.
// One listener per task.
void ListenForTaskEnd(TaskHeader* task,
                      std::shared_ptr<TaskEndListener> listener);

// The frame's end, for a task with kTracked: tells its listener and drops
// the entry.
void TaskFrameEnded(uint64_t id);

// Entries in the table. Any thread; for tests.
size_t TaskEndListenerCount();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_END_LISTENERS_H_
