#ifndef TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_
#define TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_

#include <coroutine>

namespace tidepool::internal {

class Scheduler;
class TaskHeader;

// The runtime the calling thread belongs to (a worker or a blocking-pool
// thread), or null.
Scheduler* CurrentScheduler();
void SetCurrentScheduler(Scheduler* scheduler);

// The task being polled on the calling worker, or null.
TaskHeader* CurrentTask();
void SetCurrentTask(TaskHeader* task);

// For awaitables, in await_suspend: records `awaiting` as the point where
// the current task resumes and returns the task, to be handed to whatever
// will wake it. Must happen before the wake-up is published. Throws
// std::logic_error outside a tidepool task.
TaskHeader* SuspendCurrentTask(std::coroutine_handle<> awaiting);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_
