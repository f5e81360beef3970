#include "runtime/builder.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "alloc/alloc.h"
#include "alloc/config_file.h"
#include "runtime/internal/budget_admission.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/signal_mask.h"
#include "runtime/memory_budget.h"
#include "runtime/runtime_class.h"

namespace tidepool {
namespace {

// Durations in milliseconds go up to a day: longer is a typo, not a policy.
constexpr uint64_t kOneDayMs = 86'400'000;

absl::Status CheckRange(const char* setting, uint64_t value, uint64_t lo,
                        uint64_t hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(setting, "=", value,
                   " is out of range: accepted values are ", lo, " to ", hi));
}

// Reads an integer setting in [lo, hi] from the environment or the
// TIDEPOOL_CONFIG file; unset leaves `out`.
absl::Status ReadEnv(const char* name, uint64_t lo, uint64_t hi,
                     uint64_t& out) {
  const char* text = alloc::LookupSetting(name);
  if (text == nullptr) return absl::OkStatus();
  uint64_t value;
  if (!absl::SimpleAtoi(text, &value) || value < lo || value > hi) {
    const char* where = std::getenv(name) ? "" : " (from TIDEPOOL_CONFIG)";
    return absl::InvalidArgumentError(absl::StrCat(
        name, "='", text, "'", where,
        " is not valid: expected an integer from ", lo, " to ", hi));
  }
  out = value;
  return absl::OkStatus();
}

// Reads TIDEPOOL_MEMORY_BUDGET (ParseMemoryBudget's form) from the
// environment or the TIDEPOOL_CONFIG file; unset leaves `out`.
absl::Status ReadMemoryBudget(size_t& out) {
  constexpr const char* kName = "TIDEPOOL_MEMORY_BUDGET";
  const char* text = alloc::LookupSetting(kName);
  if (text == nullptr) return absl::OkStatus();
  absl::StatusOr<size_t> bytes = ParseMemoryBudget(
      text, std::getenv(kName)
                ? kName
                : "TIDEPOOL_MEMORY_BUDGET (from TIDEPOOL_CONFIG)");
  if (!bytes.ok()) return bytes.status();
  out = *bytes;
  return absl::OkStatus();
}

}  // namespace

Builder::Builder() {
  const unsigned hw = std::thread::hardware_concurrency();
  config_.worker_threads = hw == 0 ? 1 : hw;
}

Builder Builder::current_thread() {
  Builder b;
  b.config_.worker_threads = 1;
  b.config_.current_thread = true;
  return b;
}

Builder& Builder::worker_threads(size_t n) {
  config_.worker_threads = n;
  return *this;
}

Builder& Builder::max_blocking_threads(size_t n) {
  config_.max_blocking_threads = n;
  return *this;
}

Builder& Builder::blocking_parallelism(size_t n) {
  config_.blocking_parallelism = n;
  return *this;
}

Builder& Builder::thread_keep_alive(std::chrono::nanoseconds d) {
  config_.thread_keep_alive = d;
  return *this;
}

Builder& Builder::shutdown_timeout(std::chrono::nanoseconds d) {
  config_.shutdown_timeout = d;
  return *this;
}

Builder& Builder::thread_name(std::string prefix) {
  config_.thread_name = std::move(prefix);
  return *this;
}

Builder& Builder::on_thread_start(std::function<void()> f) {
  config_.on_thread_start = std::move(f);
  return *this;
}

Builder& Builder::on_thread_stop(std::function<void()> f) {
  config_.on_thread_stop = std::move(f);
  return *this;
}

Builder& Builder::on_unhandled_exception(
    std::function<void(const UnhandledException&)> f) {
  config_.on_unhandled_exception = std::move(f);
  return *this;
}

Builder& Builder::slow_poll_threshold(std::chrono::nanoseconds threshold) {
  config_.slow_poll_threshold = threshold;
  return *this;
}

Builder& Builder::on_slow_poll(std::function<void(const SlowPoll&)> f) {
  config_.on_slow_poll = std::move(f);
  return *this;
}

