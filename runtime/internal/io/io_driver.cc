#include "runtime/internal/io/io_driver.h"

#include "runtime/internal/io/epoll_driver.h"
#include "runtime/internal/io/uring_driver.h"
#include "runtime/internal/io/uring_worker_rings.h"

namespace tidepool::internal {

absl::StatusOr<std::unique_ptr<IoDriver>> IoDriver::Create(
    IoDriverKind kind, size_t workers, bool per_worker_rings) {
  if (kind == IoDriverKind::kEpoll) return NewEpollDriver();
  if (per_worker_rings) {
    auto rings = NewUringWorkerRings(workers);
    if (rings.ok()) return rings;
  }
  auto uring = NewUringDriver();
  if (uring.ok() || kind == IoDriverKind::kUring) return uring;
  // kAuto: a kernel or sandbox without io_uring is an expected setting, not
  // an error; epoll serves the same operations.
  return NewEpollDriver();
}

}  // namespace tidepool::internal
