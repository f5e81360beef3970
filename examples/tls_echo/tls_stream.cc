#include "examples/tls_echo/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "examples/tls_echo/openssl_error.h"
#include "examples/tls_echo/socket_bio.h"

namespace tidepool::tls_echo {
namespace {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

bool IsIpAddress(const std::string& name) {
  in6_addr addr;
  return inet_pton(AF_INET, name.c_str(), &addr) == 1 ||
         inet_pton(AF_INET6, name.c_str(), &addr) == 1;
}

}  // namespace

// Everything one connection holds, on the heap so that the stream moves
// freely while an operation refers to it. Members are destroyed in reverse
// order: the SSL (and its BIO) first, then the AsyncFd, which must stop
// watching the socket before the OwnedFd closes it.
struct TlsStream::Session {
  Session(OwnedFd socket, AsyncFd watcher, std::string peer_name)
      : fd(std::move(socket)),
        afd(std::move(watcher)),
        transport(fd.get()),
        peer(std::move(peer_name)) {}

  // Makes `ssl`: a client's, verifying `server_name`, or (null) a
  // server's.
  absl::Status NewSsl(const TlsContext& ctx, const std::string* server_name);

  OwnedFd fd;
  AsyncFd afd;
  SocketBio transport;
  std::unique_ptr<SSL, SslFree> ssl;
  // The peer in error messages: the server name, or the client's address.
  const std::string peer;
  // Set by an operation for as long as it runs: an SSL object takes one
  // call at a time. acquire by the exchange that starts an operation,
  // pairing with the release store that ended the previous one (possibly
  // on another worker), so the next call sees the SSL state it left.
  std::atomic<bool> busy{false};
  // The first fatal error; OpenSSL allows no I/O (not even close_notify)
  // after one. Written and read only by the operation holding `busy`.
  absl::Status failed;
};

absl::Status TlsStream::Session::NewSsl(const TlsContext& ctx,
                                        const std::string* server_name) {
  ERR_clear_error();
  ssl.reset(SSL_new(ctx.get()));
  if (ssl == nullptr) {
    return OpenSslError(absl::StatusCode::kResourceExhausted, "SSL_new");
  }
  BIO* bio = transport.NewBio();
  if (bio == nullptr) {
    return OpenSslError(absl::StatusCode::kResourceExhausted, "BIO_new");
  }
  // One BIO for both directions; the SSL takes it over (and counts the
  // second use itself).
  SSL_set_bio(ssl.get(), bio, bio);
  if (server_name == nullptr) {
    SSL_set_accept_state(ssl.get());
    return absl::OkStatus();
  }
  SSL* s = ssl.get();
  SSL_set_connect_state(s);
  const bool named =
      IsIpAddress(*server_name)
          ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s),
                                          server_name->c_str()) == 1
          : SSL_set_tlsext_host_name(s, server_name->c_str()) == 1 &&
                SSL_set1_host(s, server_name->c_str()) == 1;
  if (!named) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("server name \"", *server_name, "\""));
  }
  return absl::OkStatus();
}

TlsStream::TlsStream() = default;
TlsStream::TlsStream(std::unique_ptr<Session> session)
    : session_(std::move(session)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

Task<absl::StatusOr<TlsStream>> TlsStream::connect(SocketAddress peer,
                                                   TlsContext ctx,
                                                   std::string server_name) {
  if (server_name.empty()) {
    co_return absl::InvalidArgumentError(
        "server_name: empty; give the name the server's certificate must "
        "carry, a DNS name or an IP address");
  }
  const std::string what = absl::StrCat("connect to ", peer.ToString());
  OwnedFd fd(
      socket(peer.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) co_return absl::ErrnoToStatus(errno, what);
  absl::StatusOr<AsyncFd> afd = AsyncFd::create(fd.get());
  if (!afd.ok()) co_return afd.status();
  if (::connect(fd.get(), peer.sockaddr_ptr(), peer.sockaddr_len()) < 0) {
    if (errno != EINPROGRESS) co_return absl::ErrnoToStatus(errno, what);
    // The socket turns writable when the TCP handshake ends, either way;
    // SO_ERROR tells which.
    if (absl::Status st = co_await afd->writable(); !st.ok()) co_return st;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
      err = errno;
    }
    if (err != 0) co_return absl::ErrnoToStatus(err, what);
  }
  auto session =
      std::make_unique<Session>(std::move(fd), *std::move(afd), server_name);
  if (absl::Status st = session->NewSsl(ctx, &server_name); !st.ok()) {
    co_return st;
  }
  TlsStream stream(std::move(session));
  if (absl::Status st = co_await stream.handshake(); !st.ok()) co_return st;
  co_return stream;
}

absl::StatusOr<TlsStream> TlsStream::server(OwnedFd fd, const TlsContext& ctx) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  std::string peer = "an unknown client";
  if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    if (auto a = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&addr),
                                             len);
        a.ok()) {
      peer = a->ToString();
    }
  }
  absl::StatusOr<AsyncFd> afd = AsyncFd::create(fd.get());
  if (!afd.ok()) return afd.status();
  auto session =
      std::make_unique<Session>(std::move(fd), *std::move(afd), peer);
  if (absl::Status st = session->NewSsl(ctx, nullptr); !st.ok()) return st;
  return TlsStream(std::move(session));
}

