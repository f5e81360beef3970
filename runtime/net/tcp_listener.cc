#include "runtime/net/tcp_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tidepool {

absl::StatusOr<TcpListener> TcpListener::bind(const SocketAddress& addr,
                                              int backlog) {
  auto socket = internal::Socket::OpenStream(addr.family());
  if (!socket.ok()) return socket.status();
  const int fd = socket->fd();
  const int one = 1;
  // A restarted server must not wait out TIME_WAIT of its old connections.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_REUSEADDR)");
  }
  if (::bind(fd, addr.sockaddr_ptr(), addr.sockaddr_len()) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", addr.ToString()));
  }
  if (listen(fd, backlog) < 0) return absl::ErrnoToStatus(errno, "listen");
  return TcpListener(*std::move(socket));
}

TcpListener::AcceptAwaitable TcpListener::accept() {
  return AcceptAwaitable(socket_.driver(), socket_.source(),
                         internal::IoOp::Code::kAccept);
}

absl::StatusOr<TcpStream> TcpListener::AcceptAwaitable::await_resume() {
  const int64_t r = IoAwaitable::await_resume();
  if (r < 0) return internal::ErrnoStatus(r, "accept");
  auto socket = internal::Socket::Adopt(driver(), static_cast<int>(r));
  if (!socket.ok()) return socket.status();
  return TcpStream(*std::move(socket));
}

}  // namespace tidepool
