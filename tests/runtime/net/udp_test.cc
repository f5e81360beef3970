// UdpSocket over loopback, run once per I/O driver.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using ::tidepool::testing::AbortAndWait;
using ::tidepool::testing::OpenFds;

using namespace std::chrono_literals;

class UdpTest : public ::tidepool::testing::DriverTest {};

SocketAddress Any(const char* text = "127.0.0.1:0") {
  return *SocketAddress::Parse(text);
}

TEST_P(UdpTest, SendToAndRecvFromReportTheSender) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto a = UdpSocket::bind(Any());
    auto b = UdpSocket::bind(Any());
    if (!a.ok() || !b.ok()) co_return "bind";
    absl::StatusOr<size_t> sent =
        co_await a->send_to("ping", *b->local_address());
    if (!sent.ok() || *sent != 4) co_return "send_to";
    char buf[64];
    absl::StatusOr<UdpSocket::Received> got = co_await b->recv_from(buf);
    if (!got.ok()) co_return got.status().ToString();
    if (got->from.ToString() != a->local_address()->ToString()) {
      co_return "from " + got->from.ToString();
    }
    if (got->truncated) co_return "truncated";
    // The reported sender is where a reply goes.
    if (!(co_await b->send_to("pong", got->from)).ok()) co_return "reply";
    absl::StatusOr<UdpSocket::Received> reply = co_await a->recv_from(buf);
    if (!reply.ok()) co_return reply.status().ToString();
    if (reply->from.ToString() != b->local_address()->ToString()) {
      co_return "reply from " + reply->from.ToString();
    }
    co_return std::string(buf, reply->size) + "/" + std::to_string(got->size);
  };
  EXPECT_EQ(rt.block_on(root()), "pong/4");
  EXPECT_EQ(rt.metrics().io_in_flight, 0u);
}

TEST_P(UdpTest, Ipv6SendToAndRecvFrom) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto a = UdpSocket::bind(Any("[::1]:0"));
    auto b = UdpSocket::bind(Any("[::1]:0"));
    if (!a.ok() || !b.ok()) co_return "bind: " + a.status().ToString();
    if (!(co_await a->send_to("six", *b->local_address())).ok()) {
      co_return "send_to";
    }
    char buf[16];
    auto got = co_await b->recv_from(buf);
    if (!got.ok()) co_return got.status().ToString();
    if (got->from.ToString() != a->local_address()->ToString()) {
      co_return "from " + got->from.ToString();
    }
    co_return std::string(buf, got->size);
  };
  EXPECT_EQ(rt.block_on(root()), "six");
}

TEST_P(UdpTest, ConnectedSendAndRecv) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto a = UdpSocket::bind(Any());
    auto b = UdpSocket::bind(Any());
    auto stranger = UdpSocket::bind(Any());
    if (!a.ok() || !b.ok() || !stranger.ok()) co_return "bind";
    if (!a->connect(*b->local_address()).ok()) co_return "connect a";
    if (!b->connect(*a->local_address()).ok()) co_return "connect b";
    if (a->peer_address()->ToString() != b->local_address()->ToString()) {
      co_return "peer_address";
    }
    // A connected socket takes datagrams from its peer only.
    (void)co_await stranger->send_to("noise", *b->local_address());
    if (!(co_await a->send("hello")).ok()) co_return "send";
    char buf[16];
    absl::StatusOr<size_t> n = co_await b->recv(buf);
    if (!n.ok()) co_return n.status().ToString();
    co_return std::string(buf, *n);
  };
  EXPECT_EQ(rt.block_on(root()), "hello");
}

TEST_P(UdpTest, PeerAddressBeforeConnectIsAnError) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<absl::Status> {
    auto a = UdpSocket::bind(Any());
    co_return a->peer_address().status();
  };
  absl::Status s = rt.block_on(root());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("getpeername"), absl::string_view::npos) << s;
}

