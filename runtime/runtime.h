#ifndef TIDEPOOL_RUNTIME_RUNTIME_H_
#define TIDEPOOL_RUNTIME_RUNTIME_H_

// Everything a program on tidepool needs, in one include: Runtime and
// Builder, Task, JoinHandle, spawn, spawn_blocking, the memory budget's
// permits (budget_permit), TaskBuilder (named tasks), task hooks and slow-poll
// reports, yield_now, the timers (sleep, timeout, interval), TCP, UDP and Unix
// sockets, AsyncFd (readiness of a caller's descriptor), lookup_host, buffered
// stream I/O (runtime/io_util/), files (runtime/fs/), signals, the
// synchronization primitives and channels (runtime/sync/), and the Prometheus
// exporter (runtime/prometheus.h). Each header it includes documents what it
// declares; a file that needs one part may include just that header.
//
//   tidepool::Task<int> Answer() { co_return 42; }
//   int main() {
//     auto rt = tidepool::Builder().worker_threads(2).build();
//     if (!rt.ok()) return 1;
//     return rt->block_on(Answer()) == 42 ? 0 : 1;
//   }

#include "runtime/budget_permit.h"
#include "runtime/builder.h"
#include "runtime/fs/file.h"
#include "runtime/fs/fs.h"
#include "runtime/fs/metadata.h"
#include "runtime/handle.h"
#include "runtime/io_driver_kind.h"
#include "runtime/io_util/buf_reader.h"
#include "runtime/io_util/buf_writer.h"
#include "runtime/io_util/copy.h"
#include "runtime/io_util/split.h"
#include "runtime/io_util/stream.h"
#include "runtime/join_handle.h"
#include "runtime/memory_budget.h"
#include "runtime/metrics.h"
#include "runtime/net/async_fd.h"
#include "runtime/net/lookup_host.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/tcp_listener.h"
#include "runtime/net/tcp_stream.h"
#include "runtime/net/udp_socket.h"
#include "runtime/net/unix_datagram.h"
#include "runtime/net/unix_listener.h"
#include "runtime/net/unix_stream.h"
#include "runtime/prometheus.h"
#include "runtime/runtime_class.h"
#include "runtime/signal/signal.h"
#include "runtime/slow_poll.h"
#include "runtime/spawn.h"
#include "runtime/sync/barrier.h"
#include "runtime/sync/broadcast.h"
#include "runtime/sync/cancellation_token.h"
#include "runtime/sync/join_set.h"
#include "runtime/sync/mpsc.h"
#include "runtime/sync/mutex.h"
#include "runtime/sync/notify.h"
#include "runtime/sync/once_cell.h"
#include "runtime/sync/oneshot.h"
#include "runtime/sync/rw_lock.h"
#include "runtime/sync/select.h"
#include "runtime/sync/semaphore.h"
#include "runtime/sync/task_tracker.h"
#include "runtime/sync/try_result.h"
#include "runtime/sync/watch.h"
#include "runtime/sync/when_all.h"
#include "runtime/task.h"
#include "runtime/task_builder.h"
#include "runtime/task_cancelled.h"
#include "runtime/task_hooks.h"
#include "runtime/task_info.h"
#include "runtime/task_local.h"
#include "runtime/time/interval.h"
#include "runtime/time/sleep.h"
#include "runtime/time/timeout.h"
#include "runtime/unhandled_exception.h"
#include "runtime/yield_now.h"

#endif  // TIDEPOOL_RUNTIME_RUNTIME_H_
