#ifndef TIDEPOOL_RUNTIME_TASK_INFO_H_
#define TIDEPOOL_RUNTIME_TASK_INFO_H_

// TaskInfo: one live task as Runtime::dump() reports it, and the text form
// of a dump.
//
//   for (const tidepool::TaskInfo& t : rt->dump()) {
//     if (t.state == tidepool::TaskInfo::State::kWaiting)
//       std::cerr << t.name << " waits at " << t.location << "\n";
//   }
//   std::cerr << rt->dump_text();
//
// A dump lists the tasks spawned on the runtime (spawn, TaskBuilder,
// Handle::spawn, block_on's task) that have not finished; blocking calls
// (spawn_blocking) are not tasks and are not listed. Each entry is a copy
// taken at one moment: the task may have moved on by the time it is read.
//
// `location` is the co_await the task is suspended at, in the innermost
// Task coroutine of the task (the one a nested `co_await Child()` got to),
// as "file:line" with the file as the compiler saw it (Bazel: the path
// from the workspace root). It is recorded by every co_await in a Task
// coroutine (task.h, Promise::await_transform) and kept with the task when
// it suspends. A task suspended at a co_await in a coroutine of another
// type than Task reports the last co_await a Task coroutine of its own
// evaluated before that.
//
// FormatTaskDump() / Runtime::dump_text() write one line per task, ordered
// by id, after a count:
//
//   tasks: 2
//   task 3 "sleeper" waiting at tests/runtime/dump_test.cc:42
//   task 7 "" running
//
// Names are quoted with C escapes (absl::CEscape), so that a line holds
// exactly one task whatever its name. Any thread may call these; they
// allocate and touch no task.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tidepool {

struct TaskInfo {
  enum class State {
    kScheduled,  // in a run queue, waiting for a worker
    kRunning,    // a worker is polling it (or cancelling it)
    kWaiting,    // suspended at a co_await until something wakes it
  };

  // JoinHandle::id(): unique in the process.
  uint64_t id = 0;
  // TaskBuilder::name(), or "" for an unnamed task.
  std::string name;
  State state = State::kScheduled;
  // For a kWaiting task, "file:line" of the co_await it is suspended at
  // (see above); "" otherwise.
  std::string location;
};

// "scheduled", "running" or "waiting".
std::string_view TaskStateName(TaskInfo::State state);

// The text form above, for `tasks` as Runtime::dump() returns them.
std::string FormatTaskDump(const std::vector<TaskInfo>& tasks);

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TASK_INFO_H_
