#include "examples/tls_echo/openssl_error.h"

#include <openssl/err.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace tidepool::tls_echo {

absl::Status OpenSslError(absl::StatusCode code, const std::string& what) {
  std::string reasons;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(e);
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ",
                    reason != nullptr ? reason : absl::StrCat("error ", e));
  }
  if (reasons.empty()) reasons = "no error reported";
  return absl::Status(code, absl::StrCat(what, ": ", reasons));
}

}  // namespace tidepool::tls_echo
