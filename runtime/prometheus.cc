#include "runtime/prometheus.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "alloc/alloc.h"
#include "alloc/backend.h"
#include "runtime/net/tcp_stream.h"
#include "runtime/time/sleep.h"

namespace tidepool {
namespace {

using Clock = std::chrono::steady_clock;

// A request head larger than this is refused: a scrape's is a few hundred
// bytes, and the cap bounds what a client can make the loop hold.
constexpr size_t kMaxHeadBytes = 8 * 1024;
// Time for a whole exchange (request, response, close), so that a stalled
// client holds the one-at-a-time loop for at most this long.
constexpr auto kExchangeTime = std::chrono::seconds(5);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr absl::string_view kContentType = "text/plain; version=0.0.4";

// Label values may hold any text; the format escapes exactly these three.
std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Writes families: Family() once per name (the HELP and TYPE lines), then
// its samples. Help texts are fixed strings of this file, with no backslash
// or newline to escape.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help) {
    absl::StrAppend(out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                    type, "\n");
  }
  template <typename T>
  void Sample(absl::string_view name, T value) {
    absl::StrAppend(out_, name, " ", value, "\n");
  }
  // One label; its value is escaped here.
  template <typename T>
  void Sample(absl::string_view name, absl::string_view label,
              absl::string_view label_value, T value) {
    absl::StrAppend(out_, name, "{", label, "=\"",
                    EscapeLabelValue(label_value), "\"} ", value, "\n");
  }

  template <typename T>
  void Gauge(absl::string_view name, absl::string_view help, T value) {
    Family(name, "gauge", help);
    Sample(name, value);
  }
  // `name` ends in _total, as the format's counters do.
  void Counter(absl::string_view name, absl::string_view help, uint64_t value) {
    Family(name, "counter", help);
    Sample(name, value);
  }
  // A counter of time kept in nanoseconds, exported in seconds.
  void SecondsCounter(absl::string_view name, absl::string_view help,
                      uint64_t ns) {
    Family(name, "counter", help);
    Sample(name, static_cast<double>(ns) / 1e9);
  }
  // An allocator figure, left out when the backend does not report it (-1).
  void KnownGauge(absl::string_view name, absl::string_view help,
                  int64_t value) {
    if (value >= 0) Gauge(name, help, value);
  }
  // An "info" family: one sample of value 1 whose label carries the fact.
  void Info(absl::string_view name, absl::string_view help,
            absl::string_view label, absl::string_view value) {
    Family(name, "gauge", help);
    Sample(name, label, value, 1);
  }
  // A per-worker family, one sample per worker labelled with its index.
  template <typename Get>
  void PerWorker(absl::string_view name, absl::string_view type,
                 absl::string_view help,
                 const std::vector<WorkerMetrics>& workers, Get get) {
    Family(name, type, help);
    for (size_t i = 0; i < workers.size(); ++i) {
      Sample(name, "worker", absl::StrCat(i), get(workers[i]));
    }
  }

 private:
  std::string* out_;
};

// A backend-specific figure of alloc::Stats::detail, or -1.
int64_t Detail(const alloc::Stats& s, absl::string_view key) {
  for (const auto& [name, value] : s.detail) {
    if (name == key) return value;
  }
  return -1;
}

absl::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
  }
  return "Error";
}

std::string Response(int status, absl::string_view content_type,
                     absl::string_view body, bool close) {
  return absl::StrCat("HTTP/1.1 ", status, " ", Reason(status),
                      "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(),
                      close ? "\r\nConnection: close" : "", "\r\n\r\n", body);
}

// The response ServeMetrics gives to the request head `head` (up to and
// without its blank line).
std::string Answer(const Runtime& runtime, absl::string_view head) {
  const size_t eol = head.find("\r\n");
  const absl::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 =
      sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == absl::string_view::npos ||
      !absl::StartsWith(line.substr(sp2 + 1), "HTTP/1.")) {
    return Response(400, "text/plain", "bad request\n", /*close=*/true);
  }
  const absl::string_view method = line.substr(0, sp1);
  absl::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  if (path != "/metrics") {
    return Response(404, "text/plain", "not found\n", /*close=*/true);
  }
  if (method != "GET") {
    return Response(405, "text/plain", "method not allowed\n", /*close=*/true);
  }
  return Response(200, kContentType, PrometheusText(runtime), /*close=*/true);
}

