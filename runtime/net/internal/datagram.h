#ifndef TIDEPOOL_RUNTIME_NET_INTERNAL_DATAGRAM_H_
#define TIDEPOOL_RUNTIME_NET_INTERNAL_DATAGRAM_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/internal/transfer.h"

namespace tidepool::internal {

// One datagram with a peer address: a sendmsg to the address given, or a
// recvmsg that fills the sender's address in. The msghdr, the iovec and the
// address live in this object, so the op allocates nothing; their pointers
// are set in await_ready, after the last move (it may be moved into
// timeout() or select()). 208 bytes more than a plain send or recv, which
// is why connected sockets use those.
class MsgAwaitable : public IoAwaitable {
 public:
  // recvmsg into `buf`.
  MsgAwaitable(const Socket& socket, std::span<char> buf);
  // sendmsg of `data` to `to` (`to_len` bytes, copied here).
  MsgAwaitable(const Socket& socket, std::string_view data, const sockaddr* to,
               socklen_t to_len);
  MsgAwaitable(MsgAwaitable&&) noexcept = default;

  bool await_ready();

  // Makes the op end at once with `errno_value`, without a syscall: for an
  // address that could not be built (a bad Unix path).
  void Fail(int errno_value) { fail_errno_ = errno_value; }

 protected:
  // After a recvmsg: the sender's address and its length (0: unnamed), and
  // whether the datagram was longer than the buffer (the rest is lost).
  const sockaddr* address() const {
    return reinterpret_cast<const sockaddr*>(&addr_);
  }
  socklen_t address_len() const { return msg_.msg_namelen; }
  bool truncated() const { return (msg_.msg_flags & MSG_TRUNC) != 0; }

 private:
  msghdr msg_{};
  iovec iov_{};
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  int fail_errno_ = 0;
};

// One datagram received by recv_from(), with the sender's address as
// `Address` (SocketAddress for UDP, the path for Unix sockets).
template <typename Address>
struct ReceivedFrom {
  // Bytes stored in the buffer.
  size_t size;
  // The sender.
  Address from;
  // The datagram was longer than the buffer; the rest of it is lost.
  bool truncated;
};

// Awaitable of send_to(): the byte count (the whole datagram, or an error
// such as EMSGSIZE: datagrams are never sent in part).
class SendToAwaitable : public MsgAwaitable {
 public:
  using MsgAwaitable::MsgAwaitable;
  absl::StatusOr<size_t> await_resume() noexcept;
};

// What UdpSocket and UnixDatagram have in common: a datagram socket with
// send and recv to and from its connected peer. Its public members are part
// of both sockets' API, documented here and listed in udp_socket.h and
// unix_datagram.h.
class Datagram {
 public:
  // Awaitable of recv(): the size of the datagram read (the part that
  // fit), or an error named "read: ...".
  using RecvAwaitable = ReadOp;
  // Awaitable of send(): the byte count, or an error named "write: ...".
  using SendAwaitable = WriteOp;

  // Sends `data` as one datagram to the connected peer. `data` must stay
  // valid until the awaitable is destroyed.
  SendAwaitable send(std::string_view data);
  // Receives one datagram from the connected peer into `buf`; what does not
  // fit is dropped. The buffer must stay valid until the awaitable is
  // destroyed.
  RecvAwaitable recv(std::span<char> buf);

  bool is_open() const { return socket_.is_open(); }
  int native_handle() const { return socket_.fd(); }
  // Closes now (destruction does it too). No operation may be in flight.
  void close() { socket_.Close(); }

 protected:
  Datagram() = default;
  explicit Datagram(Socket socket) : socket_(std::move(socket)) {}
  Datagram(Datagram&&) noexcept = default;
  Datagram& operator=(Datagram&&) noexcept = default;
  ~Datagram() = default;

  const Socket& socket() const { return socket_; }
  // connect(2) to `addr`: immediate for datagram sockets. `name` goes into
  // the error message.
  absl::Status ConnectTo(const sockaddr* addr, socklen_t addr_len,
                         std::string_view name);

 private:
  Socket socket_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_NET_INTERNAL_DATAGRAM_H_
