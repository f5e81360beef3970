#include "runtime/internal/task_end_listeners.h"

#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {
namespace {

// std::unordered_map rather than absl's flat map: an insert that runs out
// of memory must leave the table as it was (the spawn then fails, and the
// table goes on serving every other task), which the standard map
// guarantees and the flat map's growth does not.
struct Table {
  Mutex mu;
  std::unordered_map<uint64_t, std::shared_ptr<TaskEndListener>> listeners
      ABSL_GUARDED_BY(mu);
};

Table& TheTable() {
  static Table* table = new Table;  // never destroyed: tasks may outlive main
  return *table;
}

}  // namespace

void ListenForTaskEnd(TaskHeader* task,
                      std::shared_ptr<TaskEndListener> listener) {
  Table& t = TheTable();
  {
    MutexLock lock(&t.mu);
    t.listeners.insert_or_assign(task->id(), std::move(listener));
  }
  task->MarkTrackedUnshared();
}

void TaskFrameEnded(uint64_t id) {
  std::shared_ptr<TaskEndListener> listener;
  Table& t = TheTable();
  {
    MutexLock lock(&t.mu);
    auto it = t.listeners.find(id);
    if (it == t.listeners.end()) return;
    listener = std::move(it->second);
    t.listeners.erase(it);
  }
  // Outside the lock: the listener may wake tasks, which may spawn.
  listener->TaskEnded();
}

size_t TaskEndListenerCount() {
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  return t.listeners.size();
}

}  // namespace tidepool::internal
