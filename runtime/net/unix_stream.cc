#include "runtime/net/unix_stream.h"

#include <sys/socket.h>

#include <cerrno>

#include "runtime/net/internal/unix_address.h"

namespace tidepool {

Task<absl::StatusOr<UnixStream>> UnixStream::connect(std::string path) {
  absl::StatusOr<internal::UnixAddress> addr =
      internal::UnixAddress::FromPath(path);
  if (!addr.ok()) co_return addr.status();
  auto socket = internal::Socket::Open(AF_UNIX, SOCK_STREAM);
  if (!socket.ok()) co_return socket.status();
  // `addr` lives in this frame: it outlives the op.
  absl::Status s =
      co_await internal::Connect(*socket, addr->ptr(), addr->len, path);
  if (!s.ok()) co_return s;
  co_return UnixStream(*std::move(socket));
}

absl::StatusOr<std::pair<UnixStream, UnixStream>> UnixStream::pair() {
  auto sockets = internal::Socket::OpenPair(SOCK_STREAM);
  if (!sockets.ok()) return sockets.status();
  return std::pair<UnixStream, UnixStream>(
      UnixStream(std::move(sockets->first)),
      UnixStream(std::move(sockets->second)));
}

absl::StatusOr<UnixStream::Credentials> UnixStream::peer_credentials() const {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  return Credentials{cred.pid, cred.uid, cred.gid};
}

absl::StatusOr<std::string> UnixStream::local_path() const {
  return internal::UnixSocketPath(native_handle(), /*peer=*/false);
}

absl::StatusOr<std::string> UnixStream::peer_path() const {
  return internal::UnixSocketPath(native_handle(), /*peer=*/true);
}

}  // namespace tidepool
