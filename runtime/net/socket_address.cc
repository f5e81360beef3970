#include "runtime/net/socket_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tidepool {

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view std_text) {
  // Debian's abseil has its own string_view type.
  const absl::string_view text(std_text.data(), std_text.size());
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", text, "\" is not valid (", why,
                     "): expected a.b.c.d:port or [v6]:port"));
  };
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  absl::string_view host = text.substr(0, colon);
  uint32_t port;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port > 65535) {
    return bad("port must be 0 to 65535");
  }
  SocketAddress a;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string h(host.substr(1, host.size() - 2));
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) != 1) {
      return bad("not an IPv6 address");
    }
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  const std::string h(host);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (inet_pton(AF_INET, h.c_str(), &in4->sin_addr) != 1) {
    return bad("not an IPv4 address");
  }
  in4->sin_family = AF_INET;
  in4->sin_port = htons(static_cast<uint16_t>(port));
  a.len_ = sizeof(sockaddr_in);
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::FromSockaddr(const sockaddr* addr,
                                                          socklen_t len) {
  const bool ok = (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) ||
                  (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6));
  if (!ok || len > sizeof(sockaddr_storage)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported socket address family ", addr->sa_family));
  }
  SocketAddress a;
  std::memcpy(&a.storage_, addr, len);
  a.len_ = len;
  return a;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

std::string SocketAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = "";
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6,
              &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
    return absl::StrCat("[", buf, "]:", port());
  }
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr,
            buf, sizeof(buf));
  return absl::StrCat(buf, ":", port());
}

}  // namespace tidepool
