#include "runtime/net/internal/stream.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tidepool::internal {

absl::Status Stream::ReadableAwaitable::await_resume() noexcept {
  return ByteCount(IoAwaitable::await_resume(), "read", /*read_side=*/true)
      .status();
}

Stream::ReadAwaitable Stream::read(std::span<char> buf) {
  return Read(socket_, buf);
}

Stream::ReadableAwaitable Stream::readable() {
  ReadableAwaitable a(socket_.driver(), socket_.source(), IoOp::Code::kRecv);
  a.op().recv_flags = MSG_PEEK;
  return a;
}

Stream::WriteAwaitable Stream::write(std::string_view data) {
  return Write(socket_, data);
}

Task<absl::Status> Stream::write_all(std::string_view data) {
  return WriteAll(data, std::nullopt);
}

Task<absl::Status> Stream::write_all(
    std::string_view data, std::chrono::steady_clock::time_point deadline) {
  return WriteAll(data, deadline);
}

Task<absl::Status> Stream::WriteAll(
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

absl::Status Stream::shutdown(Shutdown how) {
  const int h = how == Shutdown::kWrite  ? SHUT_WR
                : how == Shutdown::kRead ? SHUT_RD
                                         : SHUT_RDWR;
  if (::shutdown(socket_.fd(), h) < 0) {
    return absl::ErrnoToStatus(errno, "shutdown");
  }
  return absl::OkStatus();
}

Task<absl::Status> Connect(Socket& socket, const sockaddr* addr,
                           socklen_t addr_len, std::string name) {
  IoAwaitable op(socket.driver(), socket.source(), IoOp::Code::kConnect);
  op.op().addr = addr;
  op.op().addr_len = addr_len;
  const int64_t r = co_await op;
  if (r < 0) {
    co_return ErrnoStatus(r, absl::StrCat("connect to ", name).c_str());
  }
  co_return absl::OkStatus();
}

}  // namespace tidepool::internal
