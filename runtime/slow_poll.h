#ifndef TIDEPOOL_RUNTIME_SLOW_POLL_H_
#define TIDEPOOL_RUNTIME_SLOW_POLL_H_

// Slow polls. A task that computes or blocks for long without reaching a
// co_await that suspends holds its worker, and every task queued behind it
// waits. A Runtime's monitor thread (docs/architecture.md, "The monitor")
// notices each poll that runs longer than Builder::slow_poll_threshold
// (default 100 ms), and the worker reports it once, right after the poll
// ends, on the worker that ran it. It also counts them in
// WorkerMetrics::slow_polls (metrics.h).
//
// The default handler, ReportSlowPoll, prints one line on stderr:
//   tidepool: slow poll: task 17 "fetch" ran 152 ms without suspending on
//   worker 0 (slow_poll_threshold 100 ms)
// (one line; the name part is left out for an unnamed task).
// Builder::on_slow_poll(f) replaces it:
//
//   auto rt = tidepool::Builder()
//       .slow_poll_threshold(std::chrono::milliseconds(20))
//       .on_slow_poll([](const tidepool::SlowPoll& p) {
//         std::fprintf(stderr, "slow: task %.*s\n",
//                      static_cast<int>(p.task.name.size()),
//                      p.task.name.data());
//       })
//       .build();
//
// Precision: no poll is timed. While a worker is awake the monitor looks
// at each one every 1/20 of the threshold, but at least every 5 ms and at
// most every 250 us (every 250 us while a task waits in a LIFO slot), and
// sees which poll it is in (a counter the worker raises around each poll);
// a poll it has seen run for the threshold is marked, and the worker
// reports it when it ends. So a poll is reported only when it surely ran
// longer than the threshold, and reported once it runs the threshold plus
// up to two such periods (10% more at the default 100 ms; longer if the
// monitor's thread waits for a CPU), except one that ends in the instant
// between the monitor's look and its mark. The duration reported counts
// from the monitor's first sight of the poll: short of the truth by one
// period at most while the monitor gets a CPU. A worker pays two stores
// and a load per poll.
//
// The handler runs on the worker, between the slow poll and the next one:
// it must be quick and must not block, and may run on several workers at
// once. An exception escaping it is reported on stderr and dropped.

#include <chrono>
#include <cstddef>

#include "runtime/task_hooks.h"

namespace tidepool {

struct SlowPoll {
  // The task that ran; its name is valid during the call only.
  TaskMeta task;
  // How long the poll ran, from the monitor's first sight of it: short of
  // the truth by at most the monitor's period (above).
  std::chrono::nanoseconds duration{0};
  // The runtime's slow_poll_threshold.
  std::chrono::nanoseconds threshold{0};
  // Index of the worker that ran it (WorkerMetrics order).
  size_t worker = 0;
};

// The default handler: the one line on stderr shown above.
void ReportSlowPoll(const SlowPoll& poll);

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SLOW_POLL_H_
