#ifndef TIDEPOOL_RUNTIME_NET_UNIX_LISTENER_H_
#define TIDEPOOL_RUNTIME_NET_UNIX_LISTENER_H_

// A listening Unix-domain stream socket.
//
//   auto listener = tidepool::UnixListener::bind("/run/app.sock");
//   if (!listener.ok()) co_return listener.status();  // EADDRINUSE...
//   while (true) {
//     absl::StatusOr<tidepool::UnixStream> conn = co_await listener->accept();
//     if (!conn.ok()) { ... }  // e.g. EMFILE: back off and retry
//     tidepool::spawn(Serve(*std::move(conn))).detach();
//   }
//
// Addresses: a filesystem path, or "@name" for Linux's abstract namespace
// (unix_stream.h). bind() creates the socket file and fails with
// EADDRINUSE if the path exists, even as a stale socket of a process that
// died; the file is not removed on close: unlink(2) it when done (or before
// bind, if a stale one may be there). An abstract name needs no cleanup.
//
// Who may call: bind() on a runtime thread (inside a task or a blocking
// call); accept() awaited inside a task, one at a time (a second
// concurrent one is "busy"). Each accept is one operation in the I/O driver
// (io_uring: one accept request; epoll: an accept4 attempt, parked on
// readiness when nothing is pending). Errors come back as a Status and
// leave the listener usable. Must not outlive its Runtime.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/unix_stream.h"

namespace tidepool {

class UnixListener {
 public:
  // Awaitable of accept(): the new connection, registered with the driver.
  class AcceptAwaitable : public internal::IoAwaitable {
   public:
    using IoAwaitable::IoAwaitable;
    absl::StatusOr<UnixStream> await_resume();
  };

  // socket + bind to `path` ("/path" or "@abstract") + listen.
  static absl::StatusOr<UnixListener> bind(std::string_view path,
                                           int backlog = 1024);

  UnixListener() = default;
  UnixListener(UnixListener&&) noexcept = default;
  UnixListener& operator=(UnixListener&&) noexcept = default;

  AcceptAwaitable accept();
  // The path or "@name" bound to.
  absl::StatusOr<std::string> local_path() const;
  bool is_open() const { return socket_.is_open(); }
  int native_handle() const { return socket_.fd(); }
  // Stops listening (destruction does it too); the socket file stays.
  void close() { socket_.Close(); }

 private:
  explicit UnixListener(internal::Socket socket) : socket_(std::move(socket)) {}
  internal::Socket socket_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_UNIX_LISTENER_H_
