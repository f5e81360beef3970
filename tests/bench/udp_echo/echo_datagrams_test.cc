// EchoDatagrams over loopback, run once per I/O driver.
#include "bench/udp_echo/echo_datagrams.h"

#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"

namespace tidepool::udp_echo {
namespace {

using ::tidepool::testing::AbortAndWait;
using namespace std::chrono_literals;

class EchoDatagramsTest : public ::tidepool::testing::DriverTest {};

Task<void> Serve(UdpSocket socket) {
  (void)co_await EchoDatagrams(std::move(socket));
}

// Sends `data` from `from` to `to` and returns what comes back, with its
// sender, or the error.
Task<std::string> RoundTrip(UdpSocket& from, const SocketAddress& to,
                            std::string data) {
  if (!(co_await from.send_to(data, to)).ok()) co_return "send_to failed";
  std::string buf(kMaxDatagramBytes, '\0');
  auto got = co_await timeout(
      10s, from.recv_from(std::span<char>(buf.data(), buf.size())));
  if (!got.ok()) co_return got.status().ToString();
  if (!got->ok()) co_return got->status().ToString();
  if ((*got)->from.ToString() != to.ToString()) {
    co_return "from " + (*got)->from.ToString();
  }
  co_return buf.substr(0, (*got)->size);
}

TEST_P(EchoDatagramsTest, EchoesEachDatagramWholeToItsSender) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    const SocketAddress any = *SocketAddress::Parse("127.0.0.1:0");
    auto server = UdpSocket::bind(any);
    auto a = UdpSocket::bind(any);
    auto b = UdpSocket::bind(any);
    if (!server.ok() || !a.ok() || !b.ok()) co_return "bind";
    const SocketAddress to = *server->local_address();
    JoinHandle<void> echo = spawn(Serve(*std::move(server)));
    std::string out;
    // Each sender gets its own datagram back; the largest IPv4 datagram
    // comes back whole.
    const std::string big(65507, 'z');
    const std::string a_got = co_await RoundTrip(*a, to, "from a");
    const std::string b_got = co_await RoundTrip(*b, to, "from b");
    const std::string big_got = co_await RoundTrip(*a, to, big);
    co_await AbortAndWait(echo);
    co_return a_got + "|" + b_got + "|" +
        (big_got == big ? "big" : "big differs: " + big_got.substr(0, 80));
  };
  EXPECT_EQ(rt.block_on(root()), "from a|from b|big");
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(EchoDatagramsTest);

}  // namespace
}  // namespace tidepool::udp_echo
