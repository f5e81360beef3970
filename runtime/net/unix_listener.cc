#include "runtime/net/unix_listener.h"

#include <sys/socket.h>

#include "runtime/net/internal/unix_address.h"

namespace tidepool {

absl::StatusOr<UnixListener> UnixListener::bind(std::string_view path,
                                                int backlog) {
  absl::StatusOr<internal::UnixAddress> addr =
      internal::UnixAddress::FromPath(path);
  if (!addr.ok()) return addr.status();
  auto socket = internal::Socket::OpenBound(AF_UNIX, SOCK_STREAM, addr->ptr(),
                                            addr->len, path, backlog);
  if (!socket.ok()) return socket.status();
  return UnixListener(*std::move(socket));
}

UnixListener::AcceptAwaitable UnixListener::accept() {
  return AcceptAwaitable(socket_.driver(), socket_.source(),
                         internal::IoOp::Code::kAccept);
}

absl::StatusOr<UnixStream> UnixListener::AcceptAwaitable::await_resume() {
  auto socket =
      internal::Socket::FromAccept(driver(), IoAwaitable::await_resume());
  if (!socket.ok()) return socket.status();
  return UnixStream(*std::move(socket));
}

absl::StatusOr<std::string> UnixListener::local_path() const {
  return internal::UnixSocketPath(socket_.fd(), /*peer=*/false);
}

}  // namespace tidepool
