#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_SOCKET_BIO_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_SOCKET_BIO_H_

// SocketBio: the transport under a TlsStream, an OpenSSL BIO that reads and
// writes a non-blocking socket with recv(2) and send(2).
//
//   SocketBio transport(fd);
//   BIO* bio = transport.NewBio();
//   SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO; `transport` must
//                                // outlive the SSL
//
// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when
// the peer has gone and kills a server that does not ignore it; this one
// sends with MSG_NOSIGNAL and reports EPIPE instead. On EAGAIN it sets the
// BIO's retry flag, which SSL_get_error() turns into SSL_ERROR_WANT_READ or
// SSL_ERROR_WANT_WRITE: the caller awaits AsyncFd readiness and calls
// again. It also keeps the errno of the last failure, because OpenSSL may
// overwrite errno before SSL_get_error() reports SSL_ERROR_SYSCALL.
//
// Who may call: the thread running the SSL call, one at a time (as the SSL
// object itself). Cost: one syscall per BIO read or write, no copying.

#include <openssl/bio.h>

namespace tidepool::tls_echo {

class SocketBio {
 public:
  // `fd` must stay open while any BIO of this object is in use.
  explicit SocketBio(int fd) : fd_(fd) {}
  SocketBio(const SocketBio&) = delete;
  SocketBio& operator=(const SocketBio&) = delete;

  // A new BIO over the socket, referring to this object; null when OpenSSL
  // is out of memory. Freeing it leaves the socket open.
  BIO* NewBio();
  // The errno of the last failed recv or send other than EAGAIN (an EOF
  // sets nothing), 0 if none.
  int last_errno() const { return last_errno_; }

 private:
  // The method table every SocketBio's BIOs share; null if OpenSSL is out
  // of memory.
  static const BIO_METHOD* Method();
  static int Write(BIO* bio, const char* data, int len);
  static int Read(BIO* bio, char* buf, int len);
  static long Ctrl(BIO* bio, int cmd, long num, void* ptr);

  const int fd_;
  int last_errno_ = 0;
};

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_SOCKET_BIO_H_
