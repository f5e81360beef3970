#include "runtime/net/udp_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"

namespace tidepool {
namespace {

// inet_pton of `text` into `out`, or InvalidArgument naming `what`.
absl::Status ParseIp(int family, std::string_view text, void* out,
                     const char* what) {
  const std::string s(text);
  if (inet_pton(family, s.c_str(), out) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", s, "\" is not an IPv",
                     family == AF_INET ? "4" : "6", " address"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UdpSocket> UdpSocket::bind(const SocketAddress& addr) {
  auto socket = internal::Socket::OpenBound(
      addr.family(), SOCK_DGRAM, addr.sockaddr_ptr(), addr.sockaddr_len(),
      addr.ToString(), /*backlog=*/0);
  if (!socket.ok()) return socket.status();
  return UdpSocket(*std::move(socket), addr.family());
}

absl::Status UdpSocket::connect(const SocketAddress& peer) {
  return ConnectTo(peer.sockaddr_ptr(), peer.sockaddr_len(), peer.ToString());
}

UdpSocket::SendToAwaitable UdpSocket::send_to(std::string_view data,
                                              const SocketAddress& to) {
  return SendToAwaitable(socket(), data, to.sockaddr_ptr(), to.sockaddr_len());
}

UdpSocket::RecvFromAwaitable UdpSocket::recv_from(std::span<char> buf) {
  return RecvFromAwaitable(socket(), buf);
}

absl::StatusOr<UdpSocket::Received>
UdpSocket::RecvFromAwaitable::await_resume() noexcept {
  absl::StatusOr<size_t> n = internal::ByteCount(
      IoAwaitable::await_resume(), "recv_from", /*read_side=*/true);
  if (!n.ok()) return n.status();
  absl::StatusOr<SocketAddress> from =
      SocketAddress::FromSockaddr(address(), address_len());
  if (!from.ok()) return from.status();
  return Received{*n, *std::move(from), truncated()};
}

absl::StatusOr<SocketAddress> UdpSocket::local_address() const {
  return internal::SocketName(native_handle(), /*peer=*/false);
}

absl::StatusOr<SocketAddress> UdpSocket::peer_address() const {
  return internal::SocketName(native_handle(), /*peer=*/true);
}

absl::Status UdpSocket::set_broadcast(bool on) {
  return internal::SetIntOption(native_handle(), SOL_SOCKET, SO_BROADCAST,
                                on ? 1 : 0, "SO_BROADCAST");
}

absl::Status UdpSocket::set_ttl(int ttl) {
  if (family_ == AF_INET6) {
    return internal::SetIntOption(native_handle(), IPPROTO_IPV6,
                                  IPV6_UNICAST_HOPS, ttl, "IPV6_UNICAST_HOPS");
  }
  return internal::SetIntOption(native_handle(), IPPROTO_IP, IP_TTL, ttl,
                                "IP_TTL");
}

absl::Status UdpSocket::set_multicast_ttl(int ttl) {
  if (family_ == AF_INET6) {
    return internal::SetIntOption(native_handle(), IPPROTO_IPV6,
                                  IPV6_MULTICAST_HOPS, ttl,
                                  "IPV6_MULTICAST_HOPS");
  }
  return internal::SetIntOption(native_handle(), IPPROTO_IP, IP_MULTICAST_TTL,
                                ttl, "IP_MULTICAST_TTL");
}

absl::Status UdpSocket::set_multicast_loop(bool on) {
  if (family_ == AF_INET6) {
    return internal::SetIntOption(native_handle(), IPPROTO_IPV6,
                                  IPV6_MULTICAST_LOOP, on ? 1 : 0,
                                  "IPV6_MULTICAST_LOOP");
  }
  return internal::SetIntOption(native_handle(), IPPROTO_IP, IP_MULTICAST_LOOP,
                                on ? 1 : 0, "IP_MULTICAST_LOOP");
}

absl::Status UdpSocket::set_multicast_interface_v4(
    std::string_view interface_address) {
  in_addr ifaddr{};
  if (absl::Status s = ParseIp(AF_INET, interface_address, &ifaddr,
                               "set_multicast_interface_v4");
      !s.ok()) {
    return s;
  }
  if (setsockopt(native_handle(), IPPROTO_IP, IP_MULTICAST_IF, &ifaddr,
                 sizeof(ifaddr)) < 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(IP_MULTICAST_IF)");
  }
  return absl::OkStatus();
}

absl::Status UdpSocket::join_multicast_v4(std::string_view group,
                                          std::string_view interface_address) {
  return MembershipV4(group, interface_address, /*add=*/true);
}

absl::Status UdpSocket::leave_multicast_v4(std::string_view group,
                                           std::string_view interface_address) {
  return MembershipV4(group, interface_address, /*add=*/false);
}

absl::Status UdpSocket::join_multicast_v6(std::string_view group,
                                          unsigned interface_index) {
  return MembershipV6(group, interface_index, /*add=*/true);
}

absl::Status UdpSocket::leave_multicast_v6(std::string_view group,
                                           unsigned interface_index) {
  return MembershipV6(group, interface_index, /*add=*/false);
}

absl::Status UdpSocket::MembershipV4(std::string_view group,
                                     std::string_view interface_address,
                                     bool add) {
  const char* what = add ? "join_multicast_v4" : "leave_multicast_v4";
  ip_mreq mreq{};
  if (absl::Status s = ParseIp(AF_INET, group, &mreq.imr_multiaddr, what);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ParseIp(AF_INET, interface_address, &mreq.imr_interface, what);
      !s.ok()) {
    return s;
  }
  if (setsockopt(native_handle(), IPPROTO_IP,
                 add ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mreq,
                 sizeof(mreq)) < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat(what, " ", std::string(group)));
  }
  return absl::OkStatus();
}

absl::Status UdpSocket::MembershipV6(std::string_view group,
                                     unsigned interface_index, bool add) {
  const char* what = add ? "join_multicast_v6" : "leave_multicast_v6";
  ipv6_mreq mreq{};
  if (absl::Status s = ParseIp(AF_INET6, group, &mreq.ipv6mr_multiaddr, what);
      !s.ok()) {
    return s;
  }
  mreq.ipv6mr_interface = interface_index;
  if (setsockopt(native_handle(), IPPROTO_IPV6,
                 add ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mreq,
                 sizeof(mreq)) < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat(what, " ", std::string(group)));
  }
  return absl::OkStatus();
}

}  // namespace tidepool
