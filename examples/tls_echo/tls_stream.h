#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_STREAM_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_STREAM_H_

// TlsStream: a TLS session (OpenSSL) over a TCP socket, driven by tidepool
// tasks through AsyncFd readiness. The pattern works for any library that
// does its own non-blocking I/O and says "would block, want read/write":
// call it; on SSL_ERROR_WANT_READ `co_await afd.readable()`, on
// SSL_ERROR_WANT_WRITE `co_await afd.writable()`, and call it again with the
// same arguments. AsyncFd asks the kernel afresh on every await, so there is
// no readiness to clear by hand after the EAGAIN (async_fd.h).
//
//   absl::StatusOr<TlsContext> ctx = TlsContext::client(ca_pem);
//   absl::StatusOr<TlsStream> s =
//       co_await TlsStream::connect(addr, *ctx, "localhost");
//   if (!s.ok()) co_return s.status();  // UNAUTHENTICATED: certificate ...
//   if (auto st = co_await s->write_all("ping\n"); !st.ok()) co_return st;
//   char buf[4096];
//   absl::StatusOr<size_t> n = co_await s->read(buf);  // 0: close_notify
//   (void)co_await s->shutdown();
//
// It is an AsyncRead and an AsyncWrite (runtime/io_util/stream.h), so
// BufReader, BufWriter and copy() work on it. It is not split(): an SSL
// object must not run a read and a write at once, so a TlsStream takes one
// operation at a time, and a second one while one is in flight fails with
// FailedPrecondition ("busy").
//
// Who may call: inside tidepool tasks, on the runtime whose thread made the
// stream. The stream may move between awaits, and to other tasks. OpenSSL
// keeps its error queue per thread and a task may change workers at any
// co_await, so each SSL call and the reading of its error happen between
// two awaits.
//
// Errors (absl::Status): socket errors by errno as TcpStream's (ECONNRESET
// is UNAVAILABLE); a certificate the client does not accept is
// UNAUTHENTICATED with OpenSSL's reason ("certificate verify failed:
// self-signed certificate"); any other TLS failure (an alert from the peer,
// a bad record, the connection closed without close_notify) is UNAVAILABLE
// with OpenSSL's reasons. After an error the session is unusable: every
// later operation fails with FailedPrecondition naming the first error.
//
// Cancellation: an aborted task or a timeout() cancels the readiness wait.
// A read cut short can be retried; a write cut short may have left a record
// half sent, so close the stream after it.
//
// Cost: an SSL object (tens of KiB of OpenSSL buffers while data moves),
// one heap-allocated session, one coroutine frame per operation; each
// readiness wait is one AsyncFd await (io_uring: one POLL_ADD; epoll: one
// poll(2) and the parked op).

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/tls_echo/owned_fd.h"
#include "examples/tls_echo/tls_context.h"
#include "runtime/runtime.h"

namespace tidepool::tls_echo {

class TlsStream {
 public:
  // Connects over TCP to `peer`, then runs the client's handshake. The
  // server's certificate must chain to what `ctx` trusts and carry
  // `server_name` (a DNS name, also sent as SNI, or an IP address).
  static Task<absl::StatusOr<TlsStream>> connect(SocketAddress peer,
                                                 TlsContext ctx,
                                                 std::string server_name);
  // The server side of a TLS session on `fd`, a connected non-blocking TCP
  // socket, which the stream owns from now on (closed even on failure).
  // The handshake has not run yet: call handshake(). On a runtime thread.
  static absl::StatusOr<TlsStream> server(OwnedFd fd, const TlsContext& ctx);

  TlsStream();
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  ~TlsStream();

  // Runs the handshake, or returns at once if it is done. read() and
  // write() run it too, if it has not been.
  Task<absl::Status> handshake();
  // Reads up to buf.size() decrypted bytes: 0 at the end of the stream (the
  // peer's close_notify) or for an empty `buf`.
  Task<absl::StatusOr<size_t>> read(std::span<char> buf);
  // Writes some of `data`, at least one byte unless it is empty: up to one
  // TLS record (16 KiB) per call.
  Task<absl::StatusOr<size_t>> write(std::string_view data);
  // Writes all of `data`.
  Task<absl::Status> write_all(std::string_view data);
  // Sends close_notify: the peer reads the end of the stream. This side
  // may go on reading until the peer's own close_notify.
  Task<absl::Status> shutdown();

  // The protocol negotiated ("TLSv1.3"), "" before the handshake.
  std::string_view protocol() const;
  bool is_open() const { return session_ != nullptr; }
  // The socket, for options such as SO_RCVBUF; -1 when closed. Reading or
  // writing it directly would corrupt the session.
  int native_handle() const;
  // Closes the socket now, without close_notify (destruction does it too):
  // the peer sees the stream cut short. No operation may be in flight.
  void close();

 private:
  struct Session;
  enum class Op { kHandshake, kRead, kWrite, kShutdown };

  explicit TlsStream(std::unique_ptr<Session> session);
  // Calls the SSL function of `op` until it completes, awaiting the
  // readiness it asks for. The byte count for kRead and kWrite.
  static Task<absl::StatusOr<size_t>> Drive(Session* s, Op op, char* buf,
                                            size_t len);

  std::unique_ptr<Session> session_;
};

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_STREAM_H_
