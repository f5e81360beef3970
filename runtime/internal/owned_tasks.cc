#include "runtime/internal/owned_tasks.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tidepool::internal {
namespace {

// Task ids, process-wide, handed to each thread in blocks so that spawning
// touches a shared counter once per kIdBlock tasks. relaxed: ids only need
// to be distinct.
constexpr uint64_t kIdBlock = 1024;
std::atomic<uint64_t> next_id_block{1};
thread_local uint64_t tls_next_id = 0;
thread_local uint64_t tls_id_end = 0;

uint64_t NextId() {
  if (tls_next_id == tls_id_end) {
    tls_next_id = next_id_block.fetch_add(kIdBlock, std::memory_order_relaxed);
    tls_id_end = tls_next_id + kIdBlock;
  }
  return tls_next_id++;
}

}  // namespace

bool OwnedTasks::Insert(TaskHeader* task) {
  task->id_ = NextId();
  Shard& shard = ShardOf(task);
  SpinThenBlockLock lock(&shard.mu);
  if (shard.closed) return false;
  task->owned_prev_ = nullptr;
  task->owned_next_ = shard.head;
  if (shard.head) shard.head->owned_prev_ = task;
  shard.head = task;
  task->owned_linked_ = true;
  // Under the lock; see Shard::alive.
  shard.alive.store(shard.alive.load(std::memory_order_relaxed) + 1,
                    std::memory_order_relaxed);
  return true;
}

void OwnedTasks::Remove(TaskHeader* task) {
  Shard& shard = ShardOf(task);
  SpinThenBlockLock lock(&shard.mu);
  if (!task->owned_linked_) return;
  if (task->owned_prev_) {
    task->owned_prev_->owned_next_ = task->owned_next_;
  } else {
    shard.head = task->owned_next_;
  }
  if (task->owned_next_) task->owned_next_->owned_prev_ = task->owned_prev_;
  task->owned_prev_ = task->owned_next_ = nullptr;
  task->owned_linked_ = false;
  shard.alive.store(shard.alive.load(std::memory_order_relaxed) - 1,
                    std::memory_order_relaxed);
}

size_t OwnedTasks::Alive() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    n += shard.alive.load(std::memory_order_relaxed);
  }
  return n;
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
