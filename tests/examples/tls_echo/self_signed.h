#ifndef TIDEPOOL_TESTS_EXAMPLES_TLS_ECHO_SELF_SIGNED_H_
#define TIDEPOOL_TESTS_EXAMPLES_TLS_ECHO_SELF_SIGNED_H_

// A self-signed certificate made in the test, with OpenSSL's API (no
// openssl(1), no files).
//
//   absl::StatusOr<SelfSigned> cert = SelfSigned::Make("localhost");
//   auto server = TlsContext::server(cert->cert_pem, cert->key_pem);
//   auto client = TlsContext::client(cert->cert_pem);  // trusts it
//
// Any thread. Cost: one P-256 key and one signature, well under a
// millisecond.

#include <string>

#include "absl/status/statusor.h"

namespace tidepool::tls_echo::testing {

struct SelfSigned {
  // An EC P-256 key and a certificate for `name` (subject CN and a DNS
  // subjectAltName) valid from now for a day, signed with its own key.
  static absl::StatusOr<SelfSigned> Make(const std::string& name);

  std::string cert_pem;
  std::string key_pem;
};

}  // namespace tidepool::tls_echo::testing

#endif  // TIDEPOOL_TESTS_EXAMPLES_TLS_ECHO_SELF_SIGNED_H_
