#ifndef TIDEPOOL_RUNTIME_NET_UNIX_DATAGRAM_H_
#define TIDEPOOL_RUNTIME_NET_UNIX_DATAGRAM_H_

// A Unix-domain datagram socket (AF_UNIX, SOCK_DGRAM): UdpSocket's
// operations between processes of one host, addressed by path. Reliable and
// ordered, unlike UDP: a send waits while the receiver's queue is full.
//
//   auto server = tidepool::UnixDatagram::bind("@app-events");
//   auto client = tidepool::UnixDatagram::unbound();
//   (void)co_await client->send_to("started", "@app-events");
//   char buf[512];
//   absl::StatusOr<tidepool::UnixDatagram::Received> got =
//       co_await server->recv_from(buf);  // got->from: "" (unbound sender)
//
// Addresses: a filesystem path, or "@name" for Linux's abstract namespace
// (unix_stream.h). A sender that is not bound is unnamed: its datagrams
// arrive with `from` empty and cannot be answered. bind() creates the socket
// file, which stays after close: unlink(2) it when done.
//
// Who may call: bind(), unbound() and pair() on a runtime thread; the
// transfers awaited inside tasks, one receive and one send in flight at a
// time ("busy" otherwise), EBADF after close(). connect() and the queries
// are plain syscalls, any thread. Cost: each transfer is one awaitable in
// the task's frame, no allocation (io_uring: SEND/RECV, or SENDMSG/RECVMSG
// for send_to/recv_from; epoll: the syscall at once, parked on readiness
// when it would block). Errors: absl::Status from errno; a send_to a path
// with no socket is NotFound (ENOENT), to a socket that was closed
// ECONNREFUSED; a datagram larger than the socket's send buffer is
// EMSGSIZE. Cancellation as for TcpStream. Must not outlive its Runtime.

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/net/internal/datagram.h"
#include "runtime/net/internal/socket.h"

namespace tidepool {

class UnixDatagram : public internal::Datagram {
 public:
  // One datagram received by recv_from(): `size` bytes stored in the
  // buffer, `from` the sender's path or "@name" ("" for an unnamed
  // sender), `truncated` if the datagram was longer than the buffer (the
  // rest of it is lost).
  using Received = internal::ReceivedFrom<std::string>;
  // Awaitable of recv_from().
  class RecvFromAwaitable : public internal::MsgAwaitable {
   public:
    using MsgAwaitable::MsgAwaitable;
    absl::StatusOr<Received> await_resume() noexcept;
  };
  // Awaitable of send_to(): the byte count (the whole datagram).
  using SendToAwaitable = internal::SendToAwaitable;

  // A socket bound to `path` ("/path" or "@name").
  static absl::StatusOr<UnixDatagram> bind(std::string_view path);
  // A socket with no address, for sending only (or after connect()).
  static absl::StatusOr<UnixDatagram> unbound();
  // Two unnamed sockets connected to each other (socketpair(2)).
  static absl::StatusOr<std::pair<UnixDatagram, UnixDatagram>> pair();

  UnixDatagram() = default;
  UnixDatagram(UnixDatagram&&) noexcept = default;
  UnixDatagram& operator=(UnixDatagram&&) noexcept = default;

  // Sets the one peer that send() goes to and recv() takes datagrams from.
  // Immediate.
  absl::Status connect(std::string_view path);

  // From internal::Datagram (documented there), for a connected socket:
  //   send(data), recv(buf), is_open(), native_handle(), close().

  // Sends `data` as one datagram to `path`. `data` must stay valid until
  // the awaitable is destroyed; the address is copied. A bad path ends the
  // op with ENAMETOOLONG or EINVAL.
  SendToAwaitable send_to(std::string_view data, std::string_view path);
  // Receives one datagram into `buf`, with its sender. The buffer must stay
  // valid until the awaitable is destroyed.
  RecvFromAwaitable recv_from(std::span<char> buf);

  // This socket's path or "@name", "" if unnamed.
  absl::StatusOr<std::string> local_path() const;
  // The connected peer's, same form (ENOTCONN before connect()).
  absl::StatusOr<std::string> peer_path() const;

 private:
  explicit UnixDatagram(internal::Socket socket)
      : Datagram(std::move(socket)) {}
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_UNIX_DATAGRAM_H_
