#ifndef TIDEPOOL_RUNTIME_INTERNAL_IO_URING_DRIVER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IO_URING_DRIVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/internal/io/io_driver.h"

namespace tidepool::internal {

// The io_uring driver: one ring shared by the runtime's workers. Fails with
// the kernel's reason (io_uring_disabled, seccomp, ENOSYS, a missing
// feature) so that IoDriverKind::kAuto can fall back to epoll.
absl::StatusOr<std::unique_ptr<IoDriver>> NewUringDriver();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IO_URING_DRIVER_H_
