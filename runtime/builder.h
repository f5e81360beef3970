#ifndef TIDEPOOL_RUNTIME_BUILDER_H_
#define TIDEPOOL_RUNTIME_BUILDER_H_

// Builder: the settings of a Runtime, checked by build().
//
//   absl::StatusOr<tidepool::Runtime> rt = tidepool::Builder()
//       .worker_threads(2)
//       .max_blocking_threads(8)
//       .thread_keep_alive(std::chrono::milliseconds(500))
//       .build();
//   if (!rt.ok()) { /* rt.status() names the bad setting */ }
//
// Setters only record; build() validates every setting and returns
// InvalidArgument naming the setting and its accepted values. Builders are
// plain values: copy them, build several runtimes from one.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "alloc/policy.h"
#include "runtime/internal/runtime_config.h"
#include "runtime/io_driver_kind.h"
#include "runtime/slow_poll.h"
#include "runtime/task_hooks.h"
#include "runtime/unhandled_exception.h"

namespace tidepool {

class Runtime;

class Builder {
 public:
  static constexpr size_t kMaxWorkerThreads = 4096;
  static constexpr size_t kMaxBlockingThreadsLimit = 100000;
  // The longest mimalloc decommit delay a memory budget keeps, in ms.
  static constexpr int kBudgetMimallocDelayMs = 3;

  // Defaults: one worker per hardware thread, 512 blocking threads, 10 s
  // keep-alive, 10 s shutdown timeout, thread names "tidepool-w0"..., slow
  // polls from 100 ms reported on stderr, no task hooks.
  Builder();

  // A Builder for a runtime without worker threads (tokio's current_thread
  // flavor): its tasks run on the thread inside Runtime::block_on or
  // Handle::block_on, and only while one runs (Runtime::drain drives them
  // too). Timers, I/O and the blocking pool work as usual. For tests, and
  // for thread-per-core servers that run one such runtime per thread. One
  // thread drives at a time: a second block_on waits until the first
  // returns. worker_threads() other than 1 is an error at build().
  //
  //   auto rt = tidepool::Builder::current_thread().build();
  //   int v = rt->block_on(Compute());  // Compute() runs on this thread
  static Builder current_thread();

