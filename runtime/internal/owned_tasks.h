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
// completion on different workers off one lock.
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

  // relaxed: a statistic, nothing is ordered by it.
  size_t Alive() const { return alive_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kShards = 16;
  struct alignas(64) Shard {
    Mutex mu;
    TaskHeader* head ABSL_GUARDED_BY(mu) = nullptr;
    bool closed ABSL_GUARDED_BY(mu) = false;
  };
  Shard& ShardOf(const TaskHeader* task) {
    return shards_[task->id_ % kShards];
  }

  std::array<Shard, kShards> shards_;
  // relaxed: ids only need to be distinct.
  std::atomic<uint64_t> next_id_{1};
  std::atomic<size_t> alive_{0};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_
