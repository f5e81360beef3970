#include "runtime/net/tcp_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/net/lookup_host.h"

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

Task<absl::StatusOr<TcpStream>> TcpStream::connect(std::string host_port) {
  absl::StatusOr<std::vector<SocketAddress>> addrs =
      co_await lookup_host(host_port);
  if (!addrs.ok()) co_return addrs.status();
  absl::Status last;
  for (const SocketAddress& addr : *addrs) {
    absl::StatusOr<TcpStream> s = co_await connect(addr);
    if (s.ok()) co_return s;
    last = s.status();
  }
  co_return absl::Status(
      last.code(),
      absl::StrCat(host_port, ": no address took the connection (",
                   addrs->size(), " tried); last: ", last.message()));
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
