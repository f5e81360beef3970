#include "runtime/net/internal/socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"

namespace tidepool::internal {

absl::StatusOr<IoDriver*> CurrentIoDriver(const char* what) {
  Scheduler* scheduler = CurrentScheduler();
  if (scheduler == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("tidepool: ", what,
                     " must run inside a tidepool runtime (a task or "
                     "a blocking call)"));
  }
  return &scheduler->io();
}

absl::Status ErrnoStatus(int64_t negative_errno, const char* what) {
  return absl::ErrnoToStatus(static_cast<int>(-negative_errno), what);
}

absl::StatusOr<SocketAddress> SocketName(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) < 0) {
    return absl::ErrnoToStatus(errno, peer ? "getpeername" : "getsockname");
  }
  return SocketAddress::FromSockaddr(sa, len);
}

absl::StatusOr<Socket> Socket::Adopt(IoDriver* driver, int fd) {
  auto source = driver->Register(fd);
  if (!source.ok()) return source.status();
  Socket s;
  s.driver_ = driver;
  s.source_ = *source;
  return s;
}

absl::StatusOr<Socket> Socket::OpenStream(int family) {
  auto driver = CurrentIoDriver("opening a socket");
  if (!driver.ok()) return driver.status();
  const int fd =
      socket(family, SOCK_STREAM | SOCK_CLOEXEC | (*driver)->socket_flags(), 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  return Adopt(*driver, fd);
}

void Socket::Close() {
  if (source_ == nullptr) return;
  // The driver closes the descriptor once no operation refers to it.
  driver_->Deregister(std::exchange(source_, nullptr));
  driver_ = nullptr;
}

}  // namespace tidepool::internal
