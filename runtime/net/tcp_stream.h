#ifndef TIDEPOOL_RUNTIME_NET_TCP_STREAM_H_
#define TIDEPOOL_RUNTIME_NET_TCP_STREAM_H_

// A connected TCP socket, driven by the runtime's I/O driver (io_uring, or
// epoll as fallback; both behave the same).
//
//   auto addr = tidepool::SocketAddress::Parse("127.0.0.1:8080");
//   absl::StatusOr<tidepool::TcpStream> s =
//       co_await tidepool::TcpStream::connect(*addr);
//   if (!s.ok()) co_return s.status();
//   if (auto st = co_await s->write_all("ping"); !st.ok()) co_return st;
//   char buf[4096];
//   absl::StatusOr<size_t> n = co_await s->read(buf);  // 0: peer closed
//
// Who may call: operations are awaited inside tidepool tasks. One read and
// one write may be in flight at a time (from different tasks if you like);
// a second concurrent read (or write) fails with FailedPrecondition ("busy"),
// and any operation on a closed stream with EBADF. A stream must not
// outlive its Runtime.
//
// Cost: each read or write is one awaitable in the task's frame, no
// allocation. With io_uring it is one submission queue entry, batched with
// the others of the same task poll into one io_uring_enter; with epoll it is
// tried at once and only parked on readiness when it would block.
//
// Cancellation: an operation ends when its task is aborted or a timeout()
// around it expires; the kernel operation is cancelled before the buffer is
// released, and no descriptor leaks. `co_await timeout(d, s.read(buf))`
// costs no spawn: the read carries the deadline itself (time/timeout.h).
// Errors are absl::Status from errno mapped by absl::ErrnoToStatus
// (ECONNRESET, EPIPE, ECONNREFUSED...).

#include <chrono>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"
#include "runtime/net/socket_address.h"
#include "runtime/task.h"

namespace tidepool {

class TcpStream {
 public:
  // Awaitable of read(): the byte count, 0 at end of stream.
  class ReadAwaitable : public internal::IoAwaitable {
   public:
    using IoAwaitable::IoAwaitable;
    absl::StatusOr<size_t> await_resume() noexcept;
  };
  // Awaitable of readable(): OK once a read would not wait (bytes are
  // there, or the end of the stream, or an error to report). Reads nothing.
  class ReadableAwaitable : public internal::IoAwaitable {
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
  class WriteAwaitable : public internal::IoAwaitable {
   public:
    using IoAwaitable::IoAwaitable;
    absl::StatusOr<size_t> await_resume() noexcept;
  };

  // Connects to `peer`. Inside a task.
  static Task<absl::StatusOr<TcpStream>> connect(SocketAddress peer);

  TcpStream() = default;
  TcpStream(TcpStream&&) noexcept = default;
  TcpStream& operator=(TcpStream&&) noexcept = default;

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
  // TCP_NODELAY: send small writes at once instead of coalescing them.
  absl::Status set_nodelay(bool on);
  absl::StatusOr<SocketAddress> peer_address() const;
  absl::StatusOr<SocketAddress> local_address() const;

  bool is_open() const { return socket_.is_open(); }
  int native_handle() const { return socket_.fd(); }
  // Closes now (destruction does it too). No operation may be in flight.
  void close() { socket_.Close(); }

 private:
  friend class TcpListener;
  // Both write_all()s: every write carries `deadline`, if any.
  Task<absl::Status> WriteAll(
      std::string_view data,
      std::optional<std::chrono::steady_clock::time_point> deadline);
  explicit TcpStream(internal::Socket socket) : socket_(std::move(socket)) {}

  internal::Socket socket_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_TCP_STREAM_H_
