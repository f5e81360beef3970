#ifndef TIDEPOOL_RUNTIME_TASK_HOOKS_H_
#define TIDEPOOL_RUNTIME_TASK_HOOKS_H_

// Task hooks: functions a Runtime calls when a task is spawned, before and
// after each of its polls, and when it terminates, each with the task's id
// and name (TaskMeta). Set them on the Builder (builder.h):
//
//   std::atomic<int> live{0};
//   auto rt = tidepool::Builder()
//       .on_task_spawn([&](const tidepool::TaskMeta&) { ++live; })
//       .on_task_terminate([&](const tidepool::TaskMeta&) { --live; })
//       .build();
//
// Which tasks: every task spawned on the runtime (spawn, Runtime::spawn,
// Handle::spawn, TaskBuilder, the task block_on runs, and the tasks that
// JoinSet, select and timeout spawn for their branches); not blocking calls.
//
// When, and on which thread:
// - on_task_spawn: once per task, on the spawning thread, after the task
//   got its name and before it can run. A spawn refused by drain() or
//   shutdown counts too: its task terminates at once, cancelled.
// - on_before_task_poll, on_after_task_poll: around every poll, on the
//   worker running it, always in pairs: "after" runs when the poll has
//   ended (the task suspended or finished) and before the task can be
//   polled again. Cancelling a task (abort(), shutdown) destroys it without
//   a poll.
// - on_task_terminate: once per task, when it finishes with a value, an
//   exception or cancellation, on the thread that finishes it (a worker, the
//   thread shutting the runtime down, one cancelling it), before its
//   JoinHandle sees the result.
// So each task sees its spawn hook, then zero or more before/after pairs,
// then its terminate hook, in that order.
//
// Hooks are called from several threads at once, for different tasks. They
// must be quick and must not block: they run on the runtime's threads, in
// the middle of its work. on_task_spawn must not spawn (it would call itself
// forever). An exception escaping a hook is reported on stderr and dropped.
//
// Cost: a hook that is not set costs one predictable branch where it would
// be called. A set hook costs a call, plus a lock to read the name of a
// named task.

#include <cstdint>
#include <functional>
#include <string_view>

namespace tidepool {

// What a hook or a slow-poll report is told about a task.
struct TaskMeta {
  // JoinHandle::id(): unique in the process.
  uint64_t id = 0;
  // The name given with TaskBuilder::name (task_builder.h), "" if none.
  // Valid during the call only.
  std::string_view name;
};

using TaskHook = std::function<void(const TaskMeta&)>;

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TASK_HOOKS_H_