  // Number of worker threads running tasks: 1 to 4096.
  Builder& worker_threads(size_t n);
  // Cap on blocking-pool threads: 1 to 100000. Calls beyond it queue.
  Builder& max_blocking_threads(size_t n);
  // How many spawn_blocking calls may compute at once: 0 (no limit, as
  // tokio) to 100000; default twice the CPUs the process may use. Calls
  // beyond it wait in FIFO order and start as running ones finish. A call
  // whose thread sleeps (on a socket, a file, a lock, a timer) for a
  // millisecond or so stops counting, so calls that wait rather than
  // compute all run at once, up to max_blocking_threads, though a burst of
  // them starts more slowly than without a limit; and each time no call
  // finishes for 10 ms (or four average calls, if longer) one more starts,
  // so long computations cannot hold the rest back indefinitely. Why:
  // computing calls beyond the CPUs finish none sooner, and each one in
  // flight holds its memory and its thread's allocator caches
  // (docs/configuration.md, "Blocking parallelism"). While calls wait, one
  // pool thread reads the kernel's state of each running one every
  // millisecond (200 us after a read that found one asleep).
  Builder& blocking_parallelism(size_t n);
  // How long an idle blocking thread waits for work before exiting: more
  // than zero.
  Builder& thread_keep_alive(std::chrono::nanoseconds d);
  // How long destroying the Runtime waits for running blocking calls: zero
  // or more.
  Builder& shutdown_timeout(std::chrono::nanoseconds d);
  // Thread name prefix; workers are "<prefix>-w<i>", blocking threads
  // "<prefix>-b<i>", the monitor (docs/architecture.md, "The LIFO slot and
  // the monitor") "<prefix>-m0". Non-empty, printable, no '/'.
  Builder& thread_name(std::string prefix);
  // Run on every worker and blocking thread, in that thread, before its
  // first task and after its last.
  Builder& on_thread_start(std::function<void()> f);
  Builder& on_thread_stop(std::function<void()> f);
  // Receives each exception that escapes a task or blocking call whose
  // JoinHandle was dropped or detached (runtime/unhandled_exception.h);
  // default ReportUnhandledException (stderr). AbortOnUnhandledException
  // stops the process instead. build() rejects an empty function.
  Builder& on_unhandled_exception(
      std::function<void(const UnhandledException&)> f);
  // A poll that runs longer than this is a slow poll (slow_poll.h): counted
  // in WorkerMetrics::slow_polls and handed to on_slow_poll. The runtime's
  // monitor thread finds them without timing polls (a worker pays two
  // stores and a load per poll); one poll in 64 is timed on the steady
  // clock for the poll-time histogram. Zero turns both off (and, with one
  // worker, the monitor too). Zero to 24 hours; default 100 ms.
  Builder& slow_poll_threshold(std::chrono::nanoseconds threshold);
  // Receives each slow poll, on the worker that ran it, right after it;
  // default ReportSlowPoll (one line on stderr). build() rejects an empty
  // function.
  Builder& on_slow_poll(std::function<void(const SlowPoll&)> f);
  // Task hooks (task_hooks.h): called when a task is spawned, when it
  // terminates, and before and after each of its polls. Unset by default;
  // an empty function unsets one.
  Builder& on_task_spawn(TaskHook f);
  Builder& on_task_terminate(TaskHook f);
  Builder& on_before_task_poll(TaskHook f);
  Builder& on_after_task_poll(TaskHook f);
  // The allocator policy (alloc/policy.h); default alloc::DefaultPolicy().
  // Process-wide, as malloc is: build() applies its knobs (arena caps,
  // thresholds, decay) to the allocator serving the whole process, before
  // any runtime thread starts; a later runtime's policy replaces them. Its
  // trim policy applies to this runtime's threads. build() fails if the
  // policy expects a backend other than the one serving malloc or a knob is
  // out of range.
  Builder& process_allocator(alloc::Policy policy);
  // A soft cap, in bytes, on what the allocator serving malloc holds in use
  // (alloc::InUseBytes); 0, the default, sets none. As the in-use bytes
  // approach it the runtime trims the allocator harder, and once they
  // reach it new spawn_blocking calls wait, in FIFO order, until memory is
  // released; none fails or is dropped, and tasks on the workers never
  // block (a task awaiting a waiting call stays suspended). A call into a
  // pool with nothing running is always admitted, so a call bigger than
  // the budget runs; below the budget at least as many calls may run as
  // the process has CPUs. It cannot bound memory that tasks allocate
  // before they reach the pool, nor memory outside the allocator. Pool
  // threads sample the allocator every 10 ms while calls finish and every
  // 1 ms while calls wait, spaced so that sampling takes at most 1/50 of a
  // thread; workers never do (docs/configuration.md, "The memory
  // budget"). With a budget, mimalloc's decommit delay is at most
  // kBudgetMimallocDelayMs (alloc::Policy::mimalloc_decommit_delay_ms),
  // since its count is its resident pages. Any thread may call it, as
  // every setter. build() fails
  // above kMaxMemoryBudget (runtime/memory_budget.h), and with
  // FAILED_PRECONDITION where the allocator counts no in-use bytes
  // (another interposer, such as a sanitizer).
  //
  //   auto rt = tidepool::Builder().memory_budget(size_t{24} << 20).build();
  Builder& memory_budget(size_t bytes);
  // The I/O driver (runtime/io_driver_kind.h); default kAuto: io_uring, or
  // epoll where the kernel refuses io_uring. Runtime::metrics().io_driver
  // says which one runs.
  Builder& io_driver(IoDriverKind kind);

  // A Builder with defaults overridden by TIDEPOOL_WORKER_THREADS,
  // TIDEPOOL_MAX_BLOCKING_THREADS, TIDEPOOL_BLOCKING_PARALLELISM,
  // TIDEPOOL_THREAD_KEEP_ALIVE_MS,
  // TIDEPOOL_SLOW_POLL_THRESHOLD_MS, TIDEPOOL_IO and TIDEPOOL_MEMORY_BUDGET
  // (ParseMemoryBudget's form, such as 24M), or by the same keys in the
  // TIDEPOOL_CONFIG file (alloc/config_file.h; the environment wins). Unset
  // keeps the default. A malformed or out-of-range value, or a malformed file,
  // returns InvalidArgument naming the variable (or the file and line).
  static absl::StatusOr<Builder> from_env();

  // Validates the settings and starts the runtime's worker threads.
  absl::StatusOr<Runtime> build() const;

 private:
  internal::RuntimeConfig config_;
  IoDriverKind io_driver_ = IoDriverKind::kAuto;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_BUILDER_H_
