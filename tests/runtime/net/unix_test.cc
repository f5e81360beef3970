// UnixListener, UnixStream and UnixDatagram, run once per I/O driver.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using ::tidepool::testing::AbortAndWait;
using ::tidepool::testing::OpenFds;
using ::tidepool::testing::TempSocketPath;
using ::tidepool::testing::UniqueName;

using namespace std::chrono_literals;

class UnixTest : public ::tidepool::testing::DriverTest {};

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// Connects to `path`, writes `message`, closes.
Task<absl::Status> Client(std::string path, std::string message) {
  absl::StatusOr<UnixStream> s = co_await UnixStream::connect(path);
  if (!s.ok()) co_return s.status();
  co_return co_await s->write_all(message);
}

Task<absl::StatusOr<std::string>> ReadToEnd(UnixStream& s) {
  std::string out;
  char buf[4096];
  while (true) {
    absl::StatusOr<size_t> n = co_await s.read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return out;
    out.append(buf, *n);
  }
}

// Binds `address`, has a client send a message, and returns what the
// accepted stream read, with the addresses each side sees.
Task<std::string> RoundTrip(std::string address) {
  absl::StatusOr<UnixListener> listener = UnixListener::bind(address);
  if (!listener.ok()) co_return listener.status().ToString();
  if (*listener->local_path() != address) {
    co_return "local_path " + *listener->local_path();
  }
  JoinHandle<absl::Status> client = spawn(Client(address, "hello\nworld\n"));
  absl::StatusOr<UnixStream> conn = co_await listener->accept();
  if (!conn.ok()) co_return conn.status().ToString();
  if (*conn->local_path() != address) co_return "accepted local_path";
  if (*conn->peer_path() != "") co_return "client is not unnamed";
  absl::StatusOr<std::string> got = co_await ReadToEnd(*conn);
  if (absl::Status st = co_await client; !st.ok()) co_return st.ToString();
  if (!got.ok()) co_return got.status().ToString();
  co_return *got;
}

TEST_P(UnixTest, ListenConnectAcceptOnAPath) {
  Runtime rt = MakeRuntime();
  const std::string path = TempSocketPath("unix-path");
  EXPECT_EQ(rt.block_on(RoundTrip(path)), "hello\nworld\n");
  EXPECT_TRUE(Exists(path));  // bind made the file, close left it
  unlink(path.c_str());
  EXPECT_EQ(rt.metrics().io_in_flight, 0u);
}

TEST_P(UnixTest, AbstractNamespaceHasNoFile) {
  Runtime rt = MakeRuntime();
  const std::string name = UniqueName("tidepool-abstract");
  EXPECT_EQ(rt.block_on(RoundTrip("@" + name)), "hello\nworld\n");
  EXPECT_FALSE(Exists(name));
  EXPECT_FALSE(Exists("@" + name));
}

TEST_P(UnixTest, ConnectWithNoListenerIsRefused) {
  Runtime rt = MakeRuntime();
  const std::string path = TempSocketPath("unix-refused");
  auto root = [&]() -> Task<std::string> {
    // A socket file whose listener is gone.
    auto listener = UnixListener::bind(path);
    if (!listener.ok()) co_return "bind";
    listener->close();
    auto stale = co_await UnixStream::connect(path);
    auto abstract =
        co_await UnixStream::connect("@" + UniqueName("tidepool-nobody"));
    auto missing = co_await UnixStream::connect(path + ".missing");
    co_return std::string(stale.status().message()) + " | " +
        std::string(abstract.status().message()) + " | " +
        std::string(absl::StatusCodeToString(missing.status().code()));
  };
  const std::string got = rt.block_on(root());
  unlink(path.c_str());
  EXPECT_EQ(got.find("connect to " + path + ": Connection refused"), 0u) << got;
  EXPECT_NE(got.find("| connect to @tidepool-nobody"), std::string::npos)
      << got;
  EXPECT_NE(got.find("Connection refused |"), std::string::npos) << got;
  EXPECT_NE(got.find("| NOT_FOUND"), std::string::npos) << got;
}

