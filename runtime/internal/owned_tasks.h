#ifndef TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// Every spawned task that has not completed, so that shutdown can destroy
// the ones nobody will ever wake.
//
// One slot table per worker plus a few locked shards. A task spawned on a
// worker takes a slot in that worker's table, and only that worker ever
// touches the table: spawning and completing a task on the same worker (the
// common case: the LIFO slot runs a spawned task where it was spawned) costs
// no lock and no atomic read-modify-write. A table rather than a linked
// list, because unlinking touches the neighbours' cells, which a burst of
// spawns has other workers completing at the same time (a cache miss, or a
// stolen line, per task). A task completed on another worker is handed back
// through the table's lock-free "returned" stack, one CAS, and the owning
// worker frees its slot at its next fair tick (every 61 polls) or park. The
// table holds a reference on each task until it frees the slot, so a returned
// task keeps its cell (its frame's destructors have run) until then; a
// parked owner is interrupted to drain once kReturnedNudge have piled up.
// Not at its next spawn: a worker spawning a burst is the bottleneck, and
// must not also free the cells the other worker returned.
//
// A table grows to the most tasks its worker had alive at once (8 bytes a
// slot) and is given back whenever it empties.
//
// Tasks spawned from outside the workers go to the shards, each under its
// own lock, and whoever completes them unlinks them at once: the spawning
// thread (a producer feeding the workers) is the runtime's bottleneck then,
// and must not also pay for the unlinks.
//
// Reading the lists from any thread (ForEachLive, for Runtime::dump()): each
// worker's table has a lock, which its owner holds for as long as it runs,
// from the start of its thread to its end, so that spawning and completing
// still cost no lock. The owner lets it go only while it is parked and, at
// its fair tick, when a reader waits for it (a relaxed load and a branch
// every 61 polls). A reader therefore waits for a busy worker to reach its
// next fair tick or park: at most 61 polls.
//
// Thread roles: `worker` arguments are the calling thread's worker index, or
// kNotAWorker; a worker index may only be passed by that worker thread, or
// by the shutdown sweep once every worker thread has been joined.
class OwnedTasks {
 public:
  static constexpr int kNotAWorker = -1;

  explicit OwnedTasks(size_t num_workers);

  // Links the task. Returns false (linking nothing) once
  // CloseAndCancelAll() has begun; only tasks spawned from outside the
  // workers can arrive that late.
  bool Insert(TaskHeader* task, int worker);
  // The task is about to publish its completion: counts it, so that
  // Alive() no longer does once the completion is observed.
  void Completed(const TaskHeader* task, int worker);
  // Drops the list's reference, at once or at the owner's next drain, and
  // `caller_refs` of the caller's at once (with the list's in one atomic
  // when it can); the caller must not touch the task afterwards. Called last
  // in TaskHeader::Complete() (unless its fast path used FreeOwnSlot), for
  // linked and refused tasks alike. Returns the
  // worker to interrupt, or kNotAWorker: every kReturnedNudge-th task
  // returned to a worker's stack asks for a drain, so that a parked owner
  // holds fewer returned cells than that.
  int Release(TaskHeader* task, int worker, uint32_t caller_refs = 0);
  // Release's common case, for a caller that drops the references itself:
  // if `task` is in the table of `worker` (the calling worker), frees its
  // slot and returns true; the list's reference is then the caller's to
  // drop. Otherwise does nothing and returns false.
  bool FreeOwnSlot(TaskHeader* task, int worker);

  static constexpr uint32_t kReturnedNudge = 64;
  // The owner worker: unlinks the tasks other threads returned to its list.
  void DrainReturned(int worker) { Drain(workers_[worker]); }
  // Refuses new tasks, then cancels every remaining one on the calling
  // thread. Only valid once no worker runs tasks any more.
  void CloseAndCancelAll();

