#ifndef TIDEPOOL_RUNTIME_INTERNAL_BUDGET_ADMISSION_H_
#define TIDEPOOL_RUNTIME_INTERNAL_BUDGET_ADMISSION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "runtime/internal/task_header.h"
#include "runtime/metrics.h"

namespace tidepool::internal {

// Which spawn_blocking calls the blocking pool starts under a memory budget
// (Builder::memory_budget), and which wait.
//
// Calls are admitted in FIFO order, and none is ever refused or dropped. A
// call waits while an earlier one waits, or while `limit` admitted calls
// have not finished; a pool with no admitted call unfinished admits the
// oldest waiting call whatever the budget says, so a call bigger than the
// budget still runs and waiting can never deadlock. The limit is
// set by each sample of the allocator's in-use bytes, from the r calls
// unfinished then and the c CPUs the process may use:
//
//   in-use >= budget                 0               nothing more until
//                                                    calls finish
//   7/8 budget <= in-use < budget    max(r, c)       a call for each that
//                                                    finishes
//   budget/2 <= in-use < 7/8 budget  max(r + 1, c)   one more per sample
//   in-use < budget/2                max(2r + 1, c)  doubling per sample
//
// so admission opens up while memory is far from the budget, creeps nearer,
// holds just below it, and stops over it until finished calls and frees
// bring it back. The band below the budget keeps a load near it from
// crossing back and forth, and each crossing from running calls one at a
// time. Below the budget at least c calls may run: fewer would leave CPUs
// idle while memory allows more, and a pool that fell to one call after a
// crossing would otherwise hold at one (r) for as long as memory stays in
// the band, which a load whose waiting tasks hold most of the budget (the
// seed workload's request bodies) never leaves. The limit starts at what
// the first sample, taken at construction, allows.
//
// The owner (BlockingPool) samples: when a call finishes, once
// kBusySamplePeriod has passed since the last sample, and every
// kWatchPeriod while calls wait, but never sooner than
// kSampleSpacingFactor times the last sample's duration
// (docs/architecture.md, "The memory budget"). From a sample at or above
// 3/4 of the budget (UnderPressure) it trims the allocator, at most every
// kPressureTrimInterval: 50 ms, where single smoke runs of the seed
// workload found 25 ms halving jemalloc's throughput (each purge is paid
// again in page faults) and 100 ms leaving glibc's peak about 6 MB higher;
// the main job is to confirm it.
//
// Not thread-safe: the owner calls every method under its own mutex.
class BudgetAdmission {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::nanoseconds kWatchPeriod =
      std::chrono::milliseconds(1);
  static constexpr std::chrono::nanoseconds kBusySamplePeriod =
      std::chrono::milliseconds(10);
  static constexpr std::chrono::milliseconds kPressureTrimInterval{50};
  // Samples are spaced at least this many times their own duration apart,
  // so sampling takes at most 1/50 of a thread: glibc's count walks every
  // free chunk (measured: 15 us with a thousand, 0.6 ms with ten thousand).
  static constexpr int kSampleSpacingFactor = 50;

  // `budget` > 0 bytes; `first_sample` is the in-use bytes now; `cpus`
  // the CPUs the calls can run on (internal::UsableCpus(); 0 counts as 1).
  BudgetAdmission(size_t budget, int64_t first_sample, size_t cpus);

  // A new call. True: admitted, counted unfinished until Finished(). False:
  // it waits, in FIFO order, and AdmitWaiting() or Finished() hands it out
  // once admitted.
  bool TryAdmit(TaskHeader* task);
  // An admitted call finished (ran, or was cancelled before it ran).
  // Returns the oldest waiting call if that admits it, else nullptr.
  TaskHeader* Finished();
  // The oldest waiting call if the limit admits it now, else nullptr; for
  // after a sample.
  TaskHeader* AdmitWaiting();

  // Whether a call finishing at `now` should sample (kBusySamplePeriod, or
  // the spacing a slow source needs, has passed). BeginSample(now) claims
  // the sample, so that the threads finishing calls meanwhile do not sample
  // as well; OnSample applies it.
  bool SampleDue(Clock::time_point now) const;
  void BeginSample(Clock::time_point now);
  // Applies a sample of the in-use bytes (negative: the source failed; the
  // limit stays) that took `took` to read.
  void OnSample(int64_t in_use,
                std::chrono::nanoseconds took = std::chrono::nanoseconds(0));
  // How long the watcher waits between samples: kWatchPeriod, or more
  // after a slow sample.
  std::chrono::nanoseconds WatchPeriod() const;
  // The last sample was at or above 3/4 of the budget: trim harder.
  bool UnderPressure() const;
  void CountTrim() { ++trims_; }

  bool HasWaiting() const { return !waiting_.empty(); }
  size_t Waiting() const { return waiting_.size(); }
  // At shutdown: the waiting calls, which will never be admitted.
  std::deque<TaskHeader*> TakeWaiting();

  MemoryBudgetMetrics Metrics() const;

 private:
  struct Waiter {
    TaskHeader* task;
    Clock::time_point since;
  };

  bool Admissible() const {
    return !waiting_.empty() && (unfinished_ == 0 || unfinished_ < limit_);
  }
  TaskHeader* AdmitOldest();

  const size_t budget_;
  const size_t cpus_;
  std::deque<Waiter> waiting_;
  // Admitted calls not yet finished: queued for a thread, or running.
  size_t unfinished_ = 0;
  size_t limit_ = 0;
  int64_t in_use_ = 0;
  Clock::time_point last_sample_;
  // kSampleSpacingFactor times the last sample's duration.
  std::chrono::nanoseconds spacing_{0};
  uint64_t samples_ = 0;
  uint64_t waited_ = 0;
  uint64_t wait_ns_ = 0;
  uint64_t trims_ = 0;
};

// What a runtime built now samples for its budget: alloc::InUseBytes,
// unless a ScopedInUseSourceForTesting is alive. Any thread.
std::function<int64_t()> BudgetInUseSource();

// Test hook: runtimes built while this object lives sample `source`
// instead of the allocator, so that tests can drive the budget (and run
// under the sanitizers, where no tidepool backend counts in-use bytes).
// `source` is called from pool threads, possibly at once. Not nestable.
class ScopedInUseSourceForTesting {
 public:
  explicit ScopedInUseSourceForTesting(std::function<int64_t()> source);
  ~ScopedInUseSourceForTesting();
  ScopedInUseSourceForTesting(const ScopedInUseSourceForTesting&) = delete;
  ScopedInUseSourceForTesting& operator=(const ScopedInUseSourceForTesting&) =
      delete;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_BUDGET_ADMISSION_H_