// One exchange on `s`: reads a request head, answers, and closes; every
// step ends by `deadline`.
Task<void> ServeOne(const Runtime& runtime, TcpStream s,
                    Clock::time_point deadline) {
  std::string head;
  std::array<char, 1024> buf;
  size_t end = std::string::npos;
  while (end == std::string::npos && head.size() <= kMaxHeadBytes) {
    auto read = s.read(std::span<char>(buf));
    read.set_deadline(deadline);
    const absl::StatusOr<size_t> n = co_await read;
    if (!n.ok() || *n == 0) co_return;  // timed out, failed, or went away
    // Search from where a "\r\n\r\n" split across reads could begin.
    const size_t from = head.size() < 3 ? 0 : head.size() - 3;
    head.append(buf.data(), *n);
    end = head.find("\r\n\r\n", from);
  }
  // The last read may have carried the head past the cap before its end.
  const bool too_large = end == std::string::npos || end + 4 > kMaxHeadBytes;
  const std::string reply =
      too_large ? Response(400, "text/plain", "request head too large\n",
                           /*close=*/true)
                : Answer(runtime, absl::string_view(head).substr(0, end));
  if (!(co_await s.write_all(reply, deadline)).ok()) co_return;
  // Closing with input unread would make the kernel reset the connection,
  // which can destroy the response before the client reads it: send FIN,
  // then drop what the client still sends until it closes.
  (void)s.shutdown(TcpStream::Shutdown::kWrite);
  while (true) {
    auto read = s.read(std::span<char>(buf));
    read.set_deadline(deadline);
    const absl::StatusOr<size_t> n = co_await read;
    if (!n.ok() || *n == 0) co_return;
  }
}

}  // namespace

std::string PrometheusText(const Runtime& runtime) {
  return PrometheusText(runtime.metrics(), alloc::stats());
}

