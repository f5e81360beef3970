#include "runtime/internal/idle.h"

#include <algorithm>

namespace tidepool::internal {

Idle::Idle(size_t num_workers)
    : num_workers_(num_workers), num_unparked_(num_workers) {
  sleepers_.reserve(num_workers);
}

bool Idle::ShouldWake() const {
  // seq_cst: the producer's reads of the handshake, after the fence in
  // WorkerToNotify(); each pairs with the decrement of its counter in
  // TransitionWorkerToParked().
  return num_searching_.load(std::memory_order_seq_cst) == 0 &&
         num_unparked_.load(std::memory_order_seq_cst) < num_workers_;
}

std::optional<size_t> Idle::WorkerToNotify() {
  // seq_cst: between the caller's publication of work and our reads of the
  // counters (store buffering); pairs with the fence in Scheduler::Park().
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Fast path: someone searches already, or nobody sleeps.
  if (!ShouldWake()) return std::nullopt;
  MutexLock lock(&mu_);
  if (!ShouldWake() || sleepers_.empty()) return std::nullopt;
  // LIFO: the most recently parked worker has the warmest cache.
  const size_t worker = sleepers_.back();
  sleepers_.pop_back();
  // seq_cst: as every access to the counters (idle.h); sleepers_ and mu_
  // order the hand-over, the Parker's token the wake-up.
  num_searching_.fetch_add(1, std::memory_order_seq_cst);
  num_unparked_.fetch_add(1, std::memory_order_seq_cst);
  return worker;
}

bool Idle::TransitionWorkerToSearching() {
  // seq_cst (load and add): as every access to the counters; a cap that
  // orders nothing, so a racing pair may overshoot it by one.
  const size_t searching = num_searching_.load(std::memory_order_seq_cst);
  if (2 * searching >= num_workers_) return false;
  num_searching_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

bool Idle::TransitionWorkerFromSearching() {
  // seq_cst: a producer that sees the count still up leaves the wake-up to
  // us, the last searcher, who then calls WorkerToNotify() (StopSearching).
  return num_searching_.fetch_sub(1, std::memory_order_seq_cst) == 1;
}

bool Idle::TransitionWorkerToParked(size_t worker, bool searching) {
  MutexLock lock(&mu_);
  // seq_cst: the worker's writes of the handshake, before the fence in
  // Scheduler::Park(); each pairs with the load of its counter in
  // ShouldWake().
  if (searching) num_searching_.fetch_sub(1, std::memory_order_seq_cst);
  const bool last = num_unparked_.fetch_sub(1, std::memory_order_seq_cst) == 1;
  sleepers_.push_back(worker);
  return last;
}

bool Idle::UnparkSelf(size_t worker, bool searching) {
  MutexLock lock(&mu_);
  auto it = std::find(sleepers_.begin(), sleepers_.end(), worker);
  if (it == sleepers_.end()) return false;
  sleepers_.erase(it);
  // seq_cst: as every access to the counters; taking ourselves back out,
  // under mu_ as WorkerToNotify() does, publishes nothing.
  if (searching) num_searching_.fetch_add(1, std::memory_order_seq_cst);
  num_unparked_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

}  // namespace tidepool::internal
