#ifndef TIDEPOOL_RUNTIME_NET_ASYNC_FD_H_
#define TIDEPOOL_RUNTIME_NET_ASYNC_FD_H_

// Readiness of a descriptor the caller owns: how a task drives a library
// that does its own non-blocking I/O (OpenSSL, libpq, libcurl, c-ares) on
// the runtime's I/O driver, without blocking a worker. examples/tls_echo
// drives OpenSSL with it.
//
//   // `fd` is non-blocking and stays open while `afd` exists.
//   absl::StatusOr<tidepool::AsyncFd> afd = tidepool::AsyncFd::create(fd);
//   if (!afd.ok()) co_return afd.status();
//   while (true) {
//     const ssize_t n = ::read(fd, buf, sizeof(buf));
//     if (n >= 0) break;  // data, or 0 at the end
//     if (errno != EAGAIN) co_return absl::ErrnoToStatus(errno, "read");
//     // EAGAIN: wait for the next readiness; nothing to clear first.
//     if (auto st = co_await afd->readable(); !st.ok()) co_return st;
//   }
//
// Readiness semantics (both drivers alike): readable() completes once the
// descriptor is readable (poll(2)'s POLLIN, or POLLHUP/POLLERR: a read
// would not block and reports the end or the error) at some moment after
// the await started; if it is readable already, at once. writable() the
// same for POLLOUT. Each await asks the kernel afresh, so readiness is
// never remembered between awaits: tokio's ReadyGuard::clear_ready() step
// is built in, and after an EAGAIN the next readable() waits for new
// readiness rather than returning at once. Readiness is a hint, not a
// guarantee: another reader of the descriptor may take the data first, so
// always do the I/O in a loop that handles EAGAIN as above. io_uring: each
// await is one one-shot IORING_OP_POLL_ADD (level-triggered: it completes
// at once on a ready descriptor). epoll: a poll(2) with a zero timeout, and
// when not ready the await is parked on the descriptor's edge-triggered
// registration and re-checked with poll(2) on each edge.
//
// Ownership: AsyncFd never closes the descriptor. Destroy it (or call
// deregister()) before closing the descriptor: the driver would otherwise
// watch a number that may be reused. One AsyncFd per descriptor (epoll
// refuses a second registration of the same one, EEXIST).
//
// Who may call: create() on a runtime thread (inside a task or a blocking
// call); readable() and writable() awaited inside tasks. One readable() and
// one writable() may be in flight at a time (from different tasks if you
// like: a TLS session may wait for both); a second concurrent one of the
// same kind fails with FailedPrecondition ("busy"), and an await after
// deregister() with EBADF. Awaits in flight when the AsyncFd is destroyed
// end with ECANCELED. Cancellation and deadlines as for TcpStream: an
// aborted task or an expired timeout() cancels the poll, and
// `timeout(d, afd->readable())` spawns nothing. Must not outlive its
// Runtime.
//
// Cost: create() is one registration (epoll: epoll_ctl; io_uring: none
// with the kernel) and one small allocation; each await is one awaitable in
// the task's frame, no allocation (io_uring: one SQE; epoll: one poll(2),
// plus one per edge while parked).

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/net/internal/socket.h"

namespace tidepool {

class AsyncFd {
 public:
  // Awaitable of readable() and writable(): OK once ready.
  class ReadyAwaitable : public internal::IoAwaitable {
   public:
    using IoAwaitable::IoAwaitable;
    absl::Status await_resume() noexcept;
  };

  // Watches `fd`, which the caller keeps owning. It may be any descriptor
  // poll(2) supports (socket, pipe, eventfd, timerfd, tty...): a bad one is
  // EBADF; a regular file or a directory, always ready to poll(2) and
  // refused by epoll, is InvalidArgument. The descriptor's blocking mode is
  // left alone; make it non-blocking (O_NONBLOCK) for the EAGAIN loop above.
  static absl::StatusOr<AsyncFd> create(int fd);

  AsyncFd() = default;
  AsyncFd(AsyncFd&&) noexcept = default;
  AsyncFd& operator=(AsyncFd&&) noexcept = default;

  ReadyAwaitable readable();
  ReadyAwaitable writable();

  // The descriptor watched, -1 after deregister().
  int fd() const { return source_.fd(); }
  bool is_registered() const { return source_.is_open(); }
  // Stops watching (destruction does it too); the descriptor stays open.
  void deregister() { source_.Close(); }

 private:
  explicit AsyncFd(internal::Socket source) : source_(std::move(source)) {}
  ReadyAwaitable Await(short events);

  internal::Socket source_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_ASYNC_FD_H_