TEST_P(UdpTest, ConnectedToAClosedPortRecvReportsRefused) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<absl::Status> {
    auto probe = UdpSocket::bind(Any());
    const SocketAddress gone = *probe->local_address();
    probe->close();
    auto a = UdpSocket::bind(Any());
    if (!a->connect(gone).ok()) co_return absl::InternalError("connect");
    if (!(co_await a->send("x")).ok()) co_return absl::InternalError("send");
    // The ICMP port-unreachable comes back as the socket's error.
    char buf[4];
    auto r = co_await timeout(10s, a->recv(buf));
    if (!r.ok()) co_return r.status();
    co_return r->status();
  };
  absl::Status s = rt.block_on(root());
  EXPECT_NE(s.message().find("refused"), absl::string_view::npos) << s;
}

TEST_P(UdpTest, OversizedDatagramIsEmsgsize) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<absl::Status> {
    auto a = UdpSocket::bind(Any());
    auto b = UdpSocket::bind(Any());
    const std::string huge(70000, 'x');  // over IPv4's 65,507-byte limit
    co_return (co_await a->send_to(huge, *b->local_address())).status();
  };
  absl::Status s = rt.block_on(root());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("send_to"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("Message too long"), absl::string_view::npos) << s;
}

TEST_P(UdpTest, AShortBufferTruncatesAndSaysSo) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto a = UdpSocket::bind(Any());
    auto b = UdpSocket::bind(Any());
    (void)co_await a->send_to("0123456789", *b->local_address());
    (void)co_await a->send_to("ab", *b->local_address());
    char small[4];
    auto first = co_await b->recv_from(small);
    if (!first.ok()) co_return first.status().ToString();
    std::string out = std::string(small, first->size) +
                      (first->truncated ? " truncated" : " whole");
    // The rest of the first datagram is gone; the next one is intact.
    auto second = co_await b->recv_from(small);
    if (!second.ok()) co_return second.status().ToString();
    out += ", " + std::string(small, second->size) +
           (second->truncated ? " truncated" : " whole");
    co_return out;
  };
  EXPECT_EQ(rt.block_on(root()), "0123 truncated, ab whole");
}

TEST_P(UdpTest, RecvFromTimesOutAndTheSocketStaysUsable) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto a = UdpSocket::bind(Any());
    auto b = UdpSocket::bind(Any());
    char buf[16];
    auto late = co_await timeout(20ms, b->recv_from(buf));
    if (late.ok() ||
        late.status().code() != absl::StatusCode::kDeadlineExceeded) {
      co_return "expected a deadline";
    }
    (void)co_await a->send_to("after", *b->local_address());
    auto got = co_await b->recv_from(buf);
    if (!got.ok()) co_return got.status().ToString();
    co_return std::string(buf, got->size);
  };
  EXPECT_EQ(rt.block_on(root()), "after");
  EXPECT_EQ(rt.metrics().io_in_flight, 0u);
}

TEST_P(UdpTest, TwoReceivesAtOnceAreRefused) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<absl::Status> {
    auto a = UdpSocket::bind(Any());
    auto b = UdpSocket::bind(Any());
    auto first = [](UdpSocket* s) -> Task<absl::StatusOr<size_t>> {
      char buf[8];
      auto r = co_await s->recv_from(buf);
      if (!r.ok()) co_return r.status();
      co_return r->size;
    };
    JoinHandle<absl::StatusOr<size_t>> h = spawn(first(&*b));
    co_await sleep(10ms);
    char buf[8];
    absl::StatusOr<size_t> second = co_await b->recv(buf);
    (void)co_await a->send_to("x", *b->local_address());
    absl::StatusOr<size_t> got = co_await h;
    if (!got.ok() || *got != 1) co_return absl::InternalError("first recv");
    co_return second.status();
  };
  absl::Status s = rt.block_on(root());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("busy"), absl::string_view::npos) << s;
}

