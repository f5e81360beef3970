#ifndef TIDEPOOL_RUNTIME_INTERNAL_AWAIT_SITE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_AWAIT_SITE_H_

#include <source_location>

namespace tidepool::internal {

// The source location of the co_await a Task coroutine evaluated last on
// this thread. Every co_await in a Task goes through the promise's
// await_transform (task.h), which stores its call site here, one pointer
// store, before the awaitable is looked at; an awaitable that suspends the
// task calls SuspendCurrentTask (context.h) right after, on the same
// thread, which copies it into the task (TaskHeader::await_site). So a
// suspended task's site is the co_await of its innermost Task coroutine.
//
// A thread-local rather than a field of the promise: the task only knows
// its innermost frame as a type-erased coroutine_handle, and a site copied
// at suspension lets Runtime::dump() read it without touching any frame.
// constinit: accessed directly, with no wrapper call for a lazy
// initialisation.
extern constinit thread_local std::source_location tls_await_site;

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_AWAIT_SITE_H_
