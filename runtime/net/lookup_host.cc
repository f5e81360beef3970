#include "runtime/net/lookup_host.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/spawn.h"

namespace tidepool {
namespace {

// getaddrinfo(host, port) for stream sockets: one entry per address.
absl::StatusOr<std::vector<SocketAddress>> Resolve(const std::string& host,
                                                   const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int r = getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
  if (r != 0) {
    const std::string what = absl::StrCat("lookup_host: \"", host, "\"");
    switch (r) {
      case EAI_NONAME:
      case EAI_NODATA:
        return absl::NotFoundError(
            absl::StrCat(what, " does not resolve (", gai_strerror(r), ")"));
      case EAI_AGAIN:
        return absl::UnavailableError(
            absl::StrCat(what, ": ", gai_strerror(r)));
      case EAI_SYSTEM:
        return absl::ErrnoToStatus(errno, what);
      default:
        return absl::UnknownError(absl::StrCat(what, ": ", gai_strerror(r)));
    }
  }
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    auto a = SocketAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    if (a.ok()) out.push_back(*std::move(a));
  }
  freeaddrinfo(list);
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("lookup_host: \"", host,
                                            "\" has no IPv4 or IPv6 address"));
  }
  return out;
}

// RFC 6761 section 6.4: "invalid" and the names under it never resolve,
// and an application may say so without asking a resolver (which could
// otherwise keep the lookup waiting on an unreachable DNS server).
bool IsReservedInvalid(std::string_view host) {
  std::string name =
      absl::AsciiStrToLower(absl::string_view(host.data(), host.size()));
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name == "invalid" || absl::EndsWith(name, ".invalid");
}

}  // namespace

Task<absl::StatusOr<std::vector<SocketAddress>>> lookup_host(
    std::string host_port) {
  if (auto numeric = SocketAddress::Parse(host_port); numeric.ok()) {
    co_return std::vector<SocketAddress>{*std::move(numeric)};
  }
  const size_t colon = host_port.rfind(':');
  uint32_t port_number = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(host_port).substr(colon + 1),
                        &port_number) ||
      port_number > 65535) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("lookup_host: \"", host_port,
                     "\" is not host:port with a port of 0 to 65535"));
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (IsReservedInvalid(host)) {
    co_return absl::NotFoundError(absl::StrCat(
        "lookup_host: \"", host,
        "\" does not resolve (a name under .invalid never does, RFC 6761)"));
  }
  // The closure owns its strings: an aborted caller leaves it running.
  co_return co_await spawn_blocking(
      [host = std::move(host), port = std::to_string(port_number)] {
        return Resolve(host, port);
      });
}

}  // namespace tidepool
