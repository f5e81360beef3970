#ifndef TIDEPOOL_RUNTIME_NET_SOCKET_ADDRESS_H_
#define TIDEPOOL_RUNTIME_NET_SOCKET_ADDRESS_H_

// An IPv4 or IPv6 address and port, as the sockets API takes it.
//
//   auto addr = tidepool::SocketAddress::Parse("127.0.0.1:8080");
//   auto v6 = tidepool::SocketAddress::Parse("[::1]:0");  // any free port
//
// Numeric addresses only: name resolution blocks, so names go through
// lookup_host (net/lookup_host.h), which resolves on the blocking pool. A
// plain value, usable from any thread.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tidepool {

class SocketAddress {
 public:
  // "a.b.c.d:port" or "[v6]:port", port 0 to 65535. Anything else is an
  // InvalidArgument that quotes the text.
  static absl::StatusOr<SocketAddress> Parse(std::string_view text);
  // Copies a kernel-provided address (AF_INET or AF_INET6).
  static absl::StatusOr<SocketAddress> FromSockaddr(const sockaddr* addr,
                                                    socklen_t len);

  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  std::string ToString() const;

  const sockaddr* sockaddr_ptr() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t sockaddr_len() const { return len_; }

 private:
  SocketAddress() = default;
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_SOCKET_ADDRESS_H_
