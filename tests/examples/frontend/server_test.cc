// The frontend over real loopback sockets, once per I/O driver: routes,
// streaming, bad input, clients that vanish, slow clients, running out of
// descriptors. The client side is plain blocking sockets on the test thread.
#include "examples/frontend/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "examples/frontend/generate.h"
#include "gtest/gtest.h"
#include "runtime/internal/budget_admission.h"
#include "runtime/runtime.h"
#include "tests/examples/frontend/blocking_client.h"
#include "tests/util/test_util.h"

namespace tidepool::frontend {
namespace {

using ::tidepool::testing::OpenFds;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Response {
  int status = 0;
  std::string headers;
  std::string body;
  bool chunked = false;
};

// A blocking client connection with a 10 s receive timeout, so that a
// server that never answers fails the test instead of hanging it.
class Client : public tidepool::testing::BlockingClient {
 public:
  using BlockingClient::BlockingClient;

  // Waits for the first bytes of a response.
  bool ReceivedSome() { return Fill() > 0; }

  // True when the server closed the connection (end of stream or reset).
  bool ServerClosed() {
    const ssize_t n = Fill();
    if (n == 0) return true;
    return n < 0 && errno == ECONNRESET;
  }

  std::optional<Response> Read() {
    Response r;
    std::string& buf_ = received();
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (Fill() <= 0) return std::nullopt;
    }
    r.headers = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    if (r.headers.size() < 12 ||
        !absl::SimpleAtoi(r.headers.substr(9, 3), &r.status)) {
      return std::nullopt;
    }
    r.chunked =
        r.headers.find("Transfer-Encoding: chunked") != std::string::npos;
    if (!r.chunked) {
      size_t len = 0;
      const size_t at = r.headers.find("Content-Length: ");
      if (at != std::string::npos) {
        const size_t eol = r.headers.find("\r\n", at);
        if (!absl::SimpleAtoi(r.headers.substr(at + 16, eol - at - 16), &len)) {
          return std::nullopt;
        }
      }
      while (buf_.size() < len) {
        if (Fill() <= 0) return std::nullopt;
      }
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
      return r;
    }
    while (true) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        if (Fill() <= 0) return std::nullopt;
      }
      size_t size = 0;
      if (!absl::SimpleHexAtoi(buf_.substr(0, eol), &size)) return std::nullopt;
      while (buf_.size() < eol + 2 + size + 2) {
        if (Fill() <= 0) return std::nullopt;
      }
      r.body.append(buf_, eol + 2, size);
      buf_.erase(0, eol + 2 + size + 2);
      if (size == 0) return r;
    }
  }
};

