#ifndef TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_
#define TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_

#include <coroutine>

#include "runtime/internal/await_site.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

class Scheduler;

// The runtime the calling thread belongs to (a worker or a blocking-pool
// thread), or null.
Scheduler* CurrentScheduler();
void SetCurrentScheduler(Scheduler* scheduler);

// The calling thread's task and yield request; inline below, as a worker
// touches them several times per poll. constinit: no dynamic initialization,
// so other translation units read them without a TLS wrapper call.
extern constinit thread_local TaskHeader* tls_task;
extern constinit thread_local bool tls_yield_requested;

// The task being polled on the calling worker, or null.
inline TaskHeader* CurrentTask() { return tls_task; }
inline void SetCurrentTask(TaskHeader* task) { tls_task = task; }

// For awaitables, in await_suspend: records `awaiting` as the point where
// the current task resumes and returns the task, to be handed to whatever
// will wake it. Must happen before the wake-up is published. Throws
// std::logic_error outside a tidepool task.
[[noreturn]] void ThrowAwaitedOutsideATask();
inline TaskHeader* SuspendCurrentTask(std::coroutine_handle<> awaiting) {
  TaskHeader* task = tls_task;
  if (task == nullptr) ThrowAwaitedOutsideATask();
  task->set_resume_point(awaiting);
  // The co_await being evaluated: await_transform ran just before this, on
  // this thread (await_site.h).
  task->set_await_site(tls_await_site);
  return task;
}
// For yield_now, in await_suspend after SuspendCurrentTask: asks the worker
// to requeue the current task at the back once this poll returns. A flag on
// the worker's thread instead of a Wake(): the task is running, so nothing
// else can be racing for its state, and the CAS a Wake() costs is saved.
inline void RequestYield() { tls_yield_requested = true; }
// The worker, after each poll: whether the task asked to yield (and clears
// the request).
inline bool TakeYieldRequest() {
  const bool requested = tls_yield_requested;
  tls_yield_requested = false;
  return requested;
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_CONTEXT_H_
