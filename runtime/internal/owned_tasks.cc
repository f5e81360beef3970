#include "runtime/internal/owned_tasks.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "runtime/internal/spin_then_block_lock.h"

namespace tidepool::internal {
namespace {

// Threads outside the workers spread their spawns over the shards in turn,
// so that the workers completing them rarely meet on one lock.
thread_local uint32_t tls_next_shard = 0;

// The table lock the calling thread holds as a running owner (LockTable), or
// null; ForEachLive lets it go for its walk.
thread_local Mutex* tls_held_table = nullptr;

}  // namespace

OwnedTasks::OwnedTasks(size_t num_workers)
    : num_workers_(num_workers), workers_(new WorkerList[num_workers]) {}

void OwnedTasks::Link(TaskHeader*& head, TaskHeader* task) {
  task->owned_prev_ = nullptr;
  task->owned_next_ = head;
  if (head) head->owned_prev_ = task;
  head = task;
}

void OwnedTasks::Unlink(TaskHeader*& head, TaskHeader* task) {
  if (task->owned_prev_) {
    task->owned_prev_->owned_next_ = task->owned_next_;
  } else {
    head = task->owned_next_;
  }
  if (task->owned_next_) task->owned_next_->owned_prev_ = task->owned_prev_;
}

void OwnedTasks::Take(WorkerList& list, TaskHeader* task) {
  uint32_t slot = list.free_head;
  if (slot != kNoSlot) {
    list.free_head = static_cast<uint32_t>(list.slots[slot] >> 1);
    list.slots[slot] = reinterpret_cast<uintptr_t>(task);
  } else {
    slot = static_cast<uint32_t>(list.slots.size());
    list.slots.push_back(reinterpret_cast<uintptr_t>(task));
  }
  task->owned_slot_ = slot;
  ++list.linked;
}

void OwnedTasks::Free(WorkerList& list, TaskHeader* task) {
  const uint32_t slot = task->owned_slot_;
  if (--list.linked == 0) {
    // Empty: give a table grown by a burst back rather than keep its peak.
    std::vector<uintptr_t>().swap(list.slots);
    list.free_head = kNoSlot;
    return;
  }
  list.slots[slot] = (uintptr_t{list.free_head} << 1) | 1;
  list.free_head = slot;
}

void OwnedTasks::Drain(WorkerList& list) {
  // relaxed pre-check: the common case is an empty stack, and the exchange
  // below is what orders the links.
  if (list.returned.load(std::memory_order_relaxed) == nullptr) return;
  // acquire: pairs with the release CAS in Release(): every pushed task's
  // link (each CAS continues the release sequence).
  TaskHeader* t = list.returned.exchange(nullptr, std::memory_order_acquire);
  while (t != nullptr) {
    TaskHeader* const next = t->owned_returned_next_;
    Free(list, t);
    t->Unref();  // may delete t
    t = next;
  }
}

bool OwnedTasks::Insert(TaskHeader* task, int worker) {
  if (worker != kNotAWorker) {
    WorkerList& list = workers_[worker];
    // Take may throw (out of memory): the task is marked owned only after.
    Take(list, task);
    task->owned_list_ = worker;
    Bump(list.inserted);
    return true;
  }
  const uint32_t index = tls_next_shard++ % kShards;
  Shard& shard = shards_[index];
  SpinThenBlockLock lock(&shard.mu);
  if (shard.closed) return false;
  task->owned_list_ = static_cast<int32_t>(num_workers_ + index);
  Link(shard.head, task);
  Bump(shard.inserted);
  return true;
}

void OwnedTasks::Completed(const TaskHeader* task, int worker) {
  if (task->owned_list_ == TaskHeader::kNotOwned) return;  // refused
  if (worker != kNotAWorker) {
    Bump(workers_[worker].completed);
  } else {
    // relaxed: a statistic (see the header).
    completed_elsewhere_.fetch_add(1, std::memory_order_relaxed);
  }
}

int OwnedTasks::Release(TaskHeader* task, int worker, uint32_t caller_refs) {
  const int32_t owner = task->owned_list_;
  if (owner == TaskHeader::kNotOwned) {
    task->Unref(1 + caller_refs);
    return kNotAWorker;
  }
  if (static_cast<size_t>(owner) >= num_workers_) {
    Shard& shard = shards_[owner - num_workers_];
    {
      SpinThenBlockLock lock(&shard.mu);
      Unlink(shard.head, task);
    }
    task->Unref(1 + caller_refs);
    return kNotAWorker;
  }
  if (FreeOwnSlot(task, worker)) {
    task->Unref(1 + caller_refs);
    return kNotAWorker;
  }
  // Ours first: once pushed, the list's reference may be dropped at once.
  if (caller_refs > 0) task->Unref(caller_refs);
  // Hand the task and the list's reference to the owner.
  WorkerList& list = workers_[owner];
  // A count of returns, bumped as a load and a store: a lost update between
  // two returning threads only delays a nudge, and no locked instruction is
  // added to the path. Taken before the push, after which the task (and
  // perhaps the list's reference) is the drainer's. relaxed: a hint.
  const uint32_t returns = list.returns.load(std::memory_order_relaxed) + 1;
  list.returns.store(returns, std::memory_order_relaxed);
  // relaxed: the CAS below publishes; this read only seeds it.
  TaskHeader* top = list.returned.load(std::memory_order_relaxed);
  do {
    task->owned_returned_next_ = top;
    // release: owned_returned_next_; pairs with the acquire exchange in
    // Drain(). relaxed on failure: the new top is only linked to.
  } while (!list.returned.compare_exchange_weak(
      top, task, std::memory_order_release, std::memory_order_relaxed));
  return returns % kReturnedNudge == 0 ? owner : kNotAWorker;
}

bool OwnedTasks::FreeOwnSlot(TaskHeader* task, int worker) {
  if (worker == kNotAWorker || task->owned_list_ != worker) return false;
  Free(workers_[worker], task);
  return true;
}

// The lock is held across the whole run of a worker, which the analysis
// cannot follow from one function to the next.
void OwnedTasks::LockTable(int worker) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Mutex* const mu = &workers_[worker].table_mu;
  mu->Lock();
  tls_held_table = mu;
}