TEST_P(UdpTest, AbortMidRecvFromLeaksNothing) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    const size_t fds_with_runtime = OpenFds();
    auto receiver =
        [](UdpSocket s,
           std::shared_ptr<std::atomic<int>> waiting) -> Task<void> {
      // On the heap, so ASan sees a use after the abort frees it.
      auto buf = std::make_unique<char[]>(256);
      waiting->fetch_add(1);
      (void)co_await s.recv_from(std::span<char>(buf.get(), 256));
    };
    auto root = [&]() -> Task<bool> {
      std::vector<JoinHandle<void>> receivers;
      std::vector<SocketAddress> addrs;
      auto waiting = std::make_shared<std::atomic<int>>(0);
      for (int i = 0; i < 8; ++i) {
        auto s = UdpSocket::bind(Any());
        if (!s.ok()) co_return false;
        addrs.push_back(*s->local_address());
        receivers.push_back(spawn(receiver(*std::move(s), waiting)));
      }
      while (waiting->load() < 8) co_await sleep(1ms);
      co_await sleep(10ms);  // let the receives reach the driver
      for (auto& h : receivers) co_await AbortAndWait(h);
      // Datagrams to the closed sockets land nowhere.
      auto sender = UdpSocket::bind(Any());
      for (const SocketAddress& a : addrs)
        (void)co_await sender->send_to("late", a);
      co_return true;
    };
    EXPECT_TRUE(rt.block_on(root()));
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
    EXPECT_EQ(OpenFds(), fds_with_runtime);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_P(UdpTest, OperationsOnAClosedSocketFailWithEbadf) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    UdpSocket never;
    char buf[4];
    auto r = co_await never.recv_from(buf);
    auto s = UdpSocket::bind(Any());
    const SocketAddress self = *s->local_address();
    s->close();
    auto w = co_await s->send_to("x", self);
    co_return r.status().ToString() + " | " + w.status().ToString();
  };
  const std::string got = rt.block_on(root());
  EXPECT_EQ(got.find("FAILED_PRECONDITION: recv_from: Bad file descriptor"), 0u)
      << got;
  EXPECT_NE(got.find("send_to: Bad file descriptor"), std::string::npos) << got;
}

TEST_P(UdpTest, BroadcastNeedsSetBroadcast) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto receiver = UdpSocket::bind(Any("0.0.0.0:0"));
    auto sender = UdpSocket::bind(Any());
    const SocketAddress broadcast = *SocketAddress::Parse(
        "127.255.255.255:" + std::to_string(receiver->local_address()->port()));
    auto refused = co_await sender->send_to("b", broadcast);
    if (refused.ok()) co_return "broadcast sent without SO_BROADCAST";
    if (refused.status().code() != absl::StatusCode::kPermissionDenied) {
      co_return refused.status().ToString();
    }
    if (!sender->set_broadcast(true).ok()) co_return "set_broadcast";
    auto sent = co_await sender->send_to("b", broadcast);
    if (!sent.ok()) co_return sent.status().ToString();
    char buf[4];
    auto got = co_await timeout(10s, receiver->recv_from(buf));
    if (!got.ok() || !got->ok()) co_return "not received";
    co_return std::string(buf, (*got)->size);
  };
  EXPECT_EQ(rt.block_on(root()), "b");
}

TEST_P(UdpTest, MulticastV4JoinReceiveAndLeave) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto receiver = UdpSocket::bind(Any("0.0.0.0:0"));
    auto sender = UdpSocket::bind(Any());
    const std::string group = "239.255.42.99";
    if (auto s = receiver->join_multicast_v4(group, "127.0.0.1"); !s.ok()) {
      co_return s.ToString();
    }
    if (!sender->set_multicast_interface_v4("127.0.0.1").ok() ||
        !sender->set_multicast_loop(true).ok() ||
        !sender->set_multicast_ttl(1).ok()) {
      co_return "options";
    }
    const SocketAddress to = *SocketAddress::Parse(
        group + ":" + std::to_string(receiver->local_address()->port()));
    if (auto s = co_await sender->send_to("mc", to); !s.ok()) {
      co_return s.status().ToString();
    }
    char buf[4];
    auto got = co_await timeout(10s, receiver->recv_from(buf));
    if (!got.ok() || !got->ok()) co_return "not received";
    if (auto s = receiver->leave_multicast_v4(group, "127.0.0.1"); !s.ok()) {
      co_return s.ToString();
    }
    // Not a member any more.
    absl::Status again = receiver->leave_multicast_v4(group, "127.0.0.1");
    if (again.ok()) co_return "left twice";
    co_return std::string(buf, (*got)->size);
  };
  EXPECT_EQ(rt.block_on(root()), "mc");
}

