#ifndef TIDEPOOL_RUNTIME_NET_TCP_LISTENER_H_
#define TIDEPOOL_RUNTIME_NET_TCP_LISTENER_H_

// A listening TCP socket.
//
//   auto listener = tidepool::TcpListener::bind(
//       *tidepool::SocketAddress::Parse("127.0.0.1:0"));  // inside a task
//   while (true) {
//     absl::StatusOr<tidepool::TcpStream> conn = co_await listener->accept();
//     if (!conn.ok()) { ... }  // e.g. EMFILE: back off and retry
//     tidepool::spawn(Serve(*std::move(conn))).detach();
//   }
//
// Who may call: bind() on a runtime thread (inside a task or a blocking
// call); accept() awaited inside a task, one at a time. Each accept is one
// operation in the I/O driver (io_uring: one accept request; epoll: an
// accept4 attempt, parked on readiness when nothing is pending). Errors of
// accept, such as EMFILE when the process is out of descriptors, come back
// as a Status and leave the listener usable. Must not outlive its Runtime.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/tcp_stream.h"

namespace tidepool {

class TcpListener {
 public:
  // Awaitable of accept(): the new connection, registered with the driver.
  class AcceptAwaitable : public internal::IoAwaitable {
   public:
    using IoAwaitable::IoAwaitable;
    absl::StatusOr<TcpStream> await_resume();
  };

  // socket + SO_REUSEADDR + bind + listen. Port 0 picks a free port; see
  // local_address().
  static absl::StatusOr<TcpListener> bind(const SocketAddress& addr,
                                          int backlog = 1024);

  TcpListener() = default;
  TcpListener(TcpListener&&) noexcept = default;
  TcpListener& operator=(TcpListener&&) noexcept = default;

  AcceptAwaitable accept();
  absl::StatusOr<SocketAddress> local_address() const {
    return internal::SocketName(socket_.fd(), /*peer=*/false);
  }
  bool is_open() const { return socket_.is_open(); }
  int native_handle() const { return socket_.fd(); }
  void close() { socket_.Close(); }

 private:
  explicit TcpListener(internal::Socket socket) : socket_(std::move(socket)) {}
  internal::Socket socket_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_TCP_LISTENER_H_