void OwnedTasks::UnlockTable(int worker) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  tls_held_table = nullptr;
  workers_[worker].table_mu.Unlock();
}

void OwnedTasks::LetReadersIn(WorkerList& list) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  list.table_mu.Unlock();
  // The readers counted themselves before taking the lock, so each one is
  // in by the time the count drops; the owner takes the lock back after the
  // last. relaxed: the lock orders the table.
  while (list.readers.load(std::memory_order_relaxed) != 0) {
    std::this_thread::yield();
  }
  list.table_mu.Lock();
}

void OwnedTasks::ForEachLive(absl::FunctionRef<void(const TaskHeader&)> visit)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // A worker walking from a task does not touch its table meanwhile, so it
  // lets the lock go: a worker that walks must not hold its own table while
  // it waits for another's, or two walkers would wait for each other.
  struct GiveUpHeldTable {
    Mutex* const held = tls_held_table;
    GiveUpHeldTable() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (held != nullptr) held->Unlock();
    }
    // Also when `visit` throws: the owner runs on holding its table.
    ~GiveUpHeldTable() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (held != nullptr) held->Lock();
    }
  } give_up;
  for (size_t i = 0; i < num_workers_; ++i) {
    WorkerList& list = workers_[i];
    // relaxed: a hint for the owner; see `readers`.
    list.readers.fetch_add(1, std::memory_order_relaxed);
    MutexLock lock(&list.table_mu);
    list.readers.fetch_sub(1, std::memory_order_relaxed);
    for (uintptr_t slot : list.slots) {
      if ((slot & 1) != 0) continue;  // a free slot's link
      const auto* task = reinterpret_cast<const TaskHeader*>(slot);
      // A task completed on another thread keeps its slot until the owner
      // drains it; it is no longer live.
      if (!task->IsComplete()) visit(*task);
    }
  }
  for (Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    for (const TaskHeader* t = shard.head; t != nullptr; t = t->owned_next_) {
      if (!t->IsComplete()) visit(*t);
    }
  }
}

size_t OwnedTasks::Alive() const {
  int64_t n = 0;
  // relaxed: statistics; exact only through the caller's own
  // happens-before with the completions (see the header).
  for (size_t i = 0; i < num_workers_; ++i) {
    n += workers_[i].inserted.load(std::memory_order_relaxed);
    n -= workers_[i].completed.load(std::memory_order_relaxed);
  }
  for (const Shard& shard : shards_) {
    n += shard.inserted.load(std::memory_order_relaxed);
  }
  n -= completed_elsewhere_.load(std::memory_order_relaxed);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void OwnedTasks::CloseAndCancelAll() {
  for (Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    shard.closed = true;
  }
  // Destroying a frame runs user destructors, which may spawn or abort;
  // hence no lock is held across CancelNow(). The reference taken first
  // keeps the task alive across it, as its Release() drops the list's.
  for (size_t i = 0; i < num_workers_; ++i) {
    // No worker runs any more, so this thread stands in for the owner.
    WorkerList& list = workers_[i];
    // A snapshot, as cancelling frees slots (and may give the table back).
    // Only this thread completes tasks now, but a frame's destructors may
    // complete another task of the snapshot (timeout() and select() cancel
    // their branches in place), so each is checked when its turn comes.
    // The table's lock keeps ForEachLive out while the table changes, and
    // is not held across CancelNow(), as above.
    std::vector<TaskHeader*> live;
    LockTable(static_cast<int>(i));
    Drain(list);
    live.reserve(list.linked);
    for (uintptr_t slot : list.slots) {
      if ((slot & 1) == 0) {
        auto* task = reinterpret_cast<TaskHeader*>(slot);
        task->Ref();
        live.push_back(task);
      }
    }
    UnlockTable(static_cast<int>(i));
    for (TaskHeader* task : live) {
      if (!task->IsComplete()) task->CancelNow();
      task->Unref();
    }
    LockTable(static_cast<int>(i));
    Drain(list);
    UnlockTable(static_cast<int>(i));
  }
  for (Shard& shard : shards_) {
    while (true) {
      TaskHeader* task;
      {
        MutexLock lock(&shard.mu);
        task = shard.head;
        if (task == nullptr) break;
        task->Ref();
      }
      task->CancelNow();
      task->Unref();
    }
  }
}

}  // namespace tidepool::internal