TEST_P(UdpTest, MulticastV6JoinAndLeave) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto s = UdpSocket::bind(Any("[::]:0"));
    if (!s.ok()) co_return s.status().ToString();
    const unsigned lo = if_nametoindex("lo");
    if (auto st = s->join_multicast_v6("ff02::4242", lo); !st.ok()) {
      co_return st.ToString();
    }
    if (auto st = s->leave_multicast_v6("ff02::4242", lo); !st.ok()) {
      co_return st.ToString();
    }
    if (s->leave_multicast_v6("ff02::4242", lo).ok()) co_return "left twice";
    if (!s->set_multicast_loop(false).ok() || !s->set_multicast_ttl(3).ok() ||
        !s->set_ttl(9).ok()) {
      co_return "options";
    }
    int hops = 0;
    socklen_t len = sizeof(hops);
    getsockopt(s->native_handle(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops,
               &len);
    co_return "hops " + std::to_string(hops);
  };
  EXPECT_EQ(rt.block_on(root()), "hops 9");
}

TEST_P(UdpTest, OptionsReachTheSocket) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto s = UdpSocket::bind(Any());
    if (!s->set_ttl(17).ok() || !s->set_multicast_ttl(4).ok() ||
        !s->set_multicast_loop(false).ok() || !s->set_broadcast(true).ok()) {
      co_return "set";
    }
    auto get = [&](int level, int option) {
      int v = -1;
      socklen_t len = sizeof(v);
      getsockopt(s->native_handle(), level, option, &v, &len);
      return std::to_string(v);
    };
    co_return get(IPPROTO_IP, IP_TTL) + " " +
        get(IPPROTO_IP, IP_MULTICAST_TTL) + " " +
        get(IPPROTO_IP, IP_MULTICAST_LOOP) + " " +
        get(SOL_SOCKET, SO_BROADCAST);
  };
  EXPECT_EQ(rt.block_on(root()), "17 4 0 1");
}

TEST_P(UdpTest, BadMulticastAddressesAreInvalidArguments) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto s = UdpSocket::bind(Any());
    absl::Status a = s->join_multicast_v4("not-an-ip");
    absl::Status b = s->join_multicast_v4("239.1.1.1", "eth0");
    absl::Status c = s->join_multicast_v6("224.0.0.1");
    co_return std::string(absl::StatusCodeToString(a.code())) + " " +
        std::string(absl::StatusCodeToString(b.code())) + " " +
        std::string(absl::StatusCodeToString(c.code()));
  };
  EXPECT_EQ(rt.block_on(root()),
            "INVALID_ARGUMENT INVALID_ARGUMENT INVALID_ARGUMENT");
}

TEST_P(UdpTest, ManyDatagramsBothWays) {
  Runtime rt = MakeRuntime();
  constexpr int kCount = 200;
  auto root = []() -> Task<std::string> {
    auto server = UdpSocket::bind(Any());
    auto client = UdpSocket::bind(Any());
    // Echoes kCount datagrams back to their senders.
    auto echo = [](UdpSocket* s) -> Task<absl::Status> {
      char buf[64];
      for (int i = 0; i < kCount; ++i) {
        auto got = co_await s->recv_from(buf);
        if (!got.ok()) co_return got.status();
        auto sent =
            co_await s->send_to(std::string_view(buf, got->size), got->from);
        if (!sent.ok()) co_return sent.status();
      }
      co_return absl::OkStatus();
    };
    JoinHandle<absl::Status> e = spawn(echo(&*server));
    const SocketAddress to = *server->local_address();
    for (int i = 0; i < kCount; ++i) {
      const std::string msg = "n" + std::to_string(i);
      // One at a time: UDP may drop what a full receive queue cannot hold.
      if (!(co_await client->send_to(msg, to)).ok()) co_return "send";
      char buf[64];
      auto got = co_await client->recv_from(buf);
      if (!got.ok()) co_return got.status().ToString();
      if (std::string(buf, got->size) != msg) co_return "mismatch";
    }
    absl::Status st = co_await e;
    co_return st.ok() ? "ok" : st.ToString();
  };
  EXPECT_EQ(rt.block_on(root()), "ok");
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(UdpTest);

TEST(UdpSocketOutsideARuntime, BindFails) {
  auto s = UdpSocket::bind(Any());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tidepool
