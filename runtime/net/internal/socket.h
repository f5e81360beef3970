#ifndef TIDEPOOL_RUNTIME_NET_INTERNAL_SOCKET_H_
#define TIDEPOOL_RUNTIME_NET_INTERNAL_SOCKET_H_

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_driver.h"
#include "runtime/net/socket_address.h"

namespace tidepool::internal {

// A socket descriptor registered with a runtime's I/O driver: what every
// socket type of runtime/net/ has in common. Move-only; closing (or
// destruction) deregisters, then closes. Must not outlive its Runtime.
class Socket {
 public:
  Socket() = default;
  // Registers `fd` with the driver, which takes it over (and closes it on
  // failure).
  static absl::StatusOr<Socket> Adopt(IoDriver* driver, int fd);
  // Registers `fd` without taking it over: closing the Socket deregisters
  // it and leaves it open (AsyncFd).
  static absl::StatusOr<Socket> Borrow(IoDriver* driver, int fd);
  // socket(family, type) (SOCK_STREAM, SOCK_DGRAM) with the flags the
  // driver needs. Must run on a thread of a runtime (inside a task or a
  // blocking call).
  static absl::StatusOr<Socket> Open(int family, int type);
  // socketpair(AF_UNIX, type) with the flags the driver needs, both ends
  // registered. Same threads as Open.
  static absl::StatusOr<std::pair<Socket, Socket>> OpenPair(int type);
  // Open(family, type), bind to `addr`, and, for a stream, listen with
  // `backlog`. `name` (the address as text) goes into error messages.
  // TCP listeners get SO_REUSEADDR.
  static absl::StatusOr<Socket> OpenBound(int family, int type,
                                          const sockaddr* addr,
                                          socklen_t addr_len,
                                          std::string_view name, int backlog);
  // The result of an accept op as a registered socket: the new descriptor,
  // or the error ("accept: <strerror>").
  static absl::StatusOr<Socket> FromAccept(IoDriver* driver, int64_t result);

  Socket(Socket&& other) noexcept
      : driver_(std::exchange(other.driver_, nullptr)),
        source_(std::exchange(other.source_, nullptr)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      Close();
      driver_ = std::exchange(other.driver_, nullptr);
      source_ = std::exchange(other.source_, nullptr);
    }
    return *this;
  }
  ~Socket() { Close(); }

  void Close();
  bool is_open() const { return source_ != nullptr; }
  int fd() const { return source_ ? source_->fd : -1; }
  IoDriver* driver() const { return driver_; }
  IoSource* source() const { return source_; }

 private:
  IoDriver* driver_ = nullptr;
  IoSource* source_ = nullptr;
};

// The I/O driver of the runtime the calling thread belongs to, or a
// FailedPrecondition naming `what`.
absl::StatusOr<IoDriver*> CurrentIoDriver(const char* what);

// getsockname (peer false) or getpeername of `fd`.
absl::StatusOr<SocketAddress> SocketName(int fd, bool peer);

// -errno from a driver result as a Status: "<what>: <strerror>".
absl::Status ErrnoStatus(int64_t negative_errno, const char* what);

// A driver result of a transfer (read, write, send, recv) as a byte count
// or a Status "<what>: ...": -EBUSY is FailedPrecondition ("busy": another
// task is already reading, or writing, this socket), any other -errno
// ErrnoStatus.
absl::StatusOr<size_t> ByteCount(int64_t result, const char* what,
                                 bool read_side);

// setsockopt(fd, level, option, int value), as a Status naming `what`.
absl::Status SetIntOption(int fd, int level, int option, int value,
                          const char* what);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_NET_INTERNAL_SOCKET_H_
