#include "bench/udp_echo/ping_pong.h"

#include <cstring>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tidepool::udp_echo {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t SequenceOf(const char* datagram) {
  uint64_t seq;
  std::memcpy(&seq, datagram, sizeof(seq));
  return seq;
}

}  // namespace

Task<PingPongResult> PingPong(UdpSocket socket, PingPongOptions options) {
  PingPongResult r;
  if (options.message_bytes < kMinMessageBytes) {
    r.error = absl::StrCat("message_bytes must be at least ", kMinMessageBytes,
                           ", got ", options.message_bytes);
    co_return r;
  }
  // Varied bytes after the sequence number, so that a server that mixed up
  // or dropped bytes is caught.
  std::string message(options.message_bytes, '\0');
  for (size_t i = kMinMessageBytes; i < message.size(); ++i) {
    message[i] = static_cast<char>('!' + (i * 31 + 7) % 90);
  }
  // One byte more than the message, so that a longer echo shows its size.
  std::string echo(message.size() + 1, '\0');
  const std::string_view body =
      std::string_view(message).substr(kMinMessageBytes);
  for (uint64_t seq = 1;; ++seq) {
    const Clock::time_point start = Clock::now();
    if (start >= options.deadline) break;
    const bool measured = start >= options.measure_from;
    std::memcpy(message.data(), &seq, sizeof(seq));
    absl::StatusOr<size_t> sent = co_await socket.send(message);
    if (!sent.ok()) {
      r.error = sent.status().ToString();
      break;
    }
    const Clock::time_point give_up = start + options.loss_timeout;
    bool answered = false;
    // Late echoes of earlier datagrams may come first; each is dropped and
    // the wait goes on until give_up.
    while (r.error.empty() && !answered) {
      const Clock::time_point now = Clock::now();
      if (now >= give_up) break;
      absl::StatusOr<absl::StatusOr<size_t>> got = co_await timeout(
          give_up - now,
          socket.recv(std::span<char>(echo.data(), echo.size())));
      if (!got.ok()) break;  // DeadlineExceeded: the datagram is lost
      if (!got->ok()) {
        r.error = got->status().ToString();
        break;
      }
      const std::string_view e(echo.data(), **got);
      if (e.size() == message.size() && e.substr(kMinMessageBytes) == body) {
        const uint64_t echoed = SequenceOf(e.data());
        if (echoed == seq) {
          answered = true;
          if (measured) r.rtt_ns.push_back((Clock::now() - start).count());
          continue;
        }
        if (echoed < seq) {
          if (measured) ++r.late;
          continue;
        }
      }
      r.error = absl::StrCat("the echo of datagram ", seq, " differs from it (",
                             e.size(), " bytes)");
    }
    if (!r.error.empty()) break;
    if (!answered && measured) ++r.lost;
  }
  co_return r;
}

}  // namespace tidepool::udp_echo
