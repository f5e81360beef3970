#ifndef TIDEPOOL_RUNTIME_NET_INTERNAL_UNIX_ADDRESS_H_
#define TIDEPOOL_RUNTIME_NET_INTERNAL_UNIX_ADDRESS_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tidepool::internal {

// A Unix-domain socket address from the text the public API takes: a
// filesystem path, or "@name" for the abstract namespace (Linux: no file,
// gone with the last socket bound to it; the '@' is not part of the name).
struct UnixAddress {
  // InvalidArgument for an empty path or name; ENAMETOOLONG
  // (InvalidArgument) for a path or abstract name over 107 bytes.
  static absl::StatusOr<UnixAddress> FromPath(std::string_view path);

  const sockaddr* ptr() const { return reinterpret_cast<const sockaddr*>(&un); }

  sockaddr_un un{};
  socklen_t len = 0;
};

// The text of a kernel-provided Unix address: the path, "@name" for an
// abstract one, "" for an unnamed socket (a client that did not bind).
std::string UnixPath(const sockaddr* addr, socklen_t len);

// UnixPath of getsockname (peer false) or getpeername of `fd`.
absl::StatusOr<std::string> UnixSocketPath(int fd, bool peer);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_NET_INTERNAL_UNIX_ADDRESS_H_
