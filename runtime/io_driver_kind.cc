#include "runtime/io_driver_kind.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tidepool {

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

}  // namespace tidepool
