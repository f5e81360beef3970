#include "runtime/net/internal/datagram.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tidepool::internal {

MsgAwaitable::MsgAwaitable(const Socket& socket, std::span<char> buf)
    : IoAwaitable(socket.driver(), socket.source(), IoOp::Code::kRecvMsg),
      addr_len_(sizeof(addr_)) {
  iov_.iov_base = buf.data();
  iov_.iov_len = buf.size();
}

MsgAwaitable::MsgAwaitable(const Socket& socket, std::string_view data,
                           const sockaddr* to, socklen_t to_len)
    : IoAwaitable(socket.driver(), socket.source(), IoOp::Code::kSendMsg),
      addr_len_(to_len) {
  // The driver only reads from a send buffer.
  iov_.iov_base = const_cast<char*>(data.data());
  iov_.iov_len = data.size();
  if (to_len > sizeof(addr_)) {
    Fail(EINVAL);
    return;
  }
  if (to_len > 0) std::memcpy(&addr_, to, to_len);
}

bool MsgAwaitable::await_ready() {
  if (fail_errno_ != 0) {
    op().result = -fail_errno_;
    return true;
  }
  msg_.msg_name = &addr_;
  msg_.msg_namelen = addr_len_;
  msg_.msg_iov = &iov_;
  msg_.msg_iovlen = 1;
  op().buf = &msg_;
  return IoAwaitable::await_ready();
}

absl::StatusOr<size_t> SendToAwaitable::await_resume() noexcept {
  return ByteCount(IoAwaitable::await_resume(), "send_to",
                   /*read_side=*/false);
}

Datagram::SendAwaitable Datagram::send(std::string_view data) {
  return Write(socket_, data);
}

Datagram::RecvAwaitable Datagram::recv(std::span<char> buf) {
  return Read(socket_, buf);
}

absl::Status Datagram::ConnectTo(const sockaddr* addr, socklen_t addr_len,
                                 std::string_view name) {
  if (::connect(socket_.fd(), addr, addr_len) < 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("connect to ",
                            absl::string_view(name.data(), name.size())));
  }
  return absl::OkStatus();
}

}  // namespace tidepool::internal
