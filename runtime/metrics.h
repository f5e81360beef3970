#ifndef TIDEPOOL_RUNTIME_METRICS_H_
#define TIDEPOOL_RUNTIME_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tidepool {

// Counters of one worker thread since the runtime started.
struct WorkerMetrics {
  uint64_t polls = 0;   // task polls run
  uint64_t steals = 0;  // successful steals from other workers
  // Times the worker went to sleep. A worker asleep while a peer is awake
  // wakes now and then (every 10 ms, backing off to 160 ms) to look at the
  // queues, and each look that finds nothing is another park.
  uint64_t parks = 0;
  // Of those, how many a wake-up ended while the worker still spun (the last
  // worker awake spins briefly before sleeping; docs/architecture.md).
  uint64_t spin_wakeups = 0;
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
  std::string io_driver;    // "uring" or "epoll"
  size_t io_in_flight = 0;  // socket operations waiting in the driver
  // Exceptions of detached tasks and blocking calls, handed to the
  // unhandled-exception handler (runtime/unhandled_exception.h).
  uint64_t unhandled_exceptions = 0;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_METRICS_H_
