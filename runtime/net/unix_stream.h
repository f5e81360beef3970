#ifndef TIDEPOOL_RUNTIME_NET_UNIX_STREAM_H_
#define TIDEPOOL_RUNTIME_NET_UNIX_STREAM_H_

// A connected Unix-domain stream socket (AF_UNIX, SOCK_STREAM): TcpStream's
// operations between processes of one host, plus the peer's credentials.
//
//   absl::StatusOr<tidepool::UnixStream> s =
//       co_await tidepool::UnixStream::connect("/run/app.sock");
//   if (!s.ok()) co_return s.status();  // ENOENT, ECONNREFUSED...
//   if (auto st = co_await s->write_all("ping\n"); !st.ok()) co_return st;
//   char buf[4096];
//   absl::StatusOr<size_t> n = co_await s->read(buf);  // 0: peer closed
//
// Addresses: a filesystem path, or "@name" for Linux's abstract namespace
// (no file; the name is freed with the last socket bound to it). A path
// that starts with '@' is written "./@...". At most 107 bytes of path or
// name; longer is InvalidArgument (ENAMETOOLONG).
//
// Who may call, cost, cancellation and errors: as for TcpStream
// (tcp_stream.h). One read and one write in flight at a time ("busy"
// otherwise), EBADF after close(), each operation one awaitable in the
// task's frame with no allocation (io_uring: one SQE; epoll: the syscall at
// once, parked on readiness when it would block). connect() to a path with
// no socket is NotFound (ENOENT), to a socket nobody listens on
// ECONNREFUSED; to a listener whose backlog is full it waits until an
// accept makes room, as a blocking connect(2) does (io_uring: in the
// kernel; epoll: no readiness reports room, so it retries after pauses
// growing from 1 ms to 64 ms). The queries below are plain syscalls, any
// thread. Must not outlive its Runtime.

#include <sys/types.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/internal/stream.h"
#include "runtime/task.h"

namespace tidepool {

class UnixStream : public internal::Stream {
 public:
  // The process at the other end, as the kernel recorded it when the
  // connection was made (SO_PEERCRED): it cannot be forged by the peer.
  struct Credentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
  };

  // Connects to the listener at `path` ("/path" or "@abstract"). Inside a
  // task.
  static Task<absl::StatusOr<UnixStream>> connect(std::string path);
  // Two streams connected to each other (socketpair(2)), unnamed. On a
  // runtime thread.
  static absl::StatusOr<std::pair<UnixStream, UnixStream>> pair();

  UnixStream() = default;
  UnixStream(UnixStream&&) noexcept = default;
  UnixStream& operator=(UnixStream&&) noexcept = default;

  // From internal::Stream (documented there), the byte-stream operations:
  //   read(buf), readable(), write(data), write_all(data[, deadline]),
  //   shutdown(how = Shutdown::kWrite), is_open(), native_handle(), close().

  absl::StatusOr<Credentials> peer_credentials() const;
  // This end's address: the path or "@name" it is bound to, "" if unnamed
  // (a connecting client, a pair()).
  absl::StatusOr<std::string> local_path() const;
  // The other end's address, same form (the listener's path, for a client).
  absl::StatusOr<std::string> peer_path() const;

 private:
  friend class UnixListener;
  explicit UnixStream(internal::Socket socket) : Stream(std::move(socket)) {}
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_UNIX_STREAM_H_
