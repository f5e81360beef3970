#include "tests/examples/tls_echo/self_signed.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "examples/tls_echo/openssl_error.h"

namespace tidepool::tls_echo::testing {
namespace {

struct Free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(X509* x) const { X509_free(x); }
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
  void operator()(BIO* b) const { BIO_free(b); }
};

absl::Status Failed(const std::string& what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

// What `bio`, a memory BIO, holds.
std::string Contents(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n);
}

}  // namespace

absl::StatusOr<SelfSigned> SelfSigned::Make(const std::string& name) {
  std::unique_ptr<EVP_PKEY, Free> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Failed("EVP_EC_gen");
  std::unique_ptr<X509, Free> cert(X509_new());
  if (cert == nullptr) return Failed("X509_new");
  X509* x = cert.get();
  X509_NAME* subject = X509_get_subject_name(x);
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(x), -60) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) == nullptr ||
      X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_ASC,
          reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
          0) != 1 ||
      X509_set_issuer_name(x, subject) != 1 ||
      X509_set_pubkey(x, key.get()) != 1) {
    return Failed("certificate fields");
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  const std::string san = "DNS:" + name;
  std::unique_ptr<X509_EXTENSION, Free> ext(
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str()));
  if (ext == nullptr || X509_add_ext(x, ext.get(), -1) != 1) {
    return Failed("subjectAltName");
  }
  if (X509_sign(x, key.get(), EVP_sha256()) == 0) return Failed("X509_sign");

  std::unique_ptr<BIO, Free> cert_bio(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, Free> key_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || key_bio == nullptr ||
      PEM_write_bio_X509(cert_bio.get(), x) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return Failed("PEM");
  }
  return SelfSigned{Contents(cert_bio.get()), Contents(key_bio.get())};
}

}  // namespace tidepool::tls_echo::testing