// With the listener's backlog full, a non-blocking connect(2) on a Unix
// socket fails with EAGAIN (not EINPROGRESS): no connection was started.
// connect() must then wait for room, as a blocking connect(2) does, and
// not report a connection that does not exist (epoll took the unconnected
// socket's writability for success).
TEST_P(UnixTest, ConnectToAFullBacklogWaitsForAnAccept) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    const std::string path = TempSocketPath("unix-backlog");
    auto root = [&]() -> Task<std::string> {
      // Backlog 0: the kernel queues one connection; the next one waits.
      auto listener = UnixListener::bind(path, /*backlog=*/0);
      if (!listener.ok()) co_return listener.status().ToString();
      auto first = co_await UnixStream::connect(path);
      if (!first.ok()) co_return "first: " + first.status().ToString();
      // Waiting for room can be given up like any other wait.
      auto timed = co_await timeout(30ms, UnixStream::connect(path));
      const absl::Status given_up =
          timed.ok() ? timed->status() : timed.status();
      if (!absl::IsDeadlineExceeded(given_up)) {
        co_return "given up: " + given_up.ToString();
      }
      JoinHandle<absl::Status> second = spawn(Client(path, "second"));
      co_await sleep(50ms);
      if (second.is_finished()) {
        co_return "second client done with the backlog full: " +
            (co_await second).ToString();
      }
      // Accepting the first makes room for the second.
      auto a = co_await listener->accept();
      if (!a.ok()) co_return "accept: " + a.status().ToString();
      auto b = co_await listener->accept();
      if (!b.ok()) co_return "accept: " + b.status().ToString();
      absl::Status sent = co_await second;
      absl::StatusOr<std::string> got = co_await ReadToEnd(*b);
      co_return sent.ToString() + " | " +
          (got.ok() ? *got : got.status().ToString());
    };
    EXPECT_EQ(rt.block_on(root()), "OK | second");
    unlink(path.c_str());
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_P(UnixTest, PeerCredentialsAreThisProcess) {
  Runtime rt = MakeRuntime();
  const std::string name = "@" + UniqueName("tidepool-cred");
  auto root = [&]() -> Task<std::string> {
    auto listener = UnixListener::bind(name);
    if (!listener.ok()) co_return "bind";
    auto client = co_await UnixStream::connect(name);
    auto server = co_await listener->accept();
    if (!client.ok() || !server.ok()) co_return "connect";
    auto mine = client->peer_credentials();
    auto theirs = server->peer_credentials();
    if (!mine.ok() || !theirs.ok()) co_return "SO_PEERCRED";
    for (const UnixStream::Credentials& c : {*mine, *theirs}) {
      if (c.pid != getpid() || c.uid != getuid() || c.gid != getgid()) {
        co_return "pid " + std::to_string(c.pid) + " uid " +
            std::to_string(c.uid) + " gid " + std::to_string(c.gid);
      }
    }
    co_return "ok";
  };
  EXPECT_EQ(rt.block_on(root()), "ok");
}

TEST_P(UnixTest, BindingAnExistingPathIsAddressInUse) {
  Runtime rt = MakeRuntime();
  const std::string path = TempSocketPath("unix-inuse");
  auto root = [&]() -> Task<absl::Status> {
    auto first = UnixListener::bind(path);
    if (!first.ok()) co_return first.status();
    co_return UnixListener::bind(path).status();
  };
  absl::Status s = rt.block_on(root());
  unlink(path.c_str());
  EXPECT_NE(s.message().find("bind " + path), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("in use"), absl::string_view::npos) << s;
}

