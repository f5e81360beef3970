#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_LOCALS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_LOCALS_H_

namespace tidepool::internal {

class TaskHeader;

// The TaskLocal scopes open in a task, innermost first (task_local.h). A
// side table keyed by task rather than a field of TaskHeader: a spawn pays
// nothing for a feature most tasks never use, and the table costs a lock
// and a lookup only to the tasks that do.
struct LocalEntry {
  const void* key;
  const void* value;
  LocalEntry* next;
};

// Any thread; the calls for one task come from whoever polls it.
LocalEntry* TaskLocalsHead(const TaskHeader* task);
// Makes `entry` the head of `task`'s list (entry->next is set to the old
// head).
void PushTaskLocal(const TaskHeader* task, LocalEntry* entry);
// Removes the head, which must be `entry`.
void PopTaskLocal(const TaskHeader* task, LocalEntry* entry);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_LOCALS_H_
