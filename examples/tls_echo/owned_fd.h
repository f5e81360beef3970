#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_OWNED_FD_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_OWNED_FD_H_

// OwnedFd: a descriptor closed when the object goes, for the sockets that
// examples/tls_echo creates itself (AsyncFd watches descriptors it does not
// own).
//
//   tidepool::tls_echo::OwnedFd fd(socket(AF_INET, SOCK_STREAM, 0));
//   if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
//
// Any thread; costs one close(2) at destruction.

#include <unistd.h>

#include <utility>

namespace tidepool::tls_echo {

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~OwnedFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes the descriptor now.
  void reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_OWNED_FD_H_
