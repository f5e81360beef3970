// lookup_host and TcpStream::connect by name, run once per I/O driver.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"

namespace tidepool {
namespace {

class LookupHostTest : public ::tidepool::testing::DriverTest {};

// Under the TLD that RFC 2606 reserves so that it never resolves.
constexpr char kNoSuchHost[] = "tidepool-no-such-host.invalid";

std::string Join(const std::vector<SocketAddress>& addrs) {
  std::string out;
  for (const SocketAddress& a : addrs)
    out += (out.empty() ? "" : " ") + a.ToString();
  return out;
}

TEST_P(LookupHostTest, LocalhostResolvesOnTheBlockingPool) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<absl::StatusOr<std::vector<SocketAddress>>> {
    co_return co_await lookup_host("localhost:80");
  };
  absl::StatusOr<std::vector<SocketAddress>> addrs = rt.block_on(root());
  ASSERT_TRUE(addrs.ok()) << addrs.status();
  ASSERT_FALSE(addrs->empty());
  const std::string all = Join(*addrs);
  for (const SocketAddress& a : *addrs) EXPECT_EQ(a.port(), 80) << all;
  EXPECT_TRUE(all.find("127.0.0.1:80") != std::string::npos ||
              all.find("[::1]:80") != std::string::npos)
      << all;
  // getaddrinfo ran on a pool thread, not on a worker.
  EXPECT_GE(rt.metrics().blocking.threads_spawned, 1u);
}

TEST_P(LookupHostTest, NumericAddressesNeedNoResolver) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto v4 = co_await lookup_host("10.1.2.3:8080");
    auto v6 = co_await lookup_host("[fe80::1]:9");
    if (!v4.ok() || !v6.ok()) co_return "failed";
    co_return Join(*v4) + " " + Join(*v6);
  };
  EXPECT_EQ(rt.block_on(root()), "10.1.2.3:8080 [fe80::1]:9");
  EXPECT_EQ(rt.metrics().blocking.threads_spawned, 0u);
}

TEST_P(LookupHostTest, ANameThatDoesNotResolveIsNotFound) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    absl::Status s =
        (co_await lookup_host(std::string(kNoSuchHost) + ":80")).status();
    // Any spelling of the reserved TLD.
    absl::Status upper =
        (co_await lookup_host("Tidepool.INVALID.:80")).status();
    absl::Status bare = (co_await lookup_host("invalid:80")).status();
    co_return s.ToString() + " | " +
        std::string(absl::StatusCodeToString(upper.code())) + " " +
        std::string(absl::StatusCodeToString(bare.code()));
  };
  const std::string got = rt.block_on(root());
  EXPECT_EQ(got.find("NOT_FOUND: lookup_host: \"" + std::string(kNoSuchHost) +
                     "\" does not resolve"),
            0u)
      << got;
  EXPECT_NE(got.find("| NOT_FOUND NOT_FOUND"), std::string::npos) << got;
  // Known not to resolve without asking a resolver (RFC 6761): no pool
  // thread, no DNS timeout.
  EXPECT_EQ(rt.metrics().blocking.threads_spawned, 0u);
}

TEST_P(LookupHostTest, TextWithoutAValidPortIsInvalidArgument) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    std::string out;
    for (const char* text : {"localhost", "localhost:", "localhost:65536",
                             ":80", "localhost:http"}) {
      absl::Status s = (co_await lookup_host(text)).status();
      out += std::string(absl::StatusCodeToString(s.code())) + " ";
    }
    co_return out;
  };
  EXPECT_EQ(rt.block_on(root()),
            "INVALID_ARGUMENT INVALID_ARGUMENT INVALID_ARGUMENT "
            "INVALID_ARGUMENT INVALID_ARGUMENT ");
}

TEST_P(LookupHostTest, TcpConnectTakesAHostName) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto listener = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    const std::string port = std::to_string(listener->local_address()->port());
    // localhost may name [::1] first, where nobody listens: connect goes on
    // to the next address.
    absl::StatusOr<TcpStream> c =
        co_await TcpStream::connect("localhost:" + port);
    if (!c.ok()) co_return c.status().ToString();
    auto s = co_await listener->accept();
    if (!s.ok()) co_return "accept";
    if (!(co_await c->write_all("by name")).ok()) co_return "write";
    char buf[16];
    auto n = co_await s->read(buf);
    if (!n.ok()) co_return "read";
    co_return std::string(buf, *n);
  };
  EXPECT_EQ(rt.block_on(root()), "by name");
}

TEST_P(LookupHostTest, TcpConnectByNameReportsWhatFailed) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto unknown =
        co_await TcpStream::connect(std::string(kNoSuchHost) + ":80");
    auto probe = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    const std::string port = std::to_string(probe->local_address()->port());
    probe->close();
    auto refused = co_await TcpStream::connect("localhost:" + port);
    co_return std::string(absl::StatusCodeToString(unknown.status().code())) +
        " | " + refused.status().ToString();
  };
  const std::string got = rt.block_on(root());
  EXPECT_EQ(got.find("NOT_FOUND | "), 0u) << got;
  EXPECT_NE(got.find("localhost:"), std::string::npos) << got;
  EXPECT_NE(got.find("tried); last: connect to"), std::string::npos) << got;
  EXPECT_NE(got.find("refused"), std::string::npos) << got;
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(LookupHostTest);

}  // namespace
}  // namespace tidepool
