#include "runtime/internal/io/io_driver.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/internal/io/epoll_driver.h"
#include "runtime/internal/io/uring_driver.h"

namespace tidepool::internal {

absl::StatusOr<IoDriverKind> ParseIoDriverKind(std::string_view value,
                                               std::string_view setting) {
  if (value == "auto") return IoDriverKind::kAuto;
  if (value == "uring") return IoDriverKind::kUring;
  if (value == "epoll") return IoDriverKind::kEpoll;
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(setting), "=\"", std::string(value),
                   "\" is not an I/O driver; accepted: auto, uring, epoll"));
}

std::string_view IoDriverName(IoDriverKind kind) {
  switch (kind) {
    case IoDriverKind::kAuto:
      return "auto";
    case IoDriverKind::kUring:
      return "uring";
    case IoDriverKind::kEpoll:
      return "epoll";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<IoDriver>> IoDriver::Create(IoDriverKind kind) {
  if (kind == IoDriverKind::kEpoll) return NewEpollDriver();
  auto uring = NewUringDriver();
  if (uring.ok() || kind == IoDriverKind::kUring) return uring;
  // kAuto: a kernel or sandbox without io_uring is an expected setting, not
  // an error; epoll serves the same operations.
  return NewEpollDriver();
}

}  // namespace tidepool::internal
