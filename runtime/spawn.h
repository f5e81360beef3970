#ifndef TIDEPOOL_RUNTIME_SPAWN_H_
#define TIDEPOOL_RUNTIME_SPAWN_H_

// spawn(task) and spawn_blocking(f) from inside a runtime: on one of its
// worker or blocking-pool threads, they reach that runtime. Elsewhere they
// throw std::logic_error; use Runtime::spawn from outside.
//
//   tidepool::JoinHandle<int> h = tidepool::spawn(Compute(7));
//   int n = co_await tidepool::spawn_blocking([] { return ReadFile(); });
//
// Cost: spawn builds the task cell in the room the frame's allocation kept
// for it (no allocation) and queues it (on a worker: its LIFO slot, no
// lock); spawn_blocking allocates a cell and hands it to an idle
// pool thread (one lock, one wake-up) or starts one. While the pool's calls
// run under about 20 us on average, a call that finds a pool thread being
// woken waits in line instead of waking another (docs/architecture.md, "The
// blocking pool").
//
// A spawned task waits in the spawning worker's LIFO slot, to run there
// as soon as the spawner suspends. If the spawner goes on computing (or
// blocks) instead, the runtime's monitor moves the task where another
// worker runs it, typically half a millisecond later (docs/architecture.md,
// "The LIFO slot and the monitor"); with one worker it waits. Still, a task
// should await what it spawns (co_await the handle, a channel, a Notify)
// rather than spin or block on it, which holds a worker; blocking work
// belongs in spawn_blocking.

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/join_handle.h"
#include "runtime/task.h"

namespace tidepool {

namespace internal {
inline Scheduler* CurrentSchedulerOrThrow(const char* what) {
  Scheduler* s = CurrentScheduler();
  if (s == nullptr) {
    throw std::logic_error(std::string("tidepool::") + what +
                           " called outside a runtime thread");
  }
  return s;
}
}  // namespace internal

// On a worker or blocking thread of a runtime: spawns `task` on that
// runtime. Elsewhere throws std::logic_error.
template <typename T>
JoinHandle<T> spawn(Task<T> task) {
  return internal::JoinHandleAccess<T>::Make(
      internal::CurrentSchedulerOrThrow("spawn")->Spawn(std::move(task)));
}

// On a worker or blocking thread of a runtime: runs f() on that runtime's
// blocking pool. Elsewhere throws std::logic_error.
template <typename F>
auto spawn_blocking(F&& f) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  return internal::JoinHandleAccess<R>::Make(
      internal::CurrentSchedulerOrThrow("spawn_blocking")
          ->SpawnBlocking(std::forward<F>(f)));
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SPAWN_H_
