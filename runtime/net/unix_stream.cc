#include "runtime/net/unix_stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/unix_address.h"
#include "runtime/time/sleep.h"

namespace tidepool {
namespace {

// Pauses between connect attempts while the listener's backlog is full:
// doubling from the first to the last.
constexpr std::chrono::milliseconds kFirstRetry{1};
constexpr std::chrono::milliseconds kMaxRetry{64};

}  // namespace

Task<absl::StatusOr<UnixStream>> UnixStream::connect(std::string path) {
  absl::StatusOr<internal::UnixAddress> addr =
      internal::UnixAddress::FromPath(path);
  if (!addr.ok()) co_return addr.status();
  auto socket = internal::Socket::Open(AF_UNIX, SOCK_STREAM);
  if (!socket.ok()) co_return socket.status();
  // A listener with a full backlog: connect(2) on a non-blocking Unix
  // socket fails with EAGAIN and starts nothing, and nothing about this
  // socket turns ready when an accept makes room (a blocking connect(2)
  // sleeps on the listener's queue, which no poll of ours can watch). So
  // try again after a pause, until the listener makes room or refuses: the
  // wait a blocking connect(2), and io_uring's CONNECT, do.
  for (auto pause = kFirstRetry;; pause = std::min(2 * pause, kMaxRetry)) {
    // `addr` lives in this frame: it outlives the op.
    internal::IoAwaitable op(socket->driver(), socket->source(),
                             internal::IoOp::Code::kConnect);
    op.op().addr = addr->ptr();
    op.op().addr_len = addr->len;
    const int64_t r = co_await op;
    if (r == 0) co_return UnixStream(*std::move(socket));
    if (r != -EAGAIN) {
      co_return internal::ErrnoStatus(r, ("connect to " + path).c_str());
    }
    co_await sleep(pause);
  }
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
