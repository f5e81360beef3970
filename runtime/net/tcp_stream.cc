#include "runtime/net/tcp_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tidepool {
namespace {

absl::StatusOr<size_t> ToCount(int64_t r, const char* what) {
  if (r >= 0) return static_cast<size_t>(r);
  if (r == -EBUSY) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": busy: another task is already ", what, "ing this socket"));
  }
  return internal::ErrnoStatus(r, what);
}

}  // namespace

absl::StatusOr<size_t> TcpStream::ReadAwaitable::await_resume() noexcept {
  return ToCount(IoAwaitable::await_resume(), "read");
}

absl::StatusOr<size_t> TcpStream::WriteAwaitable::await_resume() noexcept {
  return ToCount(IoAwaitable::await_resume(), "write");
}

Task<absl::StatusOr<TcpStream>> TcpStream::connect(SocketAddress peer) {
  auto socket = internal::Socket::OpenStream(peer.family());
  if (!socket.ok()) co_return socket.status();
  internal::IoAwaitable op(socket->driver(), socket->source(),
                           internal::IoOp::Code::kConnect);
  // `peer` is this frame's parameter: it outlives the op.
  op.op().addr = peer.sockaddr_ptr();
  op.op().addr_len = peer.sockaddr_len();
  const int64_t r = co_await op;
  if (r < 0) {
    co_return internal::ErrnoStatus(
        r, absl::StrCat("connect to ", peer.ToString()).c_str());
  }
  co_return TcpStream(*std::move(socket));
}

TcpStream::ReadAwaitable TcpStream::read(std::span<char> buf) {
  ReadAwaitable a(socket_.driver(), socket_.source(),
                  internal::IoOp::Code::kRecv);
  a.op().buf = buf.data();
  a.op().len = buf.size();
  return a;
}

absl::Status TcpStream::ReadableAwaitable::await_resume() noexcept {
  const absl::StatusOr<size_t> n = ToCount(IoAwaitable::await_resume(), "read");
  return n.status();
}

TcpStream::ReadableAwaitable TcpStream::readable() {
  ReadableAwaitable a(socket_.driver(), socket_.source(),
                      internal::IoOp::Code::kRecv);
  a.op().recv_flags = MSG_PEEK;
  return a;
}

TcpStream::WriteAwaitable TcpStream::write(std::string_view data) {
  WriteAwaitable a(socket_.driver(), socket_.source(),
                   internal::IoOp::Code::kSend);
  // The driver only reads from a send buffer.
  a.op().buf = const_cast<char*>(data.data());
  a.op().len = data.size();
  return a;
}

Task<absl::Status> TcpStream::write_all(std::string_view data) {
  return WriteAll(data, std::nullopt);
}

Task<absl::Status> TcpStream::write_all(
    std::string_view data, std::chrono::steady_clock::time_point deadline) {
  return WriteAll(data, deadline);
}

Task<absl::Status> TcpStream::WriteAll(
    std::string_view data,
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  while (!data.empty()) {
    WriteAwaitable w = write(data);
    if (deadline) w.set_deadline(*deadline);
    absl::StatusOr<size_t> n = co_await w;
    if (!n.ok()) co_return n.status();
    data.remove_prefix(*n);
  }
  co_return absl::OkStatus();
}

absl::Status TcpStream::shutdown(Shutdown how) {
  const int h = how == Shutdown::kWrite  ? SHUT_WR
                : how == Shutdown::kRead ? SHUT_RD
                                         : SHUT_RDWR;
  if (::shutdown(socket_.fd(), h) < 0) {
    return absl::ErrnoToStatus(errno, "shutdown");
  }
  return absl::OkStatus();
}

absl::Status TcpStream::set_nodelay(bool on) {
  const int v = on ? 1 : 0;
  if (setsockopt(socket_.fd(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) < 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(TCP_NODELAY)");
  }
  return absl::OkStatus();
}

absl::StatusOr<SocketAddress> TcpStream::peer_address() const {
  return internal::SocketName(socket_.fd(), /*peer=*/true);
}

absl::StatusOr<SocketAddress> TcpStream::local_address() const {
  return internal::SocketName(socket_.fd(), /*peer=*/false);
}

}  // namespace tidepool
