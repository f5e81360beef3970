#include "runtime/net/tcp_listener.h"

#include <sys/socket.h>

namespace tidepool {

absl::StatusOr<TcpListener> TcpListener::bind(const SocketAddress& addr,
                                              int backlog) {
  auto socket = internal::Socket::OpenBound(
      addr.family(), SOCK_STREAM, addr.sockaddr_ptr(), addr.sockaddr_len(),
      addr.ToString(), backlog);
  if (!socket.ok()) return socket.status();
  return TcpListener(*std::move(socket));
}

TcpListener::AcceptAwaitable TcpListener::accept() {
  return AcceptAwaitable(socket_.driver(), socket_.source(),
                         internal::IoOp::Code::kAccept);
}

absl::StatusOr<TcpStream> TcpListener::AcceptAwaitable::await_resume() {
  auto socket =
      internal::Socket::FromAccept(driver(), IoAwaitable::await_resume());
  if (!socket.ok()) return socket.status();
  return TcpStream(*std::move(socket));
}

}  // namespace tidepool
