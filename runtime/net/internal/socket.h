#ifndef TIDEPOOL_RUNTIME_NET_INTERNAL_SOCKET_H_
#define TIDEPOOL_RUNTIME_NET_INTERNAL_SOCKET_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_driver.h"
#include "runtime/net/socket_address.h"

namespace tidepool::internal {

// A socket descriptor registered with a runtime's I/O driver: what
// TcpListener and TcpStream have in common. Move-only; closing (or
// destruction) deregisters, then closes. Must not outlive its Runtime.
class Socket {
 public:
  Socket() = default;
  // Registers `fd` with the driver, which takes it over (and closes it on
  // failure).
  static absl::StatusOr<Socket> Adopt(IoDriver* driver, int fd);
  // socket(family, SOCK_STREAM) with the flags the driver needs. Must run
  // on a thread of a runtime (inside a task or a blocking call).
  static absl::StatusOr<Socket> OpenStream(int family);

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

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_NET_INTERNAL_SOCKET_H_
