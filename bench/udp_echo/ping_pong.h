#ifndef TIDEPOOL_BENCH_UDP_ECHO_PING_PONG_H_
#define TIDEPOOL_BENCH_UDP_ECHO_PING_PONG_H_

// One client socket of the UDP echo benchmark (bench/udp_echo): ping-pong
// round trips, each one datagram sent to the echo server and its echo
// awaited, until a deadline.
//
//   absl::StatusOr<tidepool::UdpSocket> s = tidepool::UdpSocket::bind(any);
//   if (!s.ok() || !s->connect(server).ok()) co_return ...;
//   tidepool::udp_echo::PingPongOptions o;
//   o.measure_from = std::chrono::steady_clock::now();
//   o.deadline = o.measure_from + std::chrono::seconds(3);
//   tidepool::udp_echo::PingPongResult r =
//       co_await tidepool::udp_echo::PingPong(*std::move(s), o);
//
// UDP may lose a datagram (on loopback: a full receive buffer), so a round
// trip waits at most `loss_timeout` for its echo, then counts the datagram
// lost and starts the next one: a loss costs time, never the run. Every
// datagram starts with its sequence number (8 bytes), so an echo that comes
// after its datagram was given up is told apart from the echo awaited: it
// is counted late and dropped. Anything else that is not the echo awaited
// (other bytes, another size) is an error and ends the loop, as does a
// failed send or receive (ECONNREFUSED when no server listens).
//
// Inside a tidepool task; the socket must be connected to the server. Cost
// per round trip: one send and one receive with a deadline (a timer entry
// inside the receive, nothing spawned), and a push onto the vector of
// round-trip times once measuring.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/runtime.h"

namespace tidepool::udp_echo {

// The sequence number at the front of every datagram.
inline constexpr size_t kMinMessageBytes = sizeof(uint64_t);

struct PingPongOptions {
  // Bytes per datagram, at least kMinMessageBytes (fewer is an error in the
  // result, before anything is sent).
  size_t message_bytes = 64;
  // Round trips that start before this are warm-up: not counted at all.
  std::chrono::steady_clock::time_point measure_from;
  // No round trip starts at or after this; one under way finishes (at most
  // loss_timeout later).
  std::chrono::steady_clock::time_point deadline;
  // How long a round trip waits for its echo before counting it lost.
  std::chrono::nanoseconds loss_timeout = std::chrono::milliseconds(100);
};

// Counts over the round trips started in [measure_from, deadline).
struct PingPongResult {
  // The time of each completed round trip, in nanoseconds.
  std::vector<int64_t> rtt_ns;
  // Datagrams whose echo did not come within loss_timeout.
  uint64_t lost = 0;
  // Echoes of datagrams already counted lost, dropped on arrival.
  uint64_t late = 0;
  // What ended the loop before the deadline; empty: nothing did.
  std::string error;
};

Task<PingPongResult> PingPong(UdpSocket socket, PingPongOptions options);

}  // namespace tidepool::udp_echo

#endif  // TIDEPOOL_BENCH_UDP_ECHO_PING_PONG_H_
