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
// For yield_now, in await_suspend after SuspendCurrentTask: asks the worker
// to requeue the current task at the back once this poll returns. A flag on
// the worker's thread instead of a Wake(): the task is running, so nothing
// else can be racing for its state, and the CAS a Wake() costs is saved.
void RequestYield();
// The worker, after each poll: whether the task asked to yield (and clears
// the request).
bool TakeYieldRequest();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_
