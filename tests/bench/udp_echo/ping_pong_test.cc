// PingPong over loopback against EchoDatagrams and against scripted
// servers that lose, hold back or corrupt datagrams; run once per I/O
// driver. Every run is bounded by a timeout, so a client that waited
// forever for a lost datagram fails rather than hangs.
#include "bench/udp_echo/ping_pong.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/udp_echo/echo_datagrams.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"

namespace tidepool::udp_echo {
namespace {

using ::tidepool::testing::AbortAndWait;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class PingPongTest : public ::tidepool::testing::DriverTest {};

// What a scripted server does with the datagrams, by sequence number.
struct Script {
  // Not echoed at all.
  std::set<uint64_t> drop;
  // Not echoed when it comes, but just before the echo of the next one.
  uint64_t hold = 0;
  // Echoed with its last byte changed.
  uint64_t corrupt = 0;
};

Task<void> Scripted(UdpSocket socket, Script script) {
  char buf[kMaxDatagramBytes];
  std::string held;
  while (true) {
    auto got = co_await socket.recv_from(std::span<char>(buf));
    if (!got.ok()) co_return;
    std::string d(buf, got->size);
    uint64_t seq = 0;
    if (d.size() >= sizeof(seq)) std::memcpy(&seq, d.data(), sizeof(seq));
    if (script.drop.contains(seq)) continue;
    if (seq == script.hold) {
      held = d;
      continue;
    }
    if (seq == script.corrupt) d.back() ^= 1;
    if (!held.empty()) {
      (void)co_await socket.send_to(held, got->from);
      held.clear();
    }
    (void)co_await socket.send_to(d, got->from);
  }
}

Task<void> Echo(UdpSocket socket) {
  (void)co_await EchoDatagrams(std::move(socket));
}

enum class Server { kEchoDatagrams, kScripted, kNone };

// Runs PingPong for `run` (all of it measured unless `warmup_only`)
// against the server given, bounded by a 20 s timeout.
Task<absl::StatusOr<PingPongResult>> RunAgainst(
    Server kind, Script script, std::chrono::nanoseconds run,
    std::chrono::nanoseconds loss_timeout, size_t message_bytes = 64,
    bool warmup_only = false) {
  const SocketAddress any = *SocketAddress::Parse("127.0.0.1:0");
  auto server = UdpSocket::bind(any);
  auto client = UdpSocket::bind(any);
  if (!server.ok()) co_return server.status();
  if (!client.ok()) co_return client.status();
  const SocketAddress to = *server->local_address();
  if (absl::Status s = client->connect(to); !s.ok()) co_return s;
  JoinHandle<void> serving;
  if (kind == Server::kEchoDatagrams) {
    serving = spawn(Echo(*std::move(server)));
  } else if (kind == Server::kScripted) {
    serving = spawn(Scripted(*std::move(server), std::move(script)));
  } else {
    server->close();  // nothing listens on `to` any more
  }
  PingPongOptions o;
  o.message_bytes = message_bytes;
  o.loss_timeout = loss_timeout;
  o.deadline = Clock::now() + run;
  o.measure_from = warmup_only ? o.deadline : Clock::now();
  absl::StatusOr<PingPongResult> r =
      co_await timeout(20s, PingPong(*std::move(client), o));
  if (kind != Server::kNone) co_await AbortAndWait(serving);
  co_return r;
}

TEST_P(PingPongTest, AgainstTheEchoServerEveryRoundTripCounts) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<PingPongResult> r =
      rt.block_on(RunAgainst(Server::kEchoDatagrams, {}, 200ms, 5s));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->error, "");
  EXPECT_GT(r->rtt_ns.size(), 10u);
  EXPECT_EQ(r->lost, 0u);
  EXPECT_EQ(r->late, 0u);
  for (int64_t rtt : r->rtt_ns) ASSERT_GT(rtt, 0);
}

TEST_P(PingPongTest, LostDatagramsAreCountedAndTheLoopGoesOn) {
  Runtime rt = MakeRuntime();
  Script script;
  script.drop = {2, 5};
  absl::StatusOr<PingPongResult> r =
      rt.block_on(RunAgainst(Server::kScripted, script, 500ms, 100ms));
  ASSERT_TRUE(r.ok()) << r.status();  // a timeout here: it hung on a loss
  EXPECT_EQ(r->error, "");
  EXPECT_EQ(r->lost, 2u);
  EXPECT_EQ(r->late, 0u);
  // Round trips went on after the losses (1, 3, 4 and 6 at least).
  EXPECT_GE(r->rtt_ns.size(), 4u);
}

TEST_P(PingPongTest, ALateEchoIsDroppedNotTakenForTheNext) {
  Runtime rt = MakeRuntime();
  Script script;
  script.hold = 2;  // its echo comes just before that of 3
  absl::StatusOr<PingPongResult> r =
      rt.block_on(RunAgainst(Server::kScripted, script, 300ms, 50ms));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->error, "");
  EXPECT_EQ(r->lost, 1u);
  EXPECT_EQ(r->late, 1u);
  EXPECT_GE(r->rtt_ns.size(), 3u);
}

TEST_P(PingPongTest, AWrongEchoIsAnError) {
  Runtime rt = MakeRuntime();
  Script script;
  script.corrupt = 3;
  absl::StatusOr<PingPongResult> r =
      rt.block_on(RunAgainst(Server::kScripted, script, 10s, 5s));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->error, "the echo of datagram 3 differs from it (64 bytes)");
  EXPECT_EQ(r->rtt_ns.size(), 2u);
}

TEST_P(PingPongTest, NoServerEndsTheLoopWithAnError) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<PingPongResult> r =
      rt.block_on(RunAgainst(Server::kNone, {}, 10s, 5s));
  ASSERT_TRUE(r.ok()) << r.status();
  // The ICMP port-unreachable surfaces as ECONNREFUSED on the connected
  // socket, at once rather than at the loss timeout.
  EXPECT_NE(r->error.find("refused"), std::string::npos) << r->error;
  EXPECT_EQ(r->lost, 0u);
}

TEST_P(PingPongTest, WarmUpRoundTripsAndLossesAreNotCounted) {
  Runtime rt = MakeRuntime();
  Script script;
  script.drop = {2};
  absl::StatusOr<PingPongResult> r = rt.block_on(RunAgainst(
      Server::kScripted, script, 200ms, 50ms, 64, /*warmup_only=*/true));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->error, "");
  EXPECT_TRUE(r->rtt_ns.empty());
  EXPECT_EQ(r->lost, 0u);
}

TEST_P(PingPongTest, AMessageShorterThanTheSequenceNumberIsAnError) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<PingPongResult> r = rt.block_on(
      RunAgainst(Server::kEchoDatagrams, {}, 10s, 5s, kMinMessageBytes - 1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->error, "message_bytes must be at least 8, got 7");
  EXPECT_TRUE(r->rtt_ns.empty());
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(PingPongTest);

}  // namespace
}  // namespace tidepool::udp_echo
