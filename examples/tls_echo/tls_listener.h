#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_LISTENER_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_LISTENER_H_

// TlsListener: a listening TCP socket whose connections come out as server
// TlsStreams. The socket is its own (non-blocking, watched with AsyncFd),
// not a TcpListener: the TLS session needs a descriptor it drives itself.
//
//   absl::StatusOr<TlsListener> listener = TlsListener::bind(addr, *ctx);
//   if (!listener.ok()) co_return listener.status();
//   while (true) {
//     absl::StatusOr<TlsStream> conn = co_await listener->accept();
//     if (!conn.ok()) { ... }  // e.g. EMFILE: back off and retry
//     tidepool::spawn(Serve(*std::move(conn))).detach();  // handshake there
//   }
//
// Who may call: bind() on a runtime thread; accept() awaited inside a
// task, one at a time, and the listener must stay where it is meanwhile.
// Errors come back as a Status and leave the listener usable.
//
// Cost: each accept is an accept4(2) attempt and, when nothing is pending,
// one AsyncFd readable() wait. The TLS handshake is not part of accept(),
// so a slow client holds up only its own task.

#include "absl/status/statusor.h"
#include "examples/tls_echo/owned_fd.h"
#include "examples/tls_echo/tls_context.h"
#include "examples/tls_echo/tls_stream.h"
#include "runtime/runtime.h"

namespace tidepool::tls_echo {

class TlsListener {
 public:
  // socket + bind to `addr` (SO_REUSEADDR; port 0 picks a free one) +
  // listen. Sessions use `ctx`, a server context.
  static absl::StatusOr<TlsListener> bind(const SocketAddress& addr,
                                          TlsContext ctx, int backlog = 1024);

  TlsListener(TlsListener&&) noexcept = default;
  // Not assignable: member-wise assignment would close the old socket
  // while its AsyncFd still watched it.
  TlsListener& operator=(TlsListener&&) = delete;

  // The next connection, its TLS handshake not yet run (the stream's
  // handshake(), or its first read or write, runs it).
  Task<absl::StatusOr<TlsStream>> accept();
  absl::StatusOr<SocketAddress> local_address() const;

 private:
  TlsListener(OwnedFd fd, AsyncFd afd, TlsContext ctx)
      : fd_(std::move(fd)), afd_(std::move(afd)), ctx_(std::move(ctx)) {}

  // Declared before afd_, so destroyed after it: AsyncFd stops watching
  // the socket before it is closed.
  OwnedFd fd_;
  AsyncFd afd_;
  TlsContext ctx_;
};

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_LISTENER_H_
