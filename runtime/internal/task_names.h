#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_NAMES_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_NAMES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tidepool::internal {

class TaskHeader;

// The names of tasks spawned through TaskBuilder::name (task_builder.h), in
// a process-wide table keyed by task id. A side table rather than a field of
// TaskHeader, so that a spawn without a name pays nothing: such a task has
// no entry and its kNamed flag (TaskState) is clear, so reading its name
// costs a load of its state word and no lock. A named task pays a lock and
// a table entry at its spawn and at its destruction.

// The spawner, before the task is shared: gives it `name` (not empty).
void NameTask(TaskHeader* task, std::string name);

// The task's name, or "" for an unnamed one. Any thread holding a
// reference to the task; the view stays valid as long as that reference.
std::string_view TaskName(const TaskHeader& task);

// The task's destructor, for a named task: drops its entry.
void ForgetTaskName(uint64_t id);

// Entries in the table: the named tasks whose cells are alive. Any thread;
// for tests that names go with their tasks.
size_t NamedTaskCount();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_NAMES_H_
