#ifndef TIDEPOOL_TESTS_EXAMPLES_FRONTEND_BLOCKING_CLIENT_H_
#define TIDEPOOL_TESTS_EXAMPLES_FRONTEND_BLOCKING_CLIENT_H_

// A plain blocking TCP client on loopback for the frontend's tests: it
// plays the load tool's part without any tidepool in it, so a test checks
// the server against an independent peer. Receives time out after 10 s.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

namespace tidepool::testing {

class BlockingClient {
 public:
  explicit BlockingClient(uint16_t port, bool connect_now = true)
      : port_(port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect_now) Connect();
  }
  ~BlockingClient() {
    if (fd_ >= 0) close(fd_);
  }
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  // Connects the socket made by the constructor; 0 or the errno.
  int Connect() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect_errno_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? 0
                                                                      : errno;
    return connect_errno_;
  }
  bool connected() const { return connect_errno_ == 0; }
  int connect_errno() const { return connect_errno_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(n);
    }
    return true;
  }

  // Closes with a reset instead of a FIN, like a client that crashed.
  void Abort() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd_);
    fd_ = -1;
  }

  // One recv into received(): the byte count, 0 at end of stream, -1 on
  // an error (errno says which) or the timeout. EINTR is retried: a thread
  // that cancelled io_uring requests (when a runtime shut down) gets the
  // kernel's task-work notifications, and a socket with a receive timeout
  // reports them as EINTR.
  ssize_t Fill() {
    char tmp[65536];
    ssize_t n;
    do {
      n = recv(fd_, tmp, sizeof(tmp), 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) received_.append(tmp, n);
    return n;
  }
  // What has arrived and not been consumed by the test.
  std::string& received() { return received_; }

 private:
  const uint16_t port_;
  int fd_ = -1;
  int connect_errno_ = ENOTCONN;
  std::string received_;
};

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_EXAMPLES_FRONTEND_BLOCKING_CLIENT_H_
