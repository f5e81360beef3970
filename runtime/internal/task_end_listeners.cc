#include "runtime/internal/task_end_listeners.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {
namespace {

struct Table {
  Mutex mu;
  absl::flat_hash_map<uint64_t, std::shared_ptr<TaskEndListener>> listeners
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
