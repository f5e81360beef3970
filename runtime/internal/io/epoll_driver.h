#ifndef TIDEPOOL_RUNTIME_INTERNAL_IO_EPOLL_DRIVER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IO_EPOLL_DRIVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/internal/io/io_driver.h"

namespace tidepool::internal {

// The readiness-based fallback: an edge-triggered epoll set, non-blocking
// sockets, and an eventfd for Unpark(). An operation first tries its syscall
// on the task's own thread; only when that would block is it parked on its
// descriptor, and the thread polling the driver retries it on readiness.
absl::StatusOr<std::unique_ptr<IoDriver>> NewEpollDriver();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IO_EPOLL_DRIVER_H_