std::string PrometheusText(const RuntimeMetrics& m, const alloc::Stats& a) {
  std::string out;
  Writer w(&out);

  w.Gauge("tidepool_workers", "Worker threads.", m.workers);
  w.Gauge("tidepool_alive_tasks", "Tasks spawned and not yet finished.",
          m.alive_tasks);
  w.Gauge("tidepool_global_queue_depth",
          "Tasks waiting in the global (inject) queue.", m.global_queue_depth);
  w.Counter("tidepool_unhandled_exceptions_total",
            "Exceptions of detached tasks and blocking calls handed to the "
            "unhandled-exception handler.",
            m.unhandled_exceptions);
  const std::vector<WorkerMetrics>& workers = m.per_worker;
  w.PerWorker("tidepool_polls_total", "counter", "Task polls run by a worker.",
              workers, [](const WorkerMetrics& x) { return x.polls; });
  w.PerWorker("tidepool_steals_total", "counter",
              "Tasks a worker stole from other workers.", workers,
              [](const WorkerMetrics& x) { return x.steals; });
  w.PerWorker("tidepool_parks_total", "counter",
              "Times a worker went to sleep (an idle worker re-parks after "
              "each periodic look at the queues).",
              workers, [](const WorkerMetrics& x) { return x.parks; });
  w.PerWorker("tidepool_spin_wakeups_total", "counter",
              "Parks ended by a wake-up while the worker still spun.", workers,
              [](const WorkerMetrics& x) { return x.spin_wakeups; });
  w.PerWorker("tidepool_slow_polls_total", "counter",
              "Polls that ran longer than slow_poll_threshold.", workers,
              [](const WorkerMetrics& x) { return x.slow_polls; });
  w.PerWorker("tidepool_lifo_steals_total", "counter",
              "Tasks the monitor took from a worker's LIFO slot while the "
              "worker was stuck in one poll.",
              workers, [](const WorkerMetrics& x) { return x.lifo_steals; });
  w.PerWorker("tidepool_local_queue_depth", "gauge",
              "Tasks in a worker's local queue.", workers,
              [](const WorkerMetrics& x) { return x.local_queue_depth; });
  w.PerWorker("tidepool_worker_parked", "gauge",
              "1 if the worker was parked (spinning before sleep, or asleep).",
              workers, [](const WorkerMetrics& x) { return x.parked ? 1 : 0; });

  const BlockingMetrics& b = m.blocking;
  w.Gauge("tidepool_blocking_threads",
          "Blocking-pool threads alive (able to take work).", b.threads_alive);
  w.Gauge("tidepool_blocking_threads_idle",
          "Blocking-pool threads waiting for work.", b.threads_idle);
  w.Gauge("tidepool_blocking_queue_depth",
          "Blocking calls waiting for a thread or for the parallelism "
          "limit.",
          b.queue_depth);
  w.Counter("tidepool_blocking_threads_spawned_total",
            "Blocking-pool threads started.", b.threads_spawned);
  w.Counter("tidepool_blocking_threads_exited_total",
            "Blocking-pool threads that exited after keep-alive.",
            b.threads_exited);
  w.Counter("tidepool_blocking_spawn_failures_total",
            "Blocking-pool thread creations that failed.", b.spawn_failures);
  w.Counter("tidepool_blocking_spinning_handoffs_total",
            "Blocking calls handed to a thread still spinning after its "
            "previous call.",
            b.spinning_handoffs);
  w.Counter("tidepool_blocking_chained_handoffs_total",
            "Short blocking calls that waited for a thread already waking or "
            "finishing instead of waking one of their own.",
            b.chained_handoffs);
  w.Gauge("tidepool_blocking_parallelism",
          "Blocking calls that may compute at once (0: no limit).",
          b.parallelism);
  w.Counter("tidepool_blocking_held_calls_total",
            "Blocking calls that waited because the parallelism limit's "
            "calls were computing.",
            b.held_calls);
  w.Counter("tidepool_blocking_blocked_calls_total",
            "Running blocking calls found asleep in the kernel, each of "
            "which let another call start.",
            b.blocked_calls);
  w.Counter("tidepool_blocking_burst_admits_total",
            "Blocking calls started beyond the parallelism limit because "
            "the calls before them were found blocked.",
            b.burst_admits);
  w.Counter("tidepool_blocking_stall_admits_total",
            "Blocking calls started beyond the parallelism limit because "
            "none finished for 10 ms.",
            b.stall_admits);

  // The budget's families only with a budget, as a figure the allocator
  // does not report is left out.
  const MemoryBudgetMetrics& mb = b.budget;
  if (mb.budget > 0) {
    w.Gauge("tidepool_memory_budget_bytes",
            "The memory budget (Builder::memory_budget).", mb.budget);
    w.Gauge("tidepool_memory_budget_in_use_bytes",
            "The allocator's in-use bytes at the budget's last sample.",
            mb.in_use);
    w.Gauge("tidepool_memory_budget_pressure_ratio",
            "In-use bytes over the budget at the last sample.", mb.pressure);
    w.Counter("tidepool_memory_budget_samples_total",
              "Samples of the allocator's in-use bytes.", mb.samples);
    w.Counter("tidepool_memory_budget_trims_total",
              "Allocator trims made because in-use bytes neared the budget.",
              mb.trims);
    w.Gauge("tidepool_blocking_admission_limit",
            "Blocking calls the budget admits at once until its next sample "
            "(0: only into an empty pool).",
            mb.limit);
    w.Gauge("tidepool_blocking_admission_queue_depth",
            "Blocking calls waiting for the memory budget to admit them.",
            mb.waiting);
    w.Counter("tidepool_blocking_admission_waits_total",
              "Blocking calls that waited for the memory budget.", mb.waited);
    w.SecondsCounter("tidepool_blocking_admission_wait_seconds_total",
                     "Time blocking calls spent waiting for the memory budget.",
                     mb.wait_ns);
    w.Gauge("tidepool_budget_permits_held",
            "Permits of the memory budget (budget_permit) held now.",
            mb.permits_held);
    w.Gauge("tidepool_budget_permit_limit",
            "Permits that may be held before new ones wait.", mb.permit_limit);
    w.Gauge("tidepool_budget_permit_queue_depth",
            "Tasks waiting for a permit of the memory budget.",
            mb.permits_waiting);
    w.Counter("tidepool_budget_permits_granted_total",
              "Permits of the memory budget granted.", mb.permits_granted);
    w.Counter("tidepool_budget_permit_waits_total",
              "Permits granted after their task waited.", mb.permits_waited);
    w.SecondsCounter(
        "tidepool_budget_permit_wait_seconds_total",
        "Time tasks spent waiting for permits of the memory budget.",
        mb.permit_wait_ns);
  }

  w.Info("tidepool_io_driver_info", "The I/O driver in use.", "driver",
         m.io_driver);
  w.Info("tidepool_io_driver_mode_info",
         "How the I/O driver is set up (a ring per worker, a shared ring, "
         "epoll).",
         "mode", m.io_driver_mode);
  w.Gauge("tidepool_io_in_flight",
          "Socket and file operations waiting in the I/O driver.",
          m.io_in_flight);
  w.Info("tidepool_fs_backend_info",
         "Where file reads and writes run (io_uring, blocking pool).",
         "backend", m.fs_backend);

  w.Info("tidepool_allocator_info", "The allocator serving malloc.", "backend",
         alloc::BackendName(a.backend));
  w.Counter("tidepool_allocator_trims_total",
            "Times the allocator was asked to return free memory to the "
            "system.",
            a.trims);
  w.Counter("tidepool_allocator_trim_released_bytes_total",
            "Resident bytes the trims gave back.",
            static_cast<uint64_t>(a.trim_released));
  w.KnownGauge("tidepool_allocator_allocated_bytes",
               "Bytes in blocks the program holds.", a.allocated);
  w.KnownGauge("tidepool_allocator_arena_bytes",
               "Bytes the allocator holds from the system, live or free.",
               a.arena);
  w.KnownGauge("tidepool_allocator_free_held_bytes",
               "Free bytes kept inside the allocator.", a.free_held);
  w.KnownGauge("tidepool_allocator_releasable_bytes",
               "Free bytes a trim could give back (an estimate for glibc).",
               a.releasable);
  w.KnownGauge("tidepool_allocator_mmap_bytes",
               "Bytes in large blocks mapped on their own.", a.mmap_bytes);
  w.KnownGauge("tidepool_allocator_mmap_regions",
               "Large blocks mapped on their own.", a.mmap_regions);
  w.KnownGauge("tidepool_allocator_free_chunks",
               "Free chunks inside the arenas.", a.free_chunks);
  if (a.utilization >= 0) {
    w.Gauge("tidepool_allocator_utilization_ratio",
            "Allocated bytes over arena bytes.", a.utilization);
  }
  // jemalloc's own counts; glibc and mimalloc keep none of the kind
  // (mimalloc's "rss" is the whole process's).
  w.KnownGauge("tidepool_allocator_resident_bytes",
               "Bytes in resident pages the allocator has mapped.",
               Detail(a, "stats.resident"));
  w.KnownGauge("tidepool_allocator_retained_bytes",
               "Virtual memory the allocator keeps mapped but unused, for "
               "reuse.",
               Detail(a, "stats.retained"));
  return out;
}

std::string MetricsHttpResponse(const Runtime& runtime) {
  return Response(200, kContentType, PrometheusText(runtime), /*close=*/false);
}

Task<absl::Status> ServeMetrics(const Runtime& runtime, TcpListener listener) {
  while (true) {
    absl::StatusOr<TcpStream> conn = co_await listener.accept();
    if (absl::IsResourceExhausted(conn.status())) {
      // Out of descriptors: the server's connections will free some.
      co_await sleep(kAcceptBackoff);
      continue;
    }
    if (!conn.ok()) co_return conn.status();
    co_await ServeOne(runtime, *std::move(conn), Clock::now() + kExchangeTime);
  }
}

}  // namespace tidepool
