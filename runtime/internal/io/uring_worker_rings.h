#ifndef TIDEPOOL_RUNTIME_INTERNAL_IO_URING_WORKER_RINGS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IO_URING_WORKER_RINGS_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "runtime/internal/io/io_driver.h"

namespace tidepool::internal {

// The io_uring driver with a ring per worker thread: SINGLE_ISSUER |
// DEFER_TASKRUN where the kernel has them (6.1), else COOP_TASKRUN. Each
// worker submits to and reaps only its own ring and parks inside it;
// another thread's cancellation of an op is handed to the op's ring
// (docs/architecture.md, "I/O"). Fails with the kernel's reason, for the
// caller to fall back to the shared ring.
absl::StatusOr<std::unique_ptr<IoDriver>> NewUringWorkerRings(size_t workers);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IO_URING_WORKER_RINGS_H_