std::string GenerateRequest(absl::string_view prompt,
                            absl::string_view extra = "") {
  const std::string body = absl::StrCat("{\"prompt\": \"", prompt, "\"}");
  return absl::StrCat("POST /v1/generate HTTP/1.1\r\nHost: t\r\n", extra,
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

std::string Words(size_t bytes) {
  std::string s;
  for (int i = 0; s.size() < bytes; ++i) absl::StrAppend(&s, "word", i, ", ");
  s.resize(bytes);
  return s;
}

class ServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void Start(ServerOptions options = {}, size_t memory_budget = 0) {
    auto rt = Builder()
                  .worker_threads(2)
                  .io_driver(*ParseIoDriverKind(GetParam()))
                  .memory_budget(memory_budget)
                  .build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    rt_.emplace(*std::move(rt));
    options.runtime = &*rt_;
    server_.emplace(options);
    auto bind = []() -> Task<absl::StatusOr<TcpListener>> {
      co_return TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    };
    absl::StatusOr<TcpListener> listener = rt_->block_on(bind());
    ASSERT_TRUE(listener.ok()) << listener.status();
    port_ = listener->local_address()->port();
    run_.emplace(rt_->spawn(server_->Run(*std::move(listener))));
  }

  void TearDown() override {
    run_.reset();
    rt_.reset();  // cancels the accept loop and every connection task
    server_.reset();
  }

  // Waits (up to 5 s) for the server to have no open connection.
  bool AllConnectionsGone() {
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (server_->counters().connections_open.load() == 0) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  std::optional<Runtime> rt_;
  std::optional<Server> server_;
  std::optional<JoinHandle<absl::Status>> run_;
  uint16_t port_ = 0;
};

TEST_P(ServerTest, GenerateStreamsTheTokenIdsInChunks) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(GenerateRequest("Hi, you")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->chunked);
  EXPECT_EQ(r->body, "6215 18964 13929 \n");

  // A big prompt on the same (kept-alive) connection, several chunks.
  const std::string prompt = Words(200 * 1024);
  ASSERT_TRUE(c.Send(GenerateRequest(prompt)));
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  auto expected = Generate(absl::StrCat("{\"prompt\": \"", prompt, "\"}"));
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(r->body, *expected);
}

TEST_P(ServerTest, UnderAMemoryBudgetEachRequestTakesAPermit) {
  // Memory far over the budget all along: requests are taken on one
  // permit at a time (none held always gets one), and every one, on every
  // connection, is answered.
  internal::ScopedInUseSourceForTesting over([] { return int64_t{1} << 40; });
  Start({}, 1 << 20);
  constexpr int kClients = 4, kRequests = 5;
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Client c(port_);
      for (int j = 0; j < kRequests; ++j) {
        const std::string prompt = absl::StrCat("client ", i, " request ", j);
        if (!c.Send(GenerateRequest(prompt))) return;
        auto r = c.Read();
        if (r && r->status == 200 &&
            r->body ==
                *Generate(absl::StrCat("{\"prompt\": \"", prompt, "\"}"))) {
          answered.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients * kRequests);
  // A permit goes back just after its response is out.
  const auto deadline = Clock::now() + 5s;
  while (rt_->metrics().blocking.budget.permits_held > 0 &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  const MemoryBudgetMetrics m = rt_->metrics().blocking.budget;
  EXPECT_EQ(m.permits_granted, static_cast<uint64_t>(kClients * kRequests));
  EXPECT_EQ(m.permits_held, 0u);
  EXPECT_EQ(m.permits_waiting, 0u);
}

TEST_P(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send(GenerateRequest("a") +
                     "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" +
                     GenerateRequest("b c")));
  auto r1 = c.Read();
  auto r2 = c.Read();
  auto r3 = c.Read();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, *Generate("{\"prompt\": \"a\"}"));
  EXPECT_EQ(r2->body, "ok\n");
  EXPECT_EQ(r3->body, *Generate("{\"prompt\": \"b c\"}"));
}

TEST_P(ServerTest, Http10GetsAWholeBodyNotChunks) {
  Start();
  Client c(port_);
  const std::string body = "{\"prompt\": \"Hi, you\"}";
  ASSERT_TRUE(c.Send(absl::StrCat(
      "POST /v1/generate HTTP/1.0\r\nContent-Length: ", body.size(), "\r\n\r\n",
      body)));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->chunked);
  EXPECT_EQ(r->body, "6215 18964 13929 \n");
  EXPECT_TRUE(c.ServerClosed());  // 1.0 without keep-alive
}

// A body of several blocks goes out after its length, block by block, and
// the kept-alive connection serves the next request. This checks the
// framing, which the joined copy StreamText replaced got right too; what
// changed is that no block is copied.
TEST_P(ServerTest, Http10GetsALongBodyWithItsLength) {
  Start();
  Client c(port_);
  const std::string body =
      absl::StrCat("{\"prompt\": \"", Words(200 * 1024), "\"}");
  const absl::StatusOr<std::string> expected = Generate(body);
  ASSERT_TRUE(expected.ok());
  ASSERT_GT(expected->size(), 2 * kTextBlockBytes);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        c.Send(absl::StrCat("POST /v1/generate HTTP/1.0\r\n"
                            "Connection: keep-alive\r\n"
                            "Content-Length: ",
                            body.size(), "\r\n\r\n", body)));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->chunked);
    EXPECT_EQ(r->body, *expected);
  }
}

