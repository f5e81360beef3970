#include "bench/udp_echo/echo_datagrams.h"

#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace tidepool::udp_echo {

Task<absl::Status> EchoDatagrams(UdpSocket socket) {
  char buf[kMaxDatagramBytes];
  while (true) {
    absl::StatusOr<UdpSocket::Received> got =
        co_await socket.recv_from(std::span<char>(buf));
    if (!got.ok()) co_return got.status();
    // The echo is best effort, as UDP is: a failed send loses one datagram.
    (void)co_await socket.send_to(std::string_view(buf, got->size), got->from);
  }
}

}  // namespace tidepool::udp_echo
