#include "runtime/net/internal/unix_address.h"

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tidepool::internal {

absl::StatusOr<UnixAddress> UnixAddress::FromPath(std::string_view path) {
  const absl::string_view text(path.data(), path.size());
  if (path.empty() || path == "@") {
    return absl::InvalidArgumentError(
        "unix socket address is empty: expected a path or @name");
  }
  UnixAddress a;
  a.un.sun_family = AF_UNIX;
  const bool abstract = path.front() == '@';
  // sun_path holds a filesystem path and its terminating NUL, or a NUL
  // (in place of the '@') and the abstract name: 107 bytes of text either
  // way.
  const size_t name_len = path.size() - (abstract ? 1 : 0);
  if (name_len + 1 > sizeof(a.un.sun_path)) {
    return absl::ErrnoToStatus(
        ENAMETOOLONG,
        absl::StrCat("unix socket address \"", text, "\" is longer than ",
                     sizeof(a.un.sun_path) - 1, " bytes"));
  }
  std::memcpy(a.un.sun_path, path.data(), path.size());
  if (abstract) a.un.sun_path[0] = '\0';
  a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                 (abstract ? 0 : 1));
  return a;
}

std::string UnixPath(const sockaddr* addr, socklen_t len) {
  constexpr size_t kOffset = offsetof(sockaddr_un, sun_path);
  if (len <= kOffset || addr->sa_family != AF_UNIX) return "";
  const char* p = reinterpret_cast<const sockaddr_un*>(addr)->sun_path;
  const size_t n = len - kOffset;
  if (p[0] == '\0') return absl::StrCat("@", absl::string_view(p + 1, n - 1));
  return std::string(p, strnlen(p, n));
}

absl::StatusOr<std::string> UnixSocketPath(int fd, bool peer) {
  sockaddr_un un{};
  socklen_t len = sizeof(un);
  auto* sa = reinterpret_cast<sockaddr*>(&un);
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) < 0) {
    return absl::ErrnoToStatus(errno, peer ? "getpeername" : "getsockname");
  }
  return UnixPath(sa, len);
}

}  // namespace tidepool::internal
