#ifndef TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// Every spawned task that has not completed, so that shutdown can destroy
// the ones nobody will ever wake. Sharded by task id to keep spawn and
// completion on different workers off one lock. Nothing in Insert or Remove
// is shared between shards: ids come from per-thread blocks and the counts
// are per shard, because a process-wide counter that every spawn and every
// completion modified cost more than the rest of the list (its cache line
// moved between the workers on each task).
class OwnedTasks {
 public:
  // Assigns the task its id and links it. Returns false (linking nothing)
  // once CloseAndCancelAll() has begun.
  bool Insert(TaskHeader* task);
  // Unlinks the task if linked. Called from TaskHeader::Complete().
  void Remove(TaskHeader* task);
  // Refuses new tasks, then cancels every remaining one on the calling
  // thread. Only valid once no worker runs tasks any more.
  void CloseAndCancelAll();

  // A racy sum over the shards, for metrics.
  size_t Alive() const;

 private:
  static constexpr size_t kShards = 16;
  struct alignas(64) Shard {
    Mutex mu;
    TaskHeader* head ABSL_GUARDED_BY(mu) = nullptr;
    bool closed ABSL_GUARDED_BY(mu) = false;
    // Written only under mu, as a load and a store (the lock orders the
    // writers, so no read-modify-write is needed); relaxed: Alive() reads it
    // without the lock, as a statistic.
    std::atomic<size_t> alive{0};
  };
  Shard& ShardOf(const TaskHeader* task) {
    return shards_[task->id_ % kShards];
  }

  std::array<Shard, kShards> shards_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_
