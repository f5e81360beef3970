#ifndef TIDEPOOL_RUNTIME_TASK_BUILDER_H_
#define TIDEPOOL_RUNTIME_TASK_BUILDER_H_

// TaskBuilder: spawns a task with options; for now, its name.
//
//   tidepool::JoinHandle<void> h =
//       tidepool::TaskBuilder().name("accept-loop").spawn(AcceptLoop(l));
//   std::string name = h.name();  // "accept-loop"
//
// The name goes with every report the runtime makes about the task: the
// task hooks (task_hooks.h) and slow-poll reports (slow_poll.h); and
// JoinHandle::name() reads it back. Names need not be unique; "" means no
// name. A name lives as long as the task's cell: until the task has
// finished and its JoinHandle is gone.
//
// spawn(task) works where tidepool::spawn does (on a worker or blocking
// thread of a runtime; elsewhere it throws std::logic_error); spawn_on(task,
// handle) from any thread, as Handle::spawn does.
//
// Cost: without a name, a spawn costs what tidepool::spawn costs. With one,
// it also copies the name into a process-wide table under a lock, and
// takes that lock again to drop the entry when the task's cell goes; only
// tasks with a name pay (docs/architecture.md, "Observability").
//
// A TaskBuilder is a plain value: build once, spawn many tasks from it,
// copy it; use one from one thread at a time.

#include <string>
#include <utility>

#include "runtime/handle.h"
#include "runtime/join_handle.h"
#include "runtime/spawn.h"
#include "runtime/task.h"

namespace tidepool {

class TaskBuilder {
 public:
  // The name of the tasks spawned from now on; "" for none.
  TaskBuilder& name(std::string name) {
    name_ = std::move(name);
    return *this;
  }

  // On a worker or blocking thread of a runtime: spawns `task` there, as
  // tidepool::spawn does. Elsewhere throws std::logic_error.
  template <typename T>
  JoinHandle<T> spawn(Task<T> task) const {
    return internal::JoinHandleAccess<T>::Make(
        internal::CurrentSchedulerOrThrow("TaskBuilder::spawn")
            ->SpawnNamed(std::move(task), name_));
  }

  // Any thread: spawns `task` on `handle`'s runtime, as Handle::spawn does
  // (throws std::logic_error once that runtime is shut down).
  template <typename T>
  JoinHandle<T> spawn_on(Task<T> task, const Handle& handle) const {
    return internal::JoinHandleAccess<T>::Make(
        handle.Locked()->SpawnNamed(std::move(task), name_));
  }

 private:
  std::string name_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TASK_BUILDER_H_
