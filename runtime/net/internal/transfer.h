#ifndef TIDEPOOL_RUNTIME_NET_INTERNAL_TRANSFER_H_
#define TIDEPOOL_RUNTIME_NET_INTERNAL_TRANSFER_H_

#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"

namespace tidepool::internal {

// The awaitables of a plain recv and send on a socket, shared by the stream
// and datagram types: the byte count (0 at end of stream), or a Status
// "read: ..." / "write: ..." (ByteCount).
class ReadOp : public IoAwaitable {
 public:
  using IoAwaitable::IoAwaitable;
  absl::StatusOr<size_t> await_resume() noexcept {
    return ByteCount(IoAwaitable::await_resume(), "read", /*read_side=*/true);
  }
};
class WriteOp : public IoAwaitable {
 public:
  using IoAwaitable::IoAwaitable;
  absl::StatusOr<size_t> await_resume() noexcept {
    return ByteCount(IoAwaitable::await_resume(), "write",
                     /*read_side=*/false);
  }
};

// A recv into `buf` on `socket`; `buf` must outlive the awaitable.
inline ReadOp Read(const Socket& socket, std::span<char> buf) {
  ReadOp a(socket.driver(), socket.source(), IoOp::Code::kRecv);
  a.op().buf = buf.data();
  a.op().len = buf.size();
  return a;
}

// A send of `data` on `socket`; `data` must outlive the awaitable.
inline WriteOp Write(const Socket& socket, std::string_view data) {
  WriteOp a(socket.driver(), socket.source(), IoOp::Code::kSend);
  // The driver only reads from a send buffer.
  a.op().buf = const_cast<char*>(data.data());
  a.op().len = data.size();
  return a;
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_NET_INTERNAL_TRANSFER_H_
