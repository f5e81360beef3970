#include "runtime/net/tcp_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

namespace tidepool {

Task<absl::StatusOr<TcpStream>> TcpStream::connect(SocketAddress peer) {
  auto socket = internal::Socket::Open(peer.family(), SOCK_STREAM);
  if (!socket.ok()) co_return socket.status();
  // `peer` is this frame's parameter: it outlives the op.
  absl::Status s = co_await internal::Connect(
      *socket, peer.sockaddr_ptr(), peer.sockaddr_len(), peer.ToString());
  if (!s.ok()) co_return s;
  co_return TcpStream(*std::move(socket));
}

absl::Status TcpStream::set_nodelay(bool on) {
  return internal::SetIntOption(native_handle(), IPPROTO_TCP, TCP_NODELAY,
                                on ? 1 : 0, "TCP_NODELAY");
}

absl::StatusOr<SocketAddress> TcpStream::peer_address() const {
  return internal::SocketName(native_handle(), /*peer=*/true);
}

absl::StatusOr<SocketAddress> TcpStream::local_address() const {
  return internal::SocketName(native_handle(), /*peer=*/false);
}

}  // namespace tidepool
