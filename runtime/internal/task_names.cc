#include "runtime/internal/task_names.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {
namespace {

// A node map: a name's characters stay where they are while other entries
// come and go, so TaskName() can hand out a view after unlocking.
struct Table {
  Mutex mu;
  absl::node_hash_map<uint64_t, std::string> names ABSL_GUARDED_BY(mu);
};

Table& TheTable() {
  static Table* table = new Table;  // never destroyed: tasks may outlive main
  return *table;
}

}  // namespace

void NameTask(TaskHeader* task, std::string name) {
  Table& t = TheTable();
  {
    MutexLock lock(&t.mu);
    t.names.insert_or_assign(task->id(), std::move(name));
  }
  task->MarkNamedUnshared();
}

std::string_view TaskName(const TaskHeader& task) {
  if (!task.IsNamed()) return {};
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  auto it = t.names.find(task.id());
  return it == t.names.end() ? std::string_view() : it->second;
}

void ForgetTaskName(uint64_t id) {
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  t.names.erase(id);
}

size_t NamedTaskCount() {
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  return t.names.size();
}

}  // namespace tidepool::internal