Task<absl::Status> TlsStream::handshake() {
  absl::StatusOr<size_t> r =
      co_await Drive(session_.get(), Op::kHandshake, nullptr, 0);
  co_return r.status();
}

Task<absl::StatusOr<size_t>> TlsStream::read(std::span<char> buf) {
  return Drive(session_.get(), Op::kRead, buf.data(), buf.size());
}

Task<absl::StatusOr<size_t>> TlsStream::write(std::string_view data) {
  // SSL_write_ex only reads the buffer; Drive takes one pointer type.
  return Drive(session_.get(), Op::kWrite, const_cast<char*>(data.data()),
               data.size());
}

Task<absl::Status> TlsStream::write_all(std::string_view data) {
  while (!data.empty()) {
    absl::StatusOr<size_t> n = co_await write(data);
    if (!n.ok()) co_return n.status();
    data.remove_prefix(*n);
  }
  co_return absl::OkStatus();
}

Task<absl::Status> TlsStream::shutdown() {
  absl::StatusOr<size_t> r =
      co_await Drive(session_.get(), Op::kShutdown, nullptr, 0);
  co_return r.status();
}

std::string_view TlsStream::protocol() const {
  if (session_ == nullptr || !SSL_is_init_finished(session_->ssl.get())) {
    return "";
  }
  return SSL_get_version(session_->ssl.get());
}

int TlsStream::native_handle() const {
  return session_ != nullptr ? session_->fd.get() : -1;
}

void TlsStream::close() { session_.reset(); }

Task<absl::StatusOr<size_t>> TlsStream::Drive(Session* s, Op op, char* buf,
                                              size_t len) {
  // Nothing to move: done, as a socket read or write of 0 bytes is.
  if ((op == Op::kRead || op == Op::kWrite) && len == 0) co_return 0;
  if (s == nullptr) {
    co_return absl::FailedPreconditionError("TlsStream: closed");
  }
  // Built only for an error: reads and writes allocate nothing for it.
  auto what = [s, op] {
    static constexpr const char* kVerb[] = {"handshake with", "read from",
                                            "write to", "shutdown with"};
    return absl::StrCat("TLS ", kVerb[static_cast<int>(op)], " ", s->peer);
  };
  if (s->busy.exchange(true, std::memory_order_acquire)) {
    co_return absl::FailedPreconditionError(absl::StrCat(
        what(), ": busy: a TlsStream takes one operation at a time"));
  }
  struct Done {
    Session* s;
    // release: pairs with the acquire exchange of the next operation.
    ~Done() { s->busy.store(false, std::memory_order_release); }
  } done{s};
  if (!s->failed.ok()) {
    co_return absl::FailedPreconditionError(absl::StrCat(
        what(), ": the session failed earlier: ", s->failed.message()));
  }
  SSL* ssl = s->ssl.get();
  while (true) {
    // The error queue is per thread: empty it before the call, read it
    // right after, with no await in between.
    ERR_clear_error();
    size_t n = 0;
    int r = 0;
    switch (op) {
      case Op::kHandshake:
        r = SSL_do_handshake(ssl);
        break;
      case Op::kRead:
        r = SSL_read_ex(ssl, buf, len, &n);
        break;
      case Op::kWrite:
        r = SSL_write_ex(ssl, buf, len, &n);
        break;
      case Op::kShutdown:
        // 0: close_notify sent, the peer's not received yet; enough here.
        r = SSL_shutdown(ssl);
        if (r == 0) r = 1;
        break;
    }
    if (r == 1) co_return n;
    absl::Status error;
    switch (SSL_get_error(ssl, r)) {
      case SSL_ERROR_WANT_READ:
        error = co_await s->afd.readable();
        if (error.ok()) continue;
        co_return error;
      case SSL_ERROR_WANT_WRITE:
        error = co_await s->afd.writable();
        if (error.ok()) continue;
        co_return error;
      case SSL_ERROR_ZERO_RETURN:
        // The peer's close_notify: the end of the stream for a read.
        if (op == Op::kRead) co_return 0;
        error = absl::UnavailableError(
            absl::StrCat(what(), ": the peer closed the session"));
        break;
      case SSL_ERROR_SYSCALL:
        if (s->transport.last_errno() != 0) {
          error = absl::ErrnoToStatus(s->transport.last_errno(), what());
        } else if (ERR_peek_error() != 0) {
          error = OpenSslError(absl::StatusCode::kUnavailable, what());
        } else {
          error = absl::UnavailableError(absl::StrCat(
              what(), ": the connection ended without close_notify"));
        }
        break;
      case SSL_ERROR_SSL:
        if (const long v = SSL_get_verify_result(ssl);
            op == Op::kHandshake && v != X509_V_OK) {
          ERR_clear_error();
          error = absl::UnauthenticatedError(
              absl::StrCat(what(), ": certificate verify failed: ",
                           X509_verify_cert_error_string(v)));
        } else {
          error = OpenSslError(absl::StatusCode::kUnavailable, what());
        }
        break;
      default:
        error = OpenSslError(absl::StatusCode::kInternal, what());
        break;
    }
    s->failed = error;
    co_return error;
  }
}

}  // namespace tidepool::tls_echo