TEST_P(UnixTest, BadAddressesAreInvalidArguments) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    const std::string too_long = "/tmp/" + std::string(120, 'x');
    auto a = UnixListener::bind(too_long);
    auto b = co_await UnixStream::connect("");
    auto c = UnixDatagram::bind("@");
    std::string longest = UniqueName("tidepool-longest");
    longest.resize(107, 'y');
    auto d = UnixListener::bind("@" + longest);  // just fits
    co_return std::string(absl::StatusCodeToString(a.status().code())) + " " +
        std::string(absl::StatusCodeToString(b.status().code())) + " " +
        std::string(absl::StatusCodeToString(c.status().code())) + " " +
        (d.ok() ? "fits" : d.status().ToString());
  };
  EXPECT_EQ(rt.block_on(root()),
            "INVALID_ARGUMENT INVALID_ARGUMENT INVALID_ARGUMENT fits");
}

TEST_P(UnixTest, StreamPairTalksBothWays) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto pair = UnixStream::pair();
    if (!pair.ok()) co_return pair.status().ToString();
    auto& [a, b] = *pair;
    if (!(co_await a.write_all("to b")).ok()) co_return "write a";
    if (!(co_await b.write_all("to a")).ok()) co_return "write b";
    (void)a.shutdown();
    (void)b.shutdown();
    auto at_b = co_await ReadToEnd(b);
    auto at_a = co_await ReadToEnd(a);
    if (!at_a.ok() || !at_b.ok()) co_return "read";
    co_return *at_a + "/" + *at_b + "/" + *a.local_path();
  };
  EXPECT_EQ(rt.block_on(root()), "to a/to b/");
}

TEST_P(UnixTest, AbortMidReadLeaksNothing) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    const size_t fds_with_runtime = OpenFds();
    auto reader = [](UnixStream s,
                     std::shared_ptr<std::atomic<int>> waiting) -> Task<void> {
      auto buf = std::make_unique<char[]>(64);
      waiting->fetch_add(1);
      (void)co_await s.read(std::span<char>(buf.get(), 64));
    };
    auto root = [&]() -> Task<bool> {
      std::vector<UnixStream> quiet_peers;
      std::vector<JoinHandle<void>> readers;
      auto waiting = std::make_shared<std::atomic<int>>(0);
      for (int i = 0; i < 8; ++i) {
        auto pair = UnixStream::pair();
        if (!pair.ok()) co_return false;
        quiet_peers.push_back(std::move(pair->first));
        readers.push_back(spawn(reader(std::move(pair->second), waiting)));
      }
      while (waiting->load() < 8) co_await sleep(1ms);
      co_await sleep(10ms);  // let the reads reach the driver
      for (auto& h : readers) co_await AbortAndWait(h);
      co_return true;
    };
    EXPECT_TRUE(rt.block_on(root()));
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
    EXPECT_EQ(OpenFds(), fds_with_runtime);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_P(UnixTest, TwoReadsAtOnceAreRefusedAndClosedStreamsFail) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto pair = UnixStream::pair();
    auto first = [](UnixStream* s) -> Task<absl::StatusOr<size_t>> {
      char buf[8];
      co_return co_await s->read(buf);
    };
    JoinHandle<absl::StatusOr<size_t>> h = spawn(first(&pair->second));
    co_await sleep(10ms);
    char buf[8];
    absl::StatusOr<size_t> second = co_await pair->second.read(buf);
    (void)co_await pair->first.write_all("x");
    absl::StatusOr<size_t> got = co_await h;
    if (!got.ok() || *got != 1) co_return "first read";
    pair->second.close();
    absl::StatusOr<size_t> closed = co_await pair->second.read(buf);
    co_return std::string(absl::StatusCodeToString(second.status().code())) +
        " " + std::string(closed.status().message());
  };
  EXPECT_EQ(rt.block_on(root()),
            "FAILED_PRECONDITION read: Bad file descriptor");
}

