#include "runtime/internal/owned_tasks.h"

namespace tidepool::internal {

bool OwnedTasks::Insert(TaskHeader* task) {
  task->id_ = next_id_.fetch_add(1, std::memory_order_relaxed);
  Shard& shard = ShardOf(task);
  MutexLock lock(&shard.mu);
  if (shard.closed) return false;
  task->owned_prev_ = nullptr;
  task->owned_next_ = shard.head;
  if (shard.head) shard.head->owned_prev_ = task;
  shard.head = task;
  task->owned_linked_ = true;
  alive_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void OwnedTasks::Remove(TaskHeader* task) {
  Shard& shard = ShardOf(task);
  MutexLock lock(&shard.mu);
  if (!task->owned_linked_) return;
  if (task->owned_prev_) {
    task->owned_prev_->owned_next_ = task->owned_next_;
  } else {
    shard.head = task->owned_next_;
  }
  if (task->owned_next_) task->owned_next_->owned_prev_ = task->owned_prev_;
  task->owned_prev_ = task->owned_next_ = nullptr;
  task->owned_linked_ = false;
  alive_.fetch_sub(1, std::memory_order_relaxed);
}

void OwnedTasks::CloseAndCancelAll() {
  for (Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    shard.closed = true;
  }
  for (Shard& shard : shards_) {
    while (true) {
      TaskHeader* task;
      {
        MutexLock lock(&shard.mu);
        task = shard.head;
        if (!task) break;
        // Keeps the task alive across CancelNow(), which drops the owned
        // reference.
        task->Ref();
      }
      // Destroying a frame runs user destructors, which may spawn or abort;
      // hence no lock is held here.
      task->CancelNow();
      task->Unref();
    }
  }
}

}  // namespace tidepool::internal
