#ifndef TIDEPOOL_RUNTIME_INTERNAL_IDLE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IDLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/internal/mutex.h"

namespace tidepool::internal {

// Which workers sleep and how many search for work.
//
// No lost wake-up: a producer publishes work and then calls
// WorkerToNotify(); a worker about to sleep calls TransitionWorkerToParked()
// and then looks for work once more. Both sides put a seq_cst fence between
// their store and their load (store buffering), so at least one of them sees
// the other: either the producer sees a sleeper and wakes it, or the worker
// sees the work and stays up.
//
// At most about half the workers search (steal) at once, so that idle
// workers do not all hammer the same busy queue.
class Idle {
 public:
  explicit Idle(size_t num_workers);

  // Producer side, after publishing work: returns a sleeping worker that the
  // caller must unpark, already counted as searching and unparked.
  std::optional<size_t> WorkerToNotify();

  // Returns false when enough workers already search.
  bool TransitionWorkerToSearching();
  // Returns true when the caller was the last searching worker.
  bool TransitionWorkerFromSearching();

  // The worker joins the sleepers (and stops searching if it was). Returns
  // true when it was the last worker awake.
  bool TransitionWorkerToParked(size_t worker, bool searching);
  // Takes a sleeper back out (it found work on its final look, or woke for
  // I/O or a timer). `searching`: whether it goes looking for work to steal
  // (and so counts as a searcher). Returns false if a producer already took
  // it (a wake-up token is then on its way), in which case it is already
  // counted as searching.
  bool UnparkSelf(size_t worker, bool searching = true);

  // A hint, stale as soon as it is read: whether some worker is asleep.
  bool AnyParked() const {
    // relaxed: a heuristic only; no decision about wake-ups rests on it.
    return num_unparked_.load(std::memory_order_relaxed) < num_workers_;
  }

  size_t NumSearching() const {
    // seq_cst: as every access to the counters (below); a snapshot here.
    return num_searching_.load(std::memory_order_seq_cst);
  }

 private:
  bool ShouldWake() const;

  const size_t num_workers_;
  // seq_cst: both counters take part in the store-buffering handshake above:
  // the worker's writes in TransitionWorkerToParked() pair with the
  // producer's reads in ShouldWake(), through the fences in Scheduler::Park()
  // and WorkerToNotify(). With both fences, relaxed accesses would do.
  std::atomic<size_t> num_searching_{0};
  std::atomic<size_t> num_unparked_;
  Mutex mu_;
  std::vector<size_t> sleepers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IDLE_H_