TEST_P(UnixTest, DatagramsCarryTheSenderPath) {
  Runtime rt = MakeRuntime();
  const std::string server_path = TempSocketPath("unix-dgram-server");
  const std::string client_name = "@" + UniqueName("tidepool-dgram-client");
  auto root = [&]() -> Task<std::string> {
    auto server = UnixDatagram::bind(server_path);
    auto named = UnixDatagram::bind(client_name);
    auto unnamed = UnixDatagram::unbound();
    if (!server.ok() || !named.ok() || !unnamed.ok()) co_return "bind";
    if (!(co_await named->send_to("from named", server_path)).ok()) {
      co_return "send named";
    }
    if (!(co_await unnamed->send_to("from unnamed", server_path)).ok()) {
      co_return "send unnamed";
    }
    char buf[64];
    auto first = co_await server->recv_from(buf);
    if (!first.ok()) co_return first.status().ToString();
    std::string out = std::string(buf, first->size) + " <" + first->from + ">";
    auto second = co_await server->recv_from(buf);
    if (!second.ok()) co_return second.status().ToString();
    out += ", " + std::string(buf, second->size) + " <" + second->from + ">";
    // A named sender can be answered.
    if (!(co_await server->send_to("reply", first->from)).ok()) {
      co_return "reply";
    }
    auto reply = co_await named->recv_from(buf);
    if (!reply.ok() || reply->from != server_path) co_return "reply from";
    co_return out + ", " + std::string(buf, reply->size);
  };
  const std::string got = rt.block_on(root());
  unlink(server_path.c_str());
  EXPECT_EQ(got, "from named <" + client_name + ">, from unnamed <>, reply");
}

TEST_P(UnixTest, DatagramConnectPairAndErrors) {
  Runtime rt = MakeRuntime();
  const std::string path = TempSocketPath("unix-dgram-gone");
  auto root = [&]() -> Task<std::string> {
    auto pair = UnixDatagram::pair();
    if (!pair.ok()) co_return pair.status().ToString();
    if (!(co_await pair->first.send("p")).ok()) co_return "pair send";
    char buf[8];
    auto n = co_await pair->second.recv(buf);
    if (!n.ok() || *n != 1) co_return "pair recv";

    const std::string server_name = "@" + UniqueName("tidepool-dgram");
    auto server = UnixDatagram::bind(server_name);
    auto client = UnixDatagram::unbound();
    if (!client->connect(server_name).ok()) co_return "connect";
    if (*client->peer_path() != server_name) co_return "peer_path";
    if (!(co_await client->send("c")).ok()) co_return "send";
    n = co_await server->recv(buf);
    if (!n.ok() || *n != 1) co_return "recv";

    auto gone = UnixDatagram::bind(path);
    gone->close();
    auto refused = co_await client->send_to("x", path);
    auto missing = co_await client->send_to("x", path + ".missing");
    auto bad = co_await client->send_to("x", "");
    auto big = co_await client->send_to(std::string(4 << 20, 'b'), server_name);
    co_return std::string(refused.status().message()) + " | " +
        std::string(absl::StatusCodeToString(missing.status().code())) + " | " +
        std::string(absl::StatusCodeToString(bad.status().code())) + " | " +
        big.status().ToString();
  };
  const std::string got = rt.block_on(root());
  unlink(path.c_str());
  EXPECT_EQ(got.find("send_to: Connection refused | NOT_FOUND | "
                     "INVALID_ARGUMENT | "),
            0u)
      << got;
  EXPECT_NE(got.find("Message too long"), std::string::npos) << got;
}

TEST_P(UnixTest, AbortMidRecvFromLeaksNothing) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    auto receiver =
        [](UnixDatagram s,
           std::shared_ptr<std::atomic<bool>> waiting) -> Task<void> {
      auto buf = std::make_unique<char[]>(64);
      waiting->store(true);
      (void)co_await s.recv_from(std::span<char>(buf.get(), 64));
    };
    auto root = [&]() -> Task<bool> {
      auto s = UnixDatagram::bind("@" + UniqueName("tidepool-abort"));
      if (!s.ok()) co_return false;
      auto waiting = std::make_shared<std::atomic<bool>>(false);
      JoinHandle<void> h = spawn(receiver(*std::move(s), waiting));
      while (!waiting->load()) co_await sleep(1ms);
      co_await sleep(10ms);
      co_await AbortAndWait(h);
      co_return true;
    };
    EXPECT_TRUE(rt.block_on(root()));
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(UnixTest);

}  // namespace
}  // namespace tidepool
