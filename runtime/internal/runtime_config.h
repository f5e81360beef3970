#ifndef TIDEPOOL_RUNTIME_INTERNAL_RUNTIME_CONFIG_H_
#define TIDEPOOL_RUNTIME_INTERNAL_RUNTIME_CONFIG_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "alloc/policy.h"
#include "runtime/slow_poll.h"
#include "runtime/task_hooks.h"
#include "runtime/unhandled_exception.h"

namespace tidepool::internal {

// The validated settings a Builder hands to the runtime's internals.
struct RuntimeConfig {
  size_t worker_threads = 1;
  // No worker threads: tasks run on the thread inside block_on (or drain),
  // which drives the single worker's loop (Scheduler::DriveUntil).
  bool current_thread = false;
  size_t max_blocking_threads = 512;
  // Blocking calls that may compute at once (BlockingPool); 0: no limit;
  // unset: twice the CPUs the runtime may use.
  std::optional<size_t> blocking_parallelism;
  std::chrono::nanoseconds thread_keep_alive = std::chrono::seconds(10);
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(10);
  std::string thread_name = "tidepool";
  std::function<void()> on_thread_start;
  std::function<void()> on_thread_stop;
  alloc::Policy allocator = alloc::DefaultPolicy();
  std::function<void(const UnhandledException&)> on_unhandled_exception =
      ReportUnhandledException;
  // Zero turns poll timing off.
  std::chrono::nanoseconds slow_poll_threshold = std::chrono::milliseconds(100);
  std::function<void(const SlowPoll&)> on_slow_poll = ReportSlowPoll;
  // Empty when not set.
  TaskHook on_task_spawn;
  TaskHook on_task_terminate;
  TaskHook on_before_task_poll;
  TaskHook on_after_task_poll;
  // Bytes; 0: no budget. With one, memory_in_use is what the blocking pool
  // samples (BudgetInUseSource(), set by Builder::build()).
  size_t memory_budget = 0;
  std::function<int64_t()> memory_in_use;
  // The eighths of the budget the permits' estimated memory may fill
  // (internal::PermitShareEighths(), set by Builder::build()).
  uint64_t permit_share_eighths = 5;
};

// Names the calling thread "<prefix>-<kind><index>" (kind 'w' for workers,
// 'b' for blocking threads), shortening the prefix to fit the 15 bytes Linux
// keeps in /proc/self/task/*/comm.
void NameThisThread(const std::string& prefix, char kind, size_t index);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_RUNTIME_CONFIG_H_
