#ifndef TIDEPOOL_RUNTIME_IO_DRIVER_KIND_H_
#define TIDEPOOL_RUNTIME_IO_DRIVER_KIND_H_

// Which I/O driver a Runtime uses (Builder::io_driver):
//   kAuto   io_uring, or epoll where the kernel or a sandbox refuses
//           io_uring (the default);
//   kUring  io_uring, and Builder::build() fails where it is unavailable;
//   kEpoll  epoll, always.
// Both drivers serve every socket operation with the same behaviour;
// Runtime::metrics().io_driver names the one that runs ("uring", "epoll").
//
//   auto rt = tidepool::Builder().io_driver(tidepool::IoDriverKind::kEpoll)
//                 .build();
//
// Any thread; pure functions.

#include <string_view>

#include "absl/status/statusor.h"

namespace tidepool {

enum class IoDriverKind { kAuto, kUring, kEpoll };

// "auto", "uring" or "epoll", for settings read as text (TIDEPOOL_IO).
// Anything else is InvalidArgument naming `setting` and the accepted values.
absl::StatusOr<IoDriverKind> ParseIoDriverKind(
    std::string_view name, std::string_view setting = "io_driver");

// The name ParseIoDriverKind() accepts for `kind`.
std::string_view IoDriverName(IoDriverKind kind);

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_IO_DRIVER_KIND_H_