  // The owner worker, at the start of its run and after a park: takes its
  // table's lock. UnlockTable(), before a park and at the end of its run:
  // lets it go. The shutdown sweep, standing in for the owner, takes each
  // table's lock itself.
  void LockTable(int worker);
  void UnlockTable(int worker);
  // The owner worker, at its fair tick: lets waiting readers in first.
  void YieldTableToReaders(int worker) {
    // relaxed: a hint; the lock orders the table for the readers.
    if (workers_[worker].readers.load(std::memory_order_relaxed) != 0) {
      LetReadersIn(workers_[worker]);
    }
  }

  // Any thread, including a task (its worker lets its own table go for the
  // walk, so that two workers walking at once never wait for each other).
  // Calls `visit` with every linked task that has not completed, under the
  // lock of the table or shard that links it: the task stays alive for the
  // call, which must be short, must not spawn, and must not take a lock a
  // task may hold while it spawns or completes. Waits for busy workers (see
  // above).
  void ForEachLive(absl::FunctionRef<void(const TaskHeader&)> visit);

  // Spawned minus completed, summed without locks, for metrics. Exact once
  // every completion it should count happened-before the call.
  size_t Alive() const;

 private:
  // Counters below, but `returns`, are each written by one thread at a time
  // (the owning worker, or under the shard's lock) as a load and a store;
  // relaxed, because Alive() is a racy sum whose exactness rests on the
  // caller's own happens-before with the completions.
  struct alignas(64) WorkerList {
    // Slots hold a task, or a free slot's link: (next free index << 1) | 1.
    std::vector<uintptr_t> slots;
    uint32_t free_head = kNoSlot;
    uint32_t linked = 0;
    std::atomic<uint64_t> inserted{0};
    // Completions run on this worker, of any list's tasks.
    std::atomic<uint64_t> completed{0};
    // Tasks completed elsewhere, linked through owned_returned_next_.
    // release on push (Release) / acquire on drain (Drain): the drainer
    // reads the link. On a
    // line of its own, apart from the owner's fields above, which the owner
    // writes on every spawn: sharing the line would make each spawn and
    // each return a cache miss.
    alignas(64) std::atomic<TaskHeader*> returned{nullptr};
    // Tasks returned so far, for the nudge (see Release); relaxed, a hint.
    std::atomic<uint32_t> returns{0};
    // Guards `slots`, `free_head` and `linked` against readers; held by the
    // owner while it runs (see the class comment). On its own line: readers
    // write it, while the owner's fields above are written on every spawn.
    alignas(64) Mutex table_mu;
    // Readers waiting for table_mu; the owner lets them in at its fair
    // tick. relaxed: a hint, read by the owner (YieldTableToReaders) and
    // counted by the readers; table_mu orders the table itself.
    std::atomic<uint32_t> readers{0};
  };
  struct alignas(64) Shard {
    Mutex mu;
    TaskHeader* head ABSL_GUARDED_BY(mu) = nullptr;
    bool closed ABSL_GUARDED_BY(mu) = false;
    std::atomic<uint64_t> inserted{0};
  };
  static constexpr size_t kShards = 16;
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  static void Link(TaskHeader*& head, TaskHeader* task);
  static void Unlink(TaskHeader*& head, TaskHeader* task);
  static void Bump(std::atomic<uint64_t>& counter) {
    // relaxed: one writer at a time (see WorkerList); a statistic.
    counter.store(counter.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  }
  static void Drain(WorkerList& list);
  static void Take(WorkerList& list, TaskHeader* task);
  static void Free(WorkerList& list, TaskHeader* task);
  static void LetReadersIn(WorkerList& list);

  // owned_list_ of a task: [0, num_workers_) a worker's list, then the
  // shards.
  const size_t num_workers_;
  const std::unique_ptr<WorkerList[]> workers_;
  std::array<Shard, kShards> shards_;
  // Completions run outside the workers (the shutdown sweep). relaxed: a
  // statistic, like the counters above.
  std::atomic<uint64_t> completed_elsewhere_{0};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_OWNED_TASKS_H_
