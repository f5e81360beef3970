#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_CONTEXT_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_CONTEXT_H_

// TlsContext: the settings TLS sessions are made from (OpenSSL's SSL_CTX):
// a server's certificate and key, or what a client trusts. TLS 1.2 at
// least.
//
//   absl::StatusOr<TlsContext> server =
//       TlsContext::server(ReadFile("cert.pem"), ReadFile("key.pem"));
//   absl::StatusOr<TlsContext> client = TlsContext::client(ReadFile("ca.pem"));
//   absl::StatusOr<TlsContext> web = TlsContext::client("");  // system CAs
//
// Who may call: any thread. A TlsContext is a reference to a shared,
// immutable SSL_CTX: copies are cheap (a reference count), and streams made
// from one keep it alive, so it may go before them. Cost: parsing the PEM
// text once; each session made from it shares its certificates.

#include <openssl/ssl.h>

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace tidepool::tls_echo {

class TlsContext {
 public:
  // A server's context: `cert_chain_pem` holds its certificate, then any
  // intermediates; `key_pem` the matching unencrypted private key. A bad
  // PEM block or a key that does not match is InvalidArgument.
  static absl::StatusOr<TlsContext> server(std::string_view cert_chain_pem,
                                           std::string_view key_pem);
  // A client's context: it verifies the server's certificate chain against
  // the certificates in `trusted_pem` (one or more PEM blocks), or against
  // the system's store (/etc/ssl/certs) when it is empty. The name checked
  // is given per connection (TlsStream::connect).
  static absl::StatusOr<TlsContext> client(std::string_view trusted_pem);

  SSL_CTX* get() const { return ctx_.get(); }

 private:
  explicit TlsContext(std::shared_ptr<SSL_CTX> ctx) : ctx_(std::move(ctx)) {}
  static absl::StatusOr<TlsContext> New();

  std::shared_ptr<SSL_CTX> ctx_;
};

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_TLS_CONTEXT_H_