Builder& Builder::on_task_spawn(TaskHook f) {
  config_.on_task_spawn = std::move(f);
  return *this;
}

Builder& Builder::on_task_terminate(TaskHook f) {
  config_.on_task_terminate = std::move(f);
  return *this;
}

Builder& Builder::on_before_task_poll(TaskHook f) {
  config_.on_before_task_poll = std::move(f);
  return *this;
}

Builder& Builder::on_after_task_poll(TaskHook f) {
  config_.on_after_task_poll = std::move(f);
  return *this;
}

Builder& Builder::process_allocator(alloc::Policy policy) {
  config_.allocator = std::move(policy);
  return *this;
}

Builder& Builder::memory_budget(size_t bytes) {
  config_.memory_budget = bytes;
  return *this;
}

Builder& Builder::io_driver(IoDriverKind kind) {
  io_driver_ = kind;
  return *this;
}

absl::StatusOr<Builder> Builder::from_env() {
  char file_error[512];
  if (alloc::ConfigFileError(file_error, sizeof file_error)) {
    return absl::InvalidArgumentError(file_error);
  }
  Builder b;
  uint64_t workers = b.config_.worker_threads;
  uint64_t blocking = b.config_.max_blocking_threads;
  uint64_t keep_alive_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          b.config_.thread_keep_alive)
          .count();
  uint64_t slow_poll_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              b.config_.slow_poll_threshold)
                              .count();
  if (auto s =
          ReadEnv("TIDEPOOL_WORKER_THREADS", 1, kMaxWorkerThreads, workers);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadEnv("TIDEPOOL_MAX_BLOCKING_THREADS", 1,
                       kMaxBlockingThreadsLimit, blocking);
      !s.ok()) {
    return s;
  }
  if (alloc::LookupSetting("TIDEPOOL_BLOCKING_PARALLELISM") != nullptr) {
    uint64_t parallelism = 0;
    if (auto s = ReadEnv("TIDEPOOL_BLOCKING_PARALLELISM", 0,
                         kMaxBlockingThreadsLimit, parallelism);
        !s.ok()) {
      return s;
    }
    b.blocking_parallelism(parallelism);
  }
  if (auto s =
          ReadEnv("TIDEPOOL_THREAD_KEEP_ALIVE_MS", 1, kOneDayMs, keep_alive_ms);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadEnv("TIDEPOOL_SLOW_POLL_THRESHOLD_MS", 0, kOneDayMs,
                       slow_poll_ms);
      !s.ok()) {
    return s;
  }
  b.worker_threads(workers)
      .max_blocking_threads(blocking)
      .thread_keep_alive(std::chrono::milliseconds(keep_alive_ms))
      .slow_poll_threshold(std::chrono::milliseconds(slow_poll_ms));
  if (const char* io = alloc::LookupSetting("TIDEPOOL_IO")) {
    absl::StatusOr<IoDriverKind> kind = ParseIoDriverKind(io, "TIDEPOOL_IO");
    if (!kind.ok()) return kind.status();
    b.io_driver(*kind);
  }
  if (auto s = ReadMemoryBudget(b.config_.memory_budget); !s.ok()) return s;
  return b;
}

