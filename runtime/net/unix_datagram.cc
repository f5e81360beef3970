#include "runtime/net/unix_datagram.h"

#include <sys/socket.h>

#include <cerrno>

#include "runtime/net/internal/unix_address.h"

namespace tidepool {

absl::StatusOr<UnixDatagram> UnixDatagram::bind(std::string_view path) {
  absl::StatusOr<internal::UnixAddress> addr =
      internal::UnixAddress::FromPath(path);
  if (!addr.ok()) return addr.status();
  auto socket = internal::Socket::OpenBound(AF_UNIX, SOCK_DGRAM, addr->ptr(),
                                            addr->len, path, /*backlog=*/0);
  if (!socket.ok()) return socket.status();
  return UnixDatagram(*std::move(socket));
}

absl::StatusOr<UnixDatagram> UnixDatagram::unbound() {
  auto socket = internal::Socket::Open(AF_UNIX, SOCK_DGRAM);
  if (!socket.ok()) return socket.status();
  return UnixDatagram(*std::move(socket));
}

absl::StatusOr<std::pair<UnixDatagram, UnixDatagram>> UnixDatagram::pair() {
  auto sockets = internal::Socket::OpenPair(SOCK_DGRAM);
  if (!sockets.ok()) return sockets.status();
  return std::pair<UnixDatagram, UnixDatagram>(
      UnixDatagram(std::move(sockets->first)),
      UnixDatagram(std::move(sockets->second)));
}

absl::Status UnixDatagram::connect(std::string_view path) {
  absl::StatusOr<internal::UnixAddress> addr =
      internal::UnixAddress::FromPath(path);
  if (!addr.ok()) return addr.status();
  return ConnectTo(addr->ptr(), addr->len, path);
}

UnixDatagram::SendToAwaitable UnixDatagram::send_to(std::string_view data,
                                                    std::string_view path) {
  absl::StatusOr<internal::UnixAddress> addr =
      internal::UnixAddress::FromPath(path);
  if (!addr.ok()) {
    SendToAwaitable failed(socket(), data, nullptr, 0);
    // FromPath refuses only an empty address and an over-long one.
    failed.Fail(path.size() > 1 ? ENAMETOOLONG : EINVAL);
    return failed;
  }
  return SendToAwaitable(socket(), data, addr->ptr(), addr->len);
}

UnixDatagram::RecvFromAwaitable UnixDatagram::recv_from(std::span<char> buf) {
  return RecvFromAwaitable(socket(), buf);
}

absl::StatusOr<UnixDatagram::Received>
UnixDatagram::RecvFromAwaitable::await_resume() noexcept {
  absl::StatusOr<size_t> n = internal::ByteCount(
      IoAwaitable::await_resume(), "recv_from", /*read_side=*/true);
  if (!n.ok()) return n.status();
  return Received{*n, internal::UnixPath(address(), address_len()),
                  truncated()};
}

absl::StatusOr<std::string> UnixDatagram::local_path() const {
  return internal::UnixSocketPath(native_handle(), /*peer=*/false);
}

absl::StatusOr<std::string> UnixDatagram::peer_path() const {
  return internal::UnixSocketPath(native_handle(), /*peer=*/true);
}

}  // namespace tidepool
