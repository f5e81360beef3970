#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_OPENSSL_ERROR_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_OPENSSL_ERROR_H_

// OpenSslError: OpenSSL's error queue as an absl::Status.
//
//   if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
//     return OpenSslError(absl::StatusCode::kInvalidArgument, "private key");
//   }
//   // INVALID_ARGUMENT: private key: key values mismatch
//
// OpenSSL keeps its error queue per thread, and a task may resume on
// another worker after any co_await: call this on the thread of the failed
// call, before the task awaits anything. It empties the queue. Cost: one
// string with every reason in the queue.

#include <string>

#include "absl/status/status.h"

namespace tidepool::tls_echo {

// "<what>: <reason>; <reason>..." with the reasons OpenSSL queued, oldest
// first ("<what>: no error reported" when the queue is empty).
absl::Status OpenSslError(absl::StatusCode code, const std::string& what);

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_OPENSSL_ERROR_H_
