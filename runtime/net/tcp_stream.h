#ifndef TIDEPOOL_RUNTIME_NET_TCP_STREAM_H_
#define TIDEPOOL_RUNTIME_NET_TCP_STREAM_H_

// A connected TCP socket, driven by the runtime's I/O driver (io_uring, or
// epoll as fallback; both behave the same).
//
//   auto addr = tidepool::SocketAddress::Parse("127.0.0.1:8080");
//   absl::StatusOr<tidepool::TcpStream> s =
//       co_await tidepool::TcpStream::connect(*addr);
//   if (!s.ok()) co_return s.status();
//   if (auto st = co_await s->write_all("ping"); !st.ok()) co_return st;
//   char buf[4096];
//   absl::StatusOr<size_t> n = co_await s->read(buf);  // 0: peer closed
//
//   auto web = co_await tidepool::TcpStream::connect("localhost:8080");
//
// Who may call: operations are awaited inside tidepool tasks. One read and
// one write may be in flight at a time (from different tasks if you like);
// a second concurrent read (or write) fails with FailedPrecondition ("busy"),
// and any operation on a closed stream with EBADF. A stream must not
// outlive its Runtime.
//
// Cost: each read or write is one awaitable in the task's frame, no
// allocation. With io_uring it is one submission queue entry, batched with
// the others of the same task poll into one io_uring_enter; with epoll it is
// tried at once and only parked on readiness when it would block.
//
// Cancellation: an operation ends when its task is aborted or a timeout()
// around it expires; the kernel operation is cancelled before the buffer is
// released, and no descriptor leaks. `co_await timeout(d, s.read(buf))`
// costs no spawn: the read carries the deadline itself (time/timeout.h).
// Errors are absl::Status from errno mapped by absl::ErrnoToStatus
// (ECONNRESET, EPIPE, ECONNREFUSED...).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/internal/stream.h"
#include "runtime/net/socket_address.h"
#include "runtime/task.h"

namespace tidepool {

class TcpStream : public internal::Stream {
 public:
  // Connects to `peer`. Inside a task.
  static Task<absl::StatusOr<TcpStream>> connect(SocketAddress peer);
  // Resolves "host:port" (lookup_host, on the blocking pool) and connects
  // to each address in turn until one accepts. The error of a name that
  // does not resolve is lookup_host's; when every address fails, the last
  // address's error, with how many were tried. Inside a task.
  static Task<absl::StatusOr<TcpStream>> connect(std::string host_port);

  TcpStream() = default;
  TcpStream(TcpStream&&) noexcept = default;
  TcpStream& operator=(TcpStream&&) noexcept = default;

  // From internal::Stream (documented there), the byte-stream operations:
  //   read(buf), readable(), write(data), write_all(data[, deadline]),
  //   shutdown(how = Shutdown::kWrite), is_open(), native_handle(), close().

  // TCP_NODELAY: send small writes at once instead of coalescing them.
  absl::Status set_nodelay(bool on);
  absl::StatusOr<SocketAddress> peer_address() const;
  absl::StatusOr<SocketAddress> local_address() const;

 private:
  friend class TcpListener;
  explicit TcpStream(internal::Socket socket) : Stream(std::move(socket)) {}
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_TCP_STREAM_H_
