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

absl::StatusOr<Socket> Socket::Borrow(IoDriver* driver, int fd) {
  auto source = driver->RegisterUnowned(fd);
  if (!source.ok()) return source.status();
  Socket s;
  s.driver_ = driver;
  s.source_ = *source;
  return s;
}

absl::StatusOr<size_t> ByteCount(int64_t result, const char* what,
                                 bool read_side) {
  if (result >= 0) return static_cast<size_t>(result);
  if (result == -EBUSY) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": busy: another task is already ",
                     read_side ? "reading" : "writing", " this socket"));
  }
  return ErrnoStatus(result, what);
}

absl::Status SetIntOption(int fd, int level, int option, int value,
                          const char* what) {
  if (setsockopt(fd, level, option, &value, sizeof(value)) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("setsockopt(", what, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Socket> Socket::Open(int family, int type) {
  auto driver = CurrentIoDriver("opening a socket");
  if (!driver.ok()) return driver.status();
  const int fd =
      socket(family, type | SOCK_CLOEXEC | (*driver)->socket_flags(), 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  return Adopt(*driver, fd);
}

absl::StatusOr<std::pair<Socket, Socket>> Socket::OpenPair(int type) {
  auto driver = CurrentIoDriver("opening a socket pair");
  if (!driver.ok()) return driver.status();
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC | (*driver)->socket_flags(), 0,
                 fds) < 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  auto first = Adopt(*driver, fds[0]);
  if (!first.ok()) {
    close(fds[1]);
    return first.status();
  }
  auto second = Adopt(*driver, fds[1]);
  if (!second.ok()) return second.status();
  return std::pair<Socket, Socket>(*std::move(first), *std::move(second));
}

absl::StatusOr<Socket> Socket::OpenBound(int family, int type,
                                         const sockaddr* addr,
                                         socklen_t addr_len,
                                         std::string_view name, int backlog) {
  auto socket = Open(family, type);
  if (!socket.ok()) return socket.status();
  const int fd = socket->fd();
  if (type == SOCK_STREAM && family != AF_UNIX) {
    // A restarted server must not wait out TIME_WAIT of its old
    // connections.
    if (absl::Status s =
            SetIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
        !s.ok()) {
      return s;
    }
  }
  if (::bind(fd, addr, addr_len) < 0) {
    return absl::ErrnoToStatus(
        errno,
        absl::StrCat("bind ", absl::string_view(name.data(), name.size())));
  }
  if (type == SOCK_STREAM && listen(fd, backlog) < 0) {
    return absl::ErrnoToStatus(errno, "listen");
  }
  return socket;
}

absl::StatusOr<Socket> Socket::FromAccept(IoDriver* driver, int64_t result) {
  if (result < 0) return ErrnoStatus(result, "accept");
  return Adopt(driver, static_cast<int>(result));
}

void Socket::Close() {
  if (source_ == nullptr) return;
  // The driver closes the descriptor once no operation refers to it.
  driver_->Deregister(std::exchange(source_, nullptr));
  driver_ = nullptr;
}

}  // namespace tidepool::internal
