#include "examples/tls_echo/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <utility>

#include "examples/tls_echo/openssl_error.h"

namespace tidepool::tls_echo {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

BioPtr ReadOnlyBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The next certificate of `bio`; null at the end of the text or on a bad
// block (the error queue tells which: nothing queued but "no start line"
// means the end).
X509Ptr NextCertificate(BIO* bio) {
  return X509Ptr(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
}

// True when the last failed PEM read only ran out of blocks.
bool EndOfPem() {
  const unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
      ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
    return false;
  }
  ERR_clear_error();
  return true;
}

}  // namespace

absl::StatusOr<TlsContext> TlsContext::New() {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (ctx == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "SSL_CTX_new");
  }
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "minimum TLS version");
  }
  // write() may return after one record, as a socket write may be short;
  // write_all() loops.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE);
  return TlsContext(std::move(ctx));
}

absl::StatusOr<TlsContext> TlsContext::server(std::string_view cert_chain_pem,
                                              std::string_view key_pem) {
  absl::StatusOr<TlsContext> c = New();
  if (!c.ok()) return c.status();
  SSL_CTX* ctx = c->get();
  BioPtr certs = ReadOnlyBio(cert_chain_pem);
  X509Ptr leaf = NextCertificate(certs.get());
  if (leaf == nullptr || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "server certificate");
  }
  while (X509Ptr intermediate = NextCertificate(certs.get())) {
    // add0: the context takes the certificate over.
    if (SSL_CTX_add0_chain_cert(ctx, intermediate.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          "certificate chain");
    }
    intermediate.release();
  }
  if (!EndOfPem()) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "certificate chain");
  }
  BioPtr key_bio = ReadOnlyBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "private key");
  }
  return c;
}

absl::StatusOr<TlsContext> TlsContext::client(std::string_view trusted_pem) {
  absl::StatusOr<TlsContext> c = New();
  if (!c.ok()) return c.status();
  SSL_CTX* ctx = c->get();
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (trusted_pem.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "system CA store");
    }
    return c;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  BioPtr certs = ReadOnlyBio(trusted_pem);
  int added = 0;
  while (X509Ptr cert = NextCertificate(certs.get())) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          "trusted certificate");
    }
    ++added;
  }
  if (!EndOfPem()) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "trusted certificates");
  }
  if (added == 0) {
    return absl::InvalidArgumentError(
        "trusted certificates: no PEM certificate in the text");
  }
  return c;
}

}  // namespace tidepool::tls_echo