TEST_P(ServerTest, BadRequestsGetTheirStatusAndAClose) {
  Start();
  const struct {
    std::string request;
    int status;
  } cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n", 400},
      {"POST /v1/generate HTTP/1.1\r\nHost: t\r\nContent-Length: "
       "99999999999\r\n\r\n",
       413},
      {"POST /v1/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       501},
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      {absl::StrCat("GET / HTTP/1.1\r\nHost: t\r\nX: ", std::string(20000, 'a'),
                    "\r\n\r\n"),
       431},
  };
  for (const auto& tc : cases) {
    Client c(port_);
    ASSERT_TRUE(c.Send(tc.request));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value()) << tc.request.substr(0, 40);
    EXPECT_EQ(r->status, tc.status) << tc.request.substr(0, 40);
    EXPECT_NE(r->headers.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(c.ServerClosed());
  }
  // A bad JSON body is a well-framed request: 400, connection kept.
  Client c(port_);
  ASSERT_TRUE(c.Send(
      "POST /v1/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n{x}"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  // Wrong method, unknown path.
  ASSERT_TRUE(c.Send("GET /v1/generate HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(c.Read()->status, 405);
  ASSERT_TRUE(c.Send("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(c.Read()->status, 404);
}

TEST_P(ServerTest, ClientsThatVanishCostNothing) {
  Start();
  const size_t fds_idle = OpenFds();
  for (int i = 0; i < 20; ++i) {
    // Gone in the middle of a body.
    Client mid_body(port_);
    ASSERT_TRUE(
        mid_body.Send("POST /v1/generate HTTP/1.1\r\nHost: "
                      "t\r\nContent-Length: 100000\r\n\r\n{\"prompt\": \""));
    mid_body.Abort();
    // Gone in the middle of a large streamed response.
    Client mid_response(port_);
    ASSERT_TRUE(mid_response.Send(GenerateRequest(Words(400 * 1024))));
    ASSERT_TRUE(mid_response.ReceivedSome());
    mid_response.Abort();
  }
  EXPECT_TRUE(AllConnectionsGone());
  // Blocking calls may still be finishing; give their tasks a moment.
  const auto deadline = Clock::now() + 5s;
  while (OpenFds() != fds_idle && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(OpenFds(), fds_idle);
  // And the server still serves.
  Client c(port_);
  ASSERT_TRUE(c.Send(GenerateRequest("still here")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_P(ServerTest, SlowAndIdleClientsAreTimedOut) {
  ServerOptions options;
  options.read_timeout = 200ms;
  Start(options);
  Client slow(port_);
  ASSERT_TRUE(slow.Send("GET /healthz HTTP/1.1\r\nHo"));  // and then nothing
  Client idle(port_);
  auto r = slow.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.ServerClosed());
  EXPECT_TRUE(idle.ServerClosed());  // nothing sent: closed without a reply
  EXPECT_GE(server_->counters().timeouts.load(), 2u);
}

TEST_P(ServerTest, ARequestTrickledInPastRequestTimeoutGets408) {
  // Each byte comes well within read_timeout, the whole body not within
  // request_timeout of the permit: 408, and the permit held since the head
  // goes back.
  internal::ScopedInUseSourceForTesting over([] { return int64_t{1} << 40; });
  ServerOptions options;
  options.read_timeout = 30s;
  options.request_timeout = 300ms;
  // Longer than the trickle below, so the server drains all of it and
  // never resets the connection under the 408.
  options.linger = 10s;
  Start(options, 1 << 20);
  Client slow(port_);
  ASSERT_TRUE(
      slow.Send("POST /v1/generate HTTP/1.1\r\nHost: t\r\n"
                "Content-Length: 1000\r\n\r\n{\"prompt\": \""));
  auto permits_held = [&] {
    return rt_->metrics().blocking.budget.permits_held;
  };
  const auto taken = Clock::now() + 5s;
  while (permits_held() == 0 && Clock::now() < taken) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(permits_held(), 1u) << "the head did not take a permit";
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(50ms);
    (void)slow.Send("a");  // after the 408 the server drains and drops it
  }
  auto r = slow.Read();
  ASSERT_TRUE(r.has_value()) << "no reply: the server waits for the body";
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.ServerClosed());
  EXPECT_GE(server_->counters().timeouts.load(), 1u);
  const auto deadline = Clock::now() + 5s;
  while (permits_held() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(permits_held(), 0u);
  // The server still serves.
  Client c(port_);
  ASSERT_TRUE(c.Send(GenerateRequest("after the slow one")));
  auto ok = c.Read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_P(ServerTest, RunningOutOfDescriptorsBacksOffAndKeepsServing) {
  Start();
  Client served(port_);
  ASSERT_TRUE(served.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(served.Read().has_value());

  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  // The clients' sockets first (they need descriptors too), then no
  // descriptor left for the server to accept them with, then connect.
  std::vector<std::unique_ptr<Client>> waiting;
  for (int i = 0; i < 4; ++i) {
    waiting.push_back(std::make_unique<Client>(port_, /*connect_now=*/false));
  }
  const int lowest_free = dup(0);
  close(lowest_free);
  rlimit tight = old;
  tight.rlim_cur = lowest_free;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  for (auto& c : waiting) c->Connect();
  const auto deadline = Clock::now() + 5s;
  while (server_->counters().accept_errors.load() < 2 &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  const uint64_t errors = server_->counters().accept_errors.load();
  // The connection already open is still served meanwhile.
  const bool sent = served.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  auto during = served.Read();
  setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_GE(errors, 2u);
  ASSERT_TRUE(sent);
  ASSERT_TRUE(during.has_value());
  EXPECT_EQ(during->status, 200);
  // With descriptors back, the waiting clients are accepted and served.
  for (auto& c : waiting) {
    ASSERT_TRUE(c->Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c->Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
}

TEST_P(ServerTest, MetricsReportRuntimeAllocatorAndFrontend) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  // The library's families (runtime/prometheus.h) between the process's
  // and the frontend's own.
  for (const char* key :
       {"process_resident_memory_bytes ", "process_resident_memory_peak_bytes ",
        "tidepool_workers 2\n", "tidepool_polls_total{worker=\"1\"} ",
        "tidepool_blocking_threads ", "tidepool_allocator_info{backend=",
        "tidepool_allocator_trims_total ", "frontend_connections_open 1\n",
        "frontend_responses_total{class=\"2xx\"} "}) {
    EXPECT_NE(r->body.find(key), std::string::npos) << key;
  }
  EXPECT_NE(r->body.find(absl::StrCat("tidepool_io_driver_info{driver=\"",
                                      GetParam(), "\"} 1")),
            std::string::npos);
  // Each family once, whoever wrote it.
  std::set<std::string> families;
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    if (!absl::StartsWith(line, "# TYPE ")) continue;
    const std::string name(line.substr(7, line.find(' ', 7) - 7));
    EXPECT_TRUE(families.insert(name).second) << "twice: " << name;
  }
}

TEST_P(ServerTest, DebugTasksDumpsTheRuntimesTasks) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /debug/tasks HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StartsWith(r->body, "tasks: ")) << r->body;
  // The task answering is running; the accept loop waits at a co_await of
  // the server, whose file and line the dump names.
  EXPECT_NE(r->body.find("\" running\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\" waiting at examples/frontend/server.cc:"),
            std::string::npos)
      << r->body;
  ASSERT_TRUE(
      c.Send("POST /debug/tasks HTTP/1.1\r\nHost: t\r\n"
             "Content-Length: 0\r\n\r\n"));
  auto post = c.Read();
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->status, 405);
}

INSTANTIATE_TEST_SUITE_P(Drivers, ServerTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tidepool::frontend
