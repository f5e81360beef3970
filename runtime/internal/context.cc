#include "runtime/internal/context.h"

#include <stdexcept>
#include <utility>

#include "runtime/internal/await_site.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

constinit thread_local std::source_location tls_await_site;
namespace {
thread_local Scheduler* tls_scheduler = nullptr;
thread_local TaskHeader* tls_task = nullptr;
thread_local bool tls_yield_requested = false;
}  // namespace

Scheduler* CurrentScheduler() { return tls_scheduler; }
void SetCurrentScheduler(Scheduler* scheduler) { tls_scheduler = scheduler; }

TaskHeader* CurrentTask() { return tls_task; }
void SetCurrentTask(TaskHeader* task) { tls_task = task; }

TaskHeader* SuspendCurrentTask(std::coroutine_handle<> awaiting) {
  TaskHeader* task = tls_task;
  if (task == nullptr) {
    throw std::logic_error(
        "tidepool: a runtime awaitable was awaited outside a tidepool task");
  }
  task->set_resume_point(awaiting);
  // The co_await being evaluated: await_transform ran just before this, on
  // this thread (await_site.h).
  task->set_await_site(tls_await_site);
  return task;
}

void RequestYield() { tls_yield_requested = true; }

bool TakeYieldRequest() { return std::exchange(tls_yield_requested, false); }

}  // namespace tidepool::internal
