#ifndef TIDEPOOL_RUNTIME_PROMETHEUS_H_
#define TIDEPOOL_RUNTIME_PROMETHEUS_H_

// A Runtime's figures as Prometheus text (exposition format 0.0.4), for a
// server's /metrics: the scheduler and its workers, the blocking pool, the
// I/O driver and the allocator (runtime/metrics.h, alloc/stats.h).
//
// A server that already speaks HTTP mounts the text on its own route:
//
//   } else if (path == "/metrics") {
//     reply = tidepool::MetricsHttpResponse(runtime);  // or PrometheusText()
//
// and one that does not runs ServeMetrics on a port of its own:
//
//   auto listener = tidepool::TcpListener::bind(
//       *tidepool::SocketAddress::Parse("0.0.0.0:9464"));  // in a task
//   tidepool::spawn(tidepool::ServeMetrics(runtime, *std::move(listener)))
//       .detach();
//
// The families, all prefixed tidepool_ and in base units (bytes, counts);
// counters end in _total; each family has one HELP and one TYPE line:
//
//   runtime    tidepool_workers, tidepool_alive_tasks,
//              tidepool_global_queue_depth,
//              tidepool_unhandled_exceptions_total;
//              per worker, labelled {worker="0"} and so on:
//              tidepool_polls_total, tidepool_steals_total,
//              tidepool_parks_total, tidepool_spin_wakeups_total,
//              tidepool_slow_polls_total (slow_poll.h),
//              tidepool_local_queue_depth, tidepool_worker_parked (1 or 0)
//   blocking   tidepool_blocking_threads (alive),
//   tidepool_blocking_threads_idle,
//              tidepool_blocking_queue_depth,
//              tidepool_blocking_threads_spawned_total,
//              tidepool_blocking_threads_exited_total,
//              tidepool_blocking_spawn_failures_total,
//              tidepool_blocking_spinning_handoffs_total,
//              tidepool_blocking_chained_handoffs_total,
//              tidepool_blocking_parallelism,
//              tidepool_blocking_held_calls_total,
//              tidepool_blocking_blocked_calls_total,
//              tidepool_blocking_burst_admits_total,
//              tidepool_blocking_stall_admits_total
//   budget     only with Builder::memory_budget set:
//              tidepool_memory_budget_bytes,
//              tidepool_memory_budget_in_use_bytes,
//              tidepool_memory_budget_pressure_ratio (in-use / budget),
//              tidepool_memory_budget_samples_total,
//              tidepool_memory_budget_trims_total,
//              tidepool_blocking_admission_limit,
//              tidepool_blocking_admission_queue_depth,
//              tidepool_blocking_admission_waits_total,
//              tidepool_blocking_admission_wait_seconds_total
//   I/O        tidepool_io_driver_info{driver="uring"} 1 (or "epoll"),
//              tidepool_io_driver_mode_info{mode="ring per worker
//              (DEFER_TASKRUN)"} 1 (or "shared ring", "epoll"...),
//              tidepool_io_in_flight,
//              tidepool_fs_backend_info{backend="io_uring"} 1 (or
//              "blocking pool")
//   allocator  tidepool_allocator_info{backend="glibc"} 1 (or "jemalloc",
//              "mimalloc", "unknown"), tidepool_allocator_trims_total,
//              tidepool_allocator_trim_released_bytes_total, and where the
//              backend reports them (a family the backend does not report
//              is left out rather than given a made-up value):
//              tidepool_allocator_allocated_bytes,
//              tidepool_allocator_arena_bytes,
//              tidepool_allocator_free_held_bytes,
//              tidepool_allocator_releasable_bytes,
//              tidepool_allocator_mmap_bytes,
//              tidepool_allocator_mmap_regions,
//              tidepool_allocator_free_chunks,
//              tidepool_allocator_utilization_ratio (allocated / arena),
//              tidepool_allocator_resident_bytes (jemalloc stats.resident),
//              tidepool_allocator_retained_bytes (jemalloc stats.retained)
//
// The process's own figures (process_resident_memory_bytes and the like)
// are not here: they belong to whatever exports the process, and a server
// with another Prometheus client would export them twice.
//
// Cost: each call takes Runtime::metrics() (a relaxed load per counter) and
// alloc::stats(), which walks the allocator's arenas (glibc: malloc_info,
// whose cost grows with the arenas and their free chunks), and builds a
// string of a few KB. Meant for scrapes every few seconds, not hot paths.

#include <string>

#include "absl/status/status.h"
#include "alloc/stats.h"
#include "runtime/metrics.h"
#include "runtime/net/tcp_listener.h"
#include "runtime/runtime_class.h"
#include "runtime/task.h"

namespace tidepool {

// The text described above, from `runtime.metrics()` and alloc::stats().
// Any thread, a task of `runtime` included.
std::string PrometheusText(const Runtime& runtime);

// The same text from snapshots already taken; pure, any thread.
std::string PrometheusText(const RuntimeMetrics& runtime,
                           const alloc::Stats& allocator);

// A whole HTTP/1.1 "200 OK" response carrying PrometheusText(runtime):
// status line, Content-Type: text/plain; version=0.0.4, Content-Length and
// the body; no Connection header, so a keep-alive server sends it as is.
// Any thread; costs what PrometheusText does.
std::string MetricsHttpResponse(const Runtime& runtime);

// Serves GET /metrics on `listener` until accept() fails for a reason other
// than running out of descriptors (then waits 100 ms and goes on); returns
// that error. Other paths get 404, other methods 405, a request that is not
// HTTP/1.x or whose head passes 8 KB 400; every response says
// "Connection: close" and the connection is closed after it.
//
// Inside a task of `runtime` (spawn it detached; the runtime's shutdown
// ends it), which must outlive it. Connections are answered one at a time,
// each given at most 5 seconds for the whole exchange, so a client that
// stalls delays the next scrape by that much and a crowd of them cannot
// make it hold more than one connection and 8 KB; scrapers are few, and
// the server's own work never waits on this loop.
Task<absl::Status> ServeMetrics(const Runtime& runtime, TcpListener listener);

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_PROMETHEUS_H_
