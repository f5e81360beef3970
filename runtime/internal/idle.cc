#include "runtime/internal/idle.h"

#include <algorithm>

namespace tidepool::internal {

Idle::Idle(size_t num_workers)
    : num_workers_(num_workers), num_unparked_(num_workers) {
  sleepers_.reserve(num_workers);
}

bool Idle::ShouldWake() const {
  return num_searching_.load(std::memory_order_seq_cst) == 0 &&
         num_unparked_.load(std::memory_order_seq_cst) < num_workers_;
}

std::optional<size_t> Idle::WorkerToNotify() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Fast path: someone searches already, or nobody sleeps.
  if (!ShouldWake()) return std::nullopt;
  MutexLock lock(&mu_);
  if (!ShouldWake() || sleepers_.empty()) return std::nullopt;
  // LIFO: the most recently parked worker has the warmest cache.
  const size_t worker = sleepers_.back();
  sleepers_.pop_back();
  num_searching_.fetch_add(1, std::memory_order_seq_cst);
  num_unparked_.fetch_add(1, std::memory_order_seq_cst);
  return worker;
}

bool Idle::TransitionWorkerToSearching() {
  const size_t searching = num_searching_.load(std::memory_order_seq_cst);
  if (2 * searching >= num_workers_) return false;
  num_searching_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

bool Idle::TransitionWorkerFromSearching() {
  return num_searching_.fetch_sub(1, std::memory_order_seq_cst) == 1;
}

bool Idle::TransitionWorkerToParked(size_t worker, bool searching) {
  MutexLock lock(&mu_);
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
  if (searching) num_searching_.fetch_add(1, std::memory_order_seq_cst);
  num_unparked_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

}  // namespace tidepool::internal
