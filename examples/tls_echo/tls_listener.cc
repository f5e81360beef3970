#include "examples/tls_echo/tls_listener.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tidepool::tls_echo {

absl::StatusOr<TlsListener> TlsListener::bind(const SocketAddress& addr,
                                              TlsContext ctx, int backlog) {
  const std::string name = addr.ToString();
  OwnedFd fd(
      socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  const int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_REUSEADDR)");
  }
  if (::bind(fd.get(), addr.sockaddr_ptr(), addr.sockaddr_len()) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", name));
  }
  if (listen(fd.get(), backlog) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen on ", name));
  }
  absl::StatusOr<AsyncFd> afd = AsyncFd::create(fd.get());
  if (!afd.ok()) return afd.status();
  return TlsListener(std::move(fd), *std::move(afd), std::move(ctx));
}

Task<absl::StatusOr<TlsStream>> TlsListener::accept() {
  while (true) {
    OwnedFd conn(
        accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (conn.valid()) co_return TlsStream::server(std::move(conn), ctx_);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      co_return absl::ErrnoToStatus(errno, "accept");
    }
    if (absl::Status st = co_await afd_.readable(); !st.ok()) co_return st;
  }
}

absl::StatusOr<SocketAddress> TlsListener::local_address() const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&addr), len);
}

}  // namespace tidepool::tls_echo
