#ifndef TIDEPOOL_RUNTIME_METRICS_H_
#define TIDEPOOL_RUNTIME_METRICS_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tidepool {

// How long one worker's polls ran, in buckets whose bounds are powers of 4
// microseconds: counts[0] holds polls under 1 us, counts[i] those from
// upper_bound(i - 1) up to (not including) upper_bound(i), and the last
// bucket those of 65.536 ms and more.
//
// Sampled: about one poll in 64, chosen at random, is timed on the steady
// clock, because a precise clock read costs as much as a short poll. Each
// count is of sampled polls, so the shape is that of all polls and the
// total about WorkerMetrics::polls / 64. Empty when slow_poll_threshold is
// zero (poll timing off).
struct PollTimeHistogram {
  static constexpr size_t kBuckets = 10;
  // For i < kBuckets - 1: 1 us, 4 us, 16 us, ... 65536 us.
  static constexpr std::chrono::microseconds upper_bound(size_t i) {
    return std::chrono::microseconds(int64_t{1} << (2 * i));
  }
  std::array<uint64_t, kBuckets> counts{};
};

// Counters of one worker thread since the runtime started.
struct WorkerMetrics {
  uint64_t polls = 0;   // task polls run
  uint64_t steals = 0;  // successful steals from other workers
  // Times the worker went to sleep. A worker asleep while a peer is awake
  // wakes now and then (every 10 ms, backing off to 160 ms) to look at the
  // queues, and each look that finds nothing is another park.
  uint64_t parks = 0;
  // Of those, how many a wake-up or I/O readiness ended while the worker
  // still spun (the last worker awake spins briefly before sleeping;
  // docs/architecture.md).
  uint64_t spin_wakeups = 0;
  // Polls that ran longer than slow_poll_threshold (slow_poll.h).
  uint64_t slow_polls = 0;
  // Tasks the runtime's monitor took from this worker's LIFO slot because
  // the worker was stuck in one poll (docs/architecture.md, "The LIFO
  // slot"), for another worker to run.
  uint64_t lifo_steals = 0;
  // Sampled poll times (above).
  PollTimeHistogram poll_times;
  size_t local_queue_depth = 0;
  // Parked (spinning before sleep, or asleep) when the snapshot was taken.
  bool parked = false;
};

// The memory budget (Builder::memory_budget) as the blocking pool applies
// it; all zero without a budget. docs/configuration.md, "The memory
// budget".
struct MemoryBudgetMetrics {
  size_t budget = 0;  // bytes; 0: no budget
  // The allocator's in-use bytes at the last sample (alloc::InUseBytes),
  // and that over the budget: the pressure.
  int64_t in_use = 0;
  double pressure = 0;
  // Calls admitted at once until the next sample; 0 when over the budget
  // (then only a pool with no call unfinished admits one).
  size_t limit = 0;
  size_t waiting = 0;  // spawn_blocking calls waiting for admission now
  // Calls that had to wait, and their total wait in nanoseconds, counted
  // when each was admitted.
  uint64_t waited = 0;
  uint64_t wait_ns = 0;
  uint64_t samples = 0;  // in-use samples taken
  uint64_t trims = 0;    // allocator trims made under pressure
  // Permits of tidepool::budget_permit(): held now, the most that may be
  // held before new ones wait, and waiting now; granted in all, and of
  // those the ones that had to wait, with their total wait in nanoseconds.
  size_t permits_held = 0;
  size_t permit_limit = 0;
  size_t permits_waiting = 0;
  uint64_t permits_granted = 0;
  uint64_t permits_waited = 0;
  uint64_t permit_wait_ns = 0;
};

// The blocking pool. "alive" counts threads able to take work.
struct BlockingMetrics {
  size_t threads_alive = 0;
  size_t threads_idle = 0;
  size_t queue_depth = 0;
  uint64_t threads_spawned = 0;
  uint64_t threads_exited = 0;
  uint64_t spawn_failures = 0;  // thread creation failed (e.g. EAGAIN)
  // Calls handed to a thread that was still spinning after its previous
  // call, so no thread had to be woken (docs/architecture.md, "The blocking
  // pool").
  uint64_t spinning_handoffs = 0;
  // Short calls that waited for a thread already being woken, or finishing
  // a call, instead of waking one of their own (docs/architecture.md, "The
  // blocking pool").
  uint64_t chained_handoffs = 0;
  // The limit on calls computing at once (Builder::blocking_parallelism; 0:
  // none), the calls that waited for it (a total), running calls found
  // blocked (asleep in the kernel), which let another call in each, calls
  // let in ahead of that because the calls before them were found blocked
  // (one more per blocked call, so a burst of waiting calls gets in in
  // growing steps), and calls let in because none finished for 10 ms.
  size_t parallelism = 0;
  uint64_t held_calls = 0;
  uint64_t blocked_calls = 0;
  uint64_t burst_admits = 0;
  uint64_t stall_admits = 0;
  MemoryBudgetMetrics budget;
};

// A snapshot taken by Runtime::metrics(). Each figure is read on its own
// without stopping the runtime, so the snapshot as a whole is not atomic.
struct RuntimeMetrics {
  size_t workers = 0;
  size_t alive_tasks = 0;  // spawned and not yet finished
  size_t global_queue_depth = 0;
  std::vector<WorkerMetrics> per_worker;
  BlockingMetrics blocking;
  std::string io_driver;  // "uring" or "epoll"
  // How it is set up: "ring per worker (DEFER_TASKRUN)", "ring per worker
  // (COOP_TASKRUN)", "shared ring" or "epoll".
  std::string io_driver_mode;
  size_t io_in_flight = 0;  // operations waiting in the driver
  // Where fs::File's reads, writes and fsyncs run: "io_uring" (the driver
  // above, when the kernel has the opcodes) or "blocking pool" (epoll, or
  // no opcodes). runtime/fs/file.h.
  std::string fs_backend;
  // Exceptions of detached tasks and blocking calls, handed to the
  // unhandled-exception handler (runtime/unhandled_exception.h).
  uint64_t unhandled_exceptions = 0;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_METRICS_H_
