#ifndef TIDEPOOL_BENCH_UDP_ECHO_ECHO_DATAGRAMS_H_
#define TIDEPOOL_BENCH_UDP_ECHO_ECHO_DATAGRAMS_H_

// The UDP echo benchmark's server loop (bench/udp_echo): one task receives
// each datagram with recv_from() and sends it back whole to its sender with
// send_to(), one at a time, as bench/peers/tokio_udp_echo does on tokio.
//
//   absl::StatusOr<tidepool::UdpSocket> s = tidepool::UdpSocket::bind(addr);
//   if (!s.ok()) co_return s.status();
//   co_return co_await tidepool::udp_echo::EchoDatagrams(*std::move(s));
//
// Runs until a receive fails and returns that error (or until the task is
// aborted). A send that fails drops that one echo, as a congested network
// would, and the loop goes on: the client counts it lost. Inside a tidepool
// task. Cost per datagram: one recv_from and one send_to, no allocation
// (the 64 KiB buffer is in the task's frame).

#include "absl/status/status.h"
#include "runtime/runtime.h"

namespace tidepool::udp_echo {

// The largest UDP payload over IPv4 fits, so no datagram is truncated.
inline constexpr size_t kMaxDatagramBytes = 65536;

Task<absl::Status> EchoDatagrams(UdpSocket socket);

}  // namespace tidepool::udp_echo

#endif  // TIDEPOOL_BENCH_UDP_ECHO_ECHO_DATAGRAMS_H_