absl::StatusOr<Runtime> Builder::build() const {
  if (config_.current_thread && config_.worker_threads != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker_threads=", config_.worker_threads,
        " does not apply to a current_thread runtime: accepted value is 1 "
        "(its tasks run on the thread calling block_on)"));
  }
  if (auto s = CheckRange("worker_threads", config_.worker_threads, 1,
                          kMaxWorkerThreads);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckRange("max_blocking_threads", config_.max_blocking_threads,
                          1, kMaxBlockingThreadsLimit);
      !s.ok()) {
    return s;
  }
  if (config_.blocking_parallelism.has_value()) {
    if (auto s =
            CheckRange("blocking_parallelism", *config_.blocking_parallelism, 0,
                       kMaxBlockingThreadsLimit);
        !s.ok()) {
      return s;
    }
  }
  if (config_.thread_keep_alive <= std::chrono::nanoseconds::zero()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "thread_keep_alive=", config_.thread_keep_alive.count(),
        "ns is out of range: accepted values are durations above zero"));
  }
  if (config_.shutdown_timeout < std::chrono::nanoseconds::zero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shutdown_timeout=", config_.shutdown_timeout.count(),
                     "ns is out of range: accepted values are zero or more"));
  }
  if (config_.slow_poll_threshold < std::chrono::nanoseconds::zero() ||
      config_.slow_poll_threshold > std::chrono::milliseconds(kOneDayMs)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slow_poll_threshold=", config_.slow_poll_threshold.count(),
        "ns is out of range: accepted values are zero (poll timing off) to ",
        "24 hours"));
  }
  if (!config_.on_slow_poll) {
    return absl::InvalidArgumentError(
        "on_slow_poll is empty: accepted values are a callable, such as "
        "tidepool::ReportSlowPoll (the default)");
  }
  if (!config_.on_unhandled_exception) {
    return absl::InvalidArgumentError(
        "on_unhandled_exception is empty: accepted values are a callable, "
        "such as tidepool::ReportUnhandledException (the default) or "
        "tidepool::AbortOnUnhandledException");
  }
  bool name_ok = !config_.thread_name.empty();
  for (unsigned char c : config_.thread_name) {
    name_ok = name_ok && std::isprint(c) && c != '/';
  }
  if (!name_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("thread_name='", config_.thread_name,
                     "' is not valid: accepted values are non-empty printable "
                     "text without '/'"));
  }
  internal::RuntimeConfig config = config_;
  if (config.memory_budget > kMaxMemoryBudget) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory_budget=", config.memory_budget,
                     " is out of range: accepted values are 0 (no budget) to ",
                     kMaxMemoryBudget, " (2^48) bytes"));
  }
  if (config.memory_budget > 0) {
    // mimalloc's count is its resident pages, which a decommit delay keeps
    // after their free: under a long delay admission waits on memory
    // already released. A few milliseconds still batch the decommits
    // (none at all costs half the throughput, docs/allocators.md).
    if (config.allocator.mimalloc_decommit_delay_ms < 0 ||
        config.allocator.mimalloc_decommit_delay_ms > kBudgetMimallocDelayMs) {
      config.allocator.mimalloc_decommit_delay_ms = kBudgetMimallocDelayMs;
    }
    config.memory_in_use = internal::BudgetInUseSource();
    config.permit_share_eighths =
        internal::PermitShareEighths(alloc::active_backend().kind);
    if (config.memory_in_use() < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "memory_budget=", config.memory_budget, " needs an allocator that ",
          "counts its in-use bytes (glibc, jemalloc, mimalloc) but ",
          alloc::BackendName(alloc::active_backend().kind),
          " serves malloc in this process (sanitizer builds interpose it): "
          "accepted values are 0 (no budget) there"));
    }
  }
  auto io =
      internal::IoDriver::Create(io_driver_, config.worker_threads,
                                 /*per_worker_rings=*/!config.current_thread);
  if (!io.ok()) return io.status();
  if (auto s = alloc::Configure(config.allocator); !s.ok()) return s;
  auto scheduler =
      std::make_shared<internal::Scheduler>(config, *std::move(io));
  // absl builds its table of errno messages (behind absl::ErrnoToStatus)
  // on first use, behind a function-local static whose guard check is
  // compiled into Debian's libabsl, which is not built for ThreadSanitizer:
  // two workers' first socket errors at once would look like a race to it.
  // Built here, before the workers start, it is ordered before them; it
  // also spares the first error on a worker the table's cost.
  (void)absl::ErrnoToStatus(EINVAL, "");
  {
    // Workers inherit this mask: see signal_mask.h.
    internal::ScopedBlockListenableSignals block;
    if (auto s = scheduler->Start(); !s.ok()) return s;
  }
  return Runtime(std::move(scheduler));
}

}  // namespace tidepool
