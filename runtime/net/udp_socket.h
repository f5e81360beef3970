#ifndef TIDEPOOL_RUNTIME_NET_UDP_SOCKET_H_
#define TIDEPOOL_RUNTIME_NET_UDP_SOCKET_H_

// A UDP socket, driven by the runtime's I/O driver (io_uring, or epoll as
// fallback; both behave the same).
//
//   auto sock = tidepool::UdpSocket::bind(
//       *tidepool::SocketAddress::Parse("127.0.0.1:0"));  // inside a task
//   if (!sock.ok()) co_return sock.status();
//   char buf[1500];
//   absl::StatusOr<tidepool::UdpSocket::Received> got =
//       co_await sock->recv_from(buf);  // one datagram, and who sent it
//   if (!got.ok()) co_return got.status();
//   (void)co_await sock->send_to(std::string_view(buf, got->size), got->from);
//
// Unconnected, a socket sends with send_to() and receives from anyone with
// recv_from(), which reports the sender. After connect(), send() and recv()
// talk to that one peer (datagrams from others are dropped by the kernel);
// they cost less than send_to/recv_from, which carry an address and a
// msghdr (208 bytes more in the awaitable, in the task's frame).
//
// Who may call: bind() on a runtime thread (inside a task or a blocking
// call); the transfers awaited inside tasks. One receive (recv or recv_from)
// and one send (send or send_to) may be in flight at a time, from different
// tasks if you like; a second concurrent one of the same direction fails
// with FailedPrecondition ("busy"), and any operation on a closed socket
// with EBADF. connect(), the options and the addresses are plain syscalls:
// any thread, while the socket is open. Must not outlive its Runtime.
//
// Cost: each transfer is one awaitable in the task's frame, no allocation:
// io_uring: one SQE (IORING_OP_SEND/RECV, or SENDMSG/RECVMSG for send_to
// and recv_from); epoll: the syscall at once, parked on readiness only
// when it would block.
//
// Errors: absl::Status from errno (absl::ErrnoToStatus), named after the
// operation. A datagram too large for UDP (over 65,507 bytes in IPv4) is
// EMSGSIZE; a send to a broadcast address without set_broadcast(true) is
// EACCES; on a connected socket, an ICMP "port unreachable" from an earlier
// send may surface as ECONNREFUSED on a later recv or send. A datagram is
// sent whole or not at all. Cancellation is as for TcpStream: an aborted
// task or an expired timeout() cancels the kernel operation before the
// buffer goes, and `timeout(d, s.recv_from(buf))` spawns nothing.

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/net/internal/datagram.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/socket_address.h"

namespace tidepool {

class UdpSocket : public internal::Datagram {
 public:
  // One datagram received by recv_from(): `size` bytes stored in the
  // buffer, `from` the sender, `truncated` if the datagram was longer than
  // the buffer (the rest of it is lost).
  using Received = internal::ReceivedFrom<SocketAddress>;
  // Awaitable of recv_from().
  class RecvFromAwaitable : public internal::MsgAwaitable {
   public:
    using MsgAwaitable::MsgAwaitable;
    absl::StatusOr<Received> await_resume() noexcept;
  };
  // Awaitable of send_to(): the byte count (the whole datagram).
  using SendToAwaitable = internal::SendToAwaitable;

  // socket + bind to `addr` (IPv4 or IPv6; port 0 picks a free port, see
  // local_address()). On a runtime thread.
  static absl::StatusOr<UdpSocket> bind(const SocketAddress& addr);

  UdpSocket() = default;
  UdpSocket(UdpSocket&&) noexcept = default;
  UdpSocket& operator=(UdpSocket&&) noexcept = default;

  // Sets the one peer that send() goes to and recv() takes datagrams from.
  // Immediate: UDP has no handshake. Connecting again changes the peer.
  absl::Status connect(const SocketAddress& peer);

  // From internal::Datagram (documented there), for a connected socket:
  //   send(data), recv(buf), is_open(), native_handle(), close().

  // Sends `data` as one datagram to `to`. `data` must stay valid until the
  // awaitable is destroyed; `to` is copied.
  SendToAwaitable send_to(std::string_view data, const SocketAddress& to);
  // Receives one datagram into `buf`, with its sender. The buffer must stay
  // valid until the awaitable is destroyed.
  RecvFromAwaitable recv_from(std::span<char> buf);

  absl::StatusOr<SocketAddress> local_address() const;
  // The connected peer (ENOTCONN before connect()).
  absl::StatusOr<SocketAddress> peer_address() const;

  // SO_BROADCAST: allow sends to a broadcast address.
  absl::Status set_broadcast(bool on);
  // The TTL (IPv4) or hop limit (IPv6) of unicast datagrams.
  absl::Status set_ttl(int ttl);
  // The TTL (IPv4) or hop limit (IPv6) of multicast datagrams (default 1:
  // the local network).
  absl::Status set_multicast_ttl(int ttl);
  // Whether this host's own members of a group get the multicast datagrams
  // sent from here (default on).
  absl::Status set_multicast_loop(bool on);
  // IPv4: the interface, named by one of its addresses, that multicast
  // datagrams leave by (default: as the routing table says).
  absl::Status set_multicast_interface_v4(std::string_view interface_address);

  // Joins (or leaves) an IPv4 multicast group, "224.0.0.0" to
  // "239.255.255.255", on the interface with address `interface_address`
  // ("0.0.0.0": the kernel picks one). The socket must be IPv4. Bad address
  // text is InvalidArgument.
  absl::Status join_multicast_v4(
      std::string_view group, std::string_view interface_address = "0.0.0.0");
  absl::Status leave_multicast_v4(
      std::string_view group, std::string_view interface_address = "0.0.0.0");
  // Joins (or leaves) an IPv6 multicast group ("ff00::/8") on the interface
  // with index `interface_index` (if_nametoindex(3); 0: the kernel picks).
  // The socket must be IPv6.
  absl::Status join_multicast_v6(std::string_view group,
                                 unsigned interface_index = 0);
  absl::Status leave_multicast_v6(std::string_view group,
                                  unsigned interface_index = 0);

 private:
  UdpSocket(internal::Socket socket, int family)
      : Datagram(std::move(socket)), family_(family) {}
  // join/leave: `add` picks the option.
  absl::Status MembershipV4(std::string_view group,
                            std::string_view interface_address, bool add);
  absl::Status MembershipV6(std::string_view group, unsigned interface_index,
                            bool add);

  int family_ = AF_UNSPEC;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_UDP_SOCKET_H_
