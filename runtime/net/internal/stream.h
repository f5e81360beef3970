#ifndef TIDEPOOL_RUNTIME_NET_INTERNAL_STREAM_H_
#define TIDEPOOL_RUNTIME_NET_INTERNAL_STREAM_H_

#include <chrono>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/internal/transfer.h"
#include "runtime/task.h"

namespace tidepool::internal {

// What TcpStream and UnixStream have in common: a connected byte-stream
// socket with read, readable, write, write_all and shutdown. Its public
// members are part of both streams' API, documented here and listed in
// tcp_stream.h and unix_stream.h, whose rules (one read and one write in
// flight, "busy", EBADF after close, cancellation) they follow.
class Stream {
 public:
  // Awaitable of read(): the byte count, 0 at end of stream.
  using ReadAwaitable = ReadOp;
  // Awaitable of readable(): OK once a read would not wait (bytes are
  // there, or the end of the stream, or an error to report). Reads nothing.
  class ReadableAwaitable : public IoAwaitable {
   public:
    using IoAwaitable::IoAwaitable;
    // The peek lands in this object, wherever it was moved to.
    bool await_ready() {
      op().buf = &peek_;
      op().len = 1;
      return IoAwaitable::await_ready();
    }
    absl::Status await_resume() noexcept;

   private:
    char peek_ = 0;
  };
  // Awaitable of write(): bytes written, at least 1 unless `data` is empty.
  using WriteAwaitable = WriteOp;

  // Reads up to buf.size() bytes. The buffer must stay valid until the
  // awaitable is destroyed.
  ReadAwaitable read(std::span<char> buf);
  // Waits until the stream has something to read, without reading it and
  // without a buffer: a server waits with this on an idle keep-alive
  // connection and allocates its read buffer only when a request comes.
  // Counts as the stream's one read in flight.
  ReadableAwaitable readable();
  // Writes some of `data` (a short write is normal). Any bytes, not only
  // text; `data` must stay valid until the awaitable is destroyed.
  WriteAwaitable write(std::string_view data);
  // Writes all of `data`, several writes if needed.
  Task<absl::Status> write_all(std::string_view data);
  // Writes all of `data` unless `deadline` passes first (DeadlineExceeded;
  // some bytes may have gone). Each write carries the deadline, so this is
  // `timeout(d, write_all(data))` without the two spawns.
  Task<absl::Status> write_all(std::string_view data,
                               std::chrono::steady_clock::time_point deadline);

  // shutdown(2): no more writes (the peer reads end of stream), reads, or
  // both. Immediate.
  enum class Shutdown { kWrite, kRead, kBoth };
  absl::Status shutdown(Shutdown how = Shutdown::kWrite);

  bool is_open() const { return socket_.is_open(); }
  int native_handle() const { return socket_.fd(); }
  // Closes now (destruction does it too). No operation may be in flight.
  void close() { socket_.Close(); }

 protected:
  Stream() = default;
  explicit Stream(Socket socket) : socket_(std::move(socket)) {}
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;
  ~Stream() = default;

  const Socket& socket() const { return socket_; }

 private:
  // Both write_all()s: every write carries `deadline`, if any.
  Task<absl::Status> WriteAll(
      std::string_view data,
      std::optional<std::chrono::steady_clock::time_point> deadline);

  Socket socket_;
};

// Connects `socket` to the peer at `addr` (`addr_len` bytes) with a connect
// op; `name` (the peer as text) goes into the error message ("connect to
// <name>: ..."). `addr` must stay valid until the task ends.
Task<absl::Status> Connect(Socket& socket, const sockaddr* addr,
                           socklen_t addr_len, std::string name);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_NET_INTERNAL_STREAM_H_
