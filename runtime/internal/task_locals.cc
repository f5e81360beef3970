#include "runtime/internal/task_locals.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "runtime/internal/mutex.h"

namespace tidepool::internal {
namespace {

struct Table {
  Mutex mu;
  absl::flat_hash_map<const TaskHeader*, LocalEntry*> heads ABSL_GUARDED_BY(mu);
};

Table& TheTable() {
  static Table* table = new Table;  // never destroyed: tasks may outlive main
  return *table;
}

}  // namespace

LocalEntry* TaskLocalsHead(const TaskHeader* task) {
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  auto it = t.heads.find(task);
  return it == t.heads.end() ? nullptr : it->second;
}

void PushTaskLocal(const TaskHeader* task, LocalEntry* entry) {
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  LocalEntry*& head = t.heads[task];
  entry->next = head;
  head = entry;
}

void PopTaskLocal(const TaskHeader* task, LocalEntry* entry) {
  Table& t = TheTable();
  MutexLock lock(&t.mu);
  auto it = t.heads.find(task);
  if (it == t.heads.end() || it->second != entry) return;
  if (entry->next == nullptr) {
    t.heads.erase(it);
  } else {
    it->second = entry->next;
  }
}

}  // namespace tidepool::internal
