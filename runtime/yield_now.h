#ifndef TIDEPOOL_RUNTIME_YIELD_NOW_H_
#define TIDEPOOL_RUNTIME_YIELD_NOW_H_

// co_await tidepool::yield_now() gives the worker back: the task goes to the
// back of its worker's run queue and the tasks ahead of it run first. Use it
// to break up long computations. Only inside a tidepool task (elsewhere the
// co_await throws std::logic_error). Cost: one queue push (plus the wake-up
// check's fence when the queue was empty) and, when it is popped again, the
// queue's pop and one exchange; the task stays marked running meanwhile, so
// its state word is not touched unless it is woken or aborted while queued.

#include <coroutine>

#include "runtime/internal/context.h"

namespace tidepool {

class YieldAwaiter {
 public:
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> awaiting) const {
    // The worker requeues the task at the back once the coroutine has
    // suspended.
    internal::SuspendCurrentTask(awaiting);
    internal::RequestYield();
  }
  void await_resume() const noexcept {}
};

inline YieldAwaiter yield_now() { return {}; }

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_YIELD_NOW_H_
