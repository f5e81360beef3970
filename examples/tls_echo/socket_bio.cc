#include "examples/tls_echo/socket_bio.h"

#include <sys/socket.h>

#include <cerrno>

namespace tidepool::tls_echo {
const BIO_METHOD* SocketBio::Method() {
  // Made on first use (thread-safe static initialization) and kept for the
  // life of the process.
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "tidepool socket");
    if (m == nullptr || BIO_meth_set_write(m, &Write) != 1 ||
        BIO_meth_set_read(m, &Read) != 1 || BIO_meth_set_ctrl(m, &Ctrl) != 1) {
      BIO_meth_free(m);
      return static_cast<BIO_METHOD*>(nullptr);
    }
    return m;
  }();
  return method;
}

BIO* SocketBio::NewBio() {
  const BIO_METHOD* method = Method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return nullptr;
  BIO_set_data(bio, this);
  // A BIO without the init flag refuses reads and writes.
  BIO_set_init(bio, 1);
  return bio;
}

int SocketBio::Write(BIO* bio, const char* data, int len) {
  auto* self = static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  while (true) {
    const ssize_t n = send(self->fd_, data, len, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
    } else {
      self->last_errno_ = errno;
    }
    return -1;
  }
}

int SocketBio::Read(BIO* bio, char* buf, int len) {
  auto* self = static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  while (true) {
    const ssize_t n = recv(self->fd_, buf, len, 0);
    if (n >= 0) return static_cast<int>(n);  // 0: the peer closed
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      self->last_errno_ = errno;
    }
    return -1;
  }
}

long SocketBio::Ctrl(BIO*, int cmd, long, void*) {
  // Writes go straight to the socket, so a flush has nothing to do; every
  // other control (kTLS, datagram and buffer queries) is "unsupported".
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

}  // namespace tidepool::tls_echo
