#include "runtime/net/async_fd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tidepool {

absl::StatusOr<AsyncFd> AsyncFd::create(int fd) {
  struct stat st {};
  if (fstat(fd, &st) < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("AsyncFd::create(", fd, ")"));
  }
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AsyncFd::create(", fd,
        "): a regular file or directory is always ready; read it on the "
        "blocking pool instead"));
  }
  auto driver = internal::CurrentIoDriver("AsyncFd::create");
  if (!driver.ok()) return driver.status();
  auto source = internal::Socket::Borrow(*driver, fd);
  if (!source.ok()) return source.status();
  return AsyncFd(*std::move(source));
}

absl::Status AsyncFd::ReadyAwaitable::await_resume() noexcept {
  const int64_t r = IoAwaitable::await_resume();
  const bool read_side = internal::ReadsSide(op());
  return internal::ByteCount(r, read_side ? "readable" : "writable", read_side)
      .status();
}

AsyncFd::ReadyAwaitable AsyncFd::Await(short events) {
  ReadyAwaitable a(source_.driver(), source_.source(),
                   internal::IoOp::Code::kPoll);
  a.op().poll_events = static_cast<uint32_t>(events);
  return a;
}

AsyncFd::ReadyAwaitable AsyncFd::readable() { return Await(POLLIN); }

AsyncFd::ReadyAwaitable AsyncFd::writable() { return Await(POLLOUT); }

}  // namespace tidepool
