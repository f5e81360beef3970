// examples/tls_echo: OpenSSL driven through AsyncFd, run once per I/O
// driver, with certificates made by the test.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "examples/tls_echo/echo.h"
#include "examples/tls_echo/tls_context.h"
#include "examples/tls_echo/tls_listener.h"
#include "examples/tls_echo/tls_stream.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/examples/tls_echo/self_signed.h"
#include "tests/runtime/net/net_test_util.h"
#include "tests/util/test_util.h"

namespace tidepool::tls_echo {
namespace {

using ::tidepool::testing::OpenFds;
using ::tidepool::tls_echo::testing::SelfSigned;

using namespace std::chrono_literals;

static_assert(AsyncRead<TlsStream> && AsyncWrite<TlsStream>);

// Long enough for any step on a loaded machine, short enough that a
// readiness wait that never ends fails the test instead of hanging it.
constexpr auto kStepTimeout = 20s;

// `task`'s result, or DeadlineExceeded after kStepTimeout.
template <typename T>
Task<absl::StatusOr<T>> Within(Task<absl::StatusOr<T>> task) {
  absl::StatusOr<absl::StatusOr<T>> r =
      co_await timeout(kStepTimeout, std::move(task));
  if (!r.ok()) co_return r.status();
  co_return *std::move(r);
}

// The certificates every test uses: the server's, and another that has
// nothing to do with it (a client trusting only that one must refuse the
// server).
struct Certificates {
  SelfSigned server;
  SelfSigned unrelated;
};

const Certificates& Certs() {
  static const Certificates* certs = [] {
    absl::StatusOr<SelfSigned> server = SelfSigned::Make("localhost");
    absl::StatusOr<SelfSigned> unrelated = SelfSigned::Make("localhost");
    EXPECT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE(unrelated.ok()) << unrelated.status();
    return new Certificates{*std::move(server), *std::move(unrelated)};
  }();
  return *certs;
}

TlsContext ServerContext() {
  absl::StatusOr<TlsContext> ctx =
      TlsContext::server(Certs().server.cert_pem, Certs().server.key_pem);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *std::move(ctx);
}

TlsContext ClientContext(const std::string& trusted_pem) {
  absl::StatusOr<TlsContext> ctx = TlsContext::client(trusted_pem);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return *std::move(ctx);
}

absl::StatusOr<TlsListener> Listen() {
  return TlsListener::bind(*SocketAddress::Parse("127.0.0.1:0"),
                           ServerContext());
}

absl::Status SetBuffer(int fd, int option, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof(bytes)) < 0) {
    return absl::ErrnoToStatus(errno, "setsockopt");
  }
  return absl::OkStatus();
}

// `n` bytes of every value but '\n', '\0' included.
std::string Noise(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) {
    do {
      c = static_cast<char>(rng());
    } while (c == '\n');
  }
  return s;
}

// Reads to the end of the stream.
Task<absl::StatusOr<std::string>> ReadToEnd(BufReader<TlsStream>& reader) {
  std::string all;
  char buf[4096];
  while (true) {
    absl::StatusOr<size_t> n = co_await reader.read(buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return all;
    all.append(buf, *n);
  }
}

// Accepts one connection and serves it with EchoLines, its send buffer
// made small so that echoing a large line must wait for writability.
Task<absl::Status> EchoOne(TlsListener* listener) {
  absl::StatusOr<TlsStream> conn = co_await listener->accept();
  if (!conn.ok()) co_return conn.status();
  if (absl::Status st = SetBuffer(conn->native_handle(), SO_SNDBUF, 16 * 1024);
      !st.ok()) {
    co_return st;
  }
  co_return co_await EchoLines(*std::move(conn));
}

class TlsEchoTest : public ::tidepool::testing::DriverTest {};

TEST_P(TlsEchoTest, EchoesLinesIncludingOneLargerThan64KiB) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    auto root = [&]() -> Task<std::string> {
      absl::StatusOr<TlsListener> listener = Listen();
      if (!listener.ok()) co_return listener.status().ToString();
      JoinHandle<absl::Status> server = spawn(EchoOne(&*listener));
      absl::StatusOr<TlsStream> client = co_await Within(TlsStream::connect(
          *listener->local_address(), ClientContext(Certs().server.cert_pem),
          "localhost"));
      if (!client.ok()) co_return client.status().ToString();
      const std::string protocol(client->protocol());
      // A small receive buffer, so that the server's echo of the large
      // line fills it and the server waits for writability.
      if (absl::Status st =
              SetBuffer(client->native_handle(), SO_RCVBUF, 16 * 1024);
          !st.ok()) {
        co_return st.ToString();
      }
      BufReader<TlsStream> reader(*std::move(client));
      const std::vector<std::string> lines = {
          "hello\n", "\n", Noise(200 * 1024, 1) + "\n", Noise(100, 2) + "\n"};
      for (const std::string& line : lines) {
        absl::Status sent =
            co_await timeout(kStepTimeout, reader.get_ref().write_all(line));
        if (!sent.ok()) co_return "write: " + sent.ToString();
        // The server echoes while this side does not read yet.
        if (line.size() > 64 * 1024) co_await sleep(50ms);
        std::string echo(line.size(), '\0');
        absl::Status got =
            co_await timeout(kStepTimeout, reader.read_exact(echo));
        if (!got.ok()) co_return "read: " + got.ToString();
        if (echo != line) {
          co_return absl::StrCat("echo of a ", line.size(),
                                 "-byte line differs");
        }
      }
      // A last line without '\n' comes back at the end of the stream.
      if (absl::Status st = co_await reader.get_ref().write_all("bye");
          !st.ok()) {
        co_return st.ToString();
      }
      if (absl::Status st = co_await reader.get_ref().shutdown(); !st.ok()) {
        co_return "shutdown: " + st.ToString();
      }
      absl::StatusOr<std::string> rest = co_await Within(ReadToEnd(reader));
      if (!rest.ok()) co_return "read to end: " + rest.status().ToString();
      absl::Status served = co_await server;
      co_return absl::StrCat(protocol, " | ", *rest, " | ", served.ToString());
    };
    EXPECT_EQ(rt.block_on(root()), "TLSv1.3 | bye | OK");
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_P(TlsEchoTest, AnUntrustedCertificateFailsTheHandshakeClearly) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    auto root = [&]() -> Task<std::string> {
      absl::StatusOr<TlsListener> listener = Listen();
      if (!listener.ok()) co_return listener.status().ToString();
      const SocketAddress addr = *listener->local_address();
      std::string out;
      // Trusts another certificate, then the right one for another name.
      for (auto [trusted, name] : {std::pair{&Certs().unrelated, "localhost"},
                                   std::pair{&Certs().server, "example.com"}}) {
        JoinHandle<absl::Status> server = spawn(EchoOne(&*listener));
        absl::StatusOr<TlsStream> client = co_await Within(
            TlsStream::connect(addr, ClientContext(trusted->cert_pem), name));
        absl::Status served = co_await server;
        absl::StrAppend(&out, client.status().ToString(), "\n",
                        served.ToString(), "\n");
      }
      // The listener still serves a client that trusts the server.
      JoinHandle<absl::Status> server = spawn(EchoOne(&*listener));
      absl::StatusOr<TlsStream> good = co_await TlsStream::connect(
          addr, ClientContext(Certs().server.cert_pem), "localhost");
      if (!good.ok()) co_return good.status().ToString();
      BufReader<TlsStream> reader(*std::move(good));
      (void)co_await reader.get_ref().write_all("again\n");
      std::string line;
      (void)co_await timeout(kStepTimeout, reader.read_line(line));
      (void)co_await reader.get_ref().shutdown();
      absl::Status served = co_await server;
      co_return absl::StrCat(out, line, served.ToString());
    };
    // The server names its client by address: drop the port.
    const std::string port_free_result = std::regex_replace(
        rt.block_on(root()), std::regex("127\\.0\\.0\\.1:[0-9]+"), "127.0.0.1");
    EXPECT_EQ(port_free_result,
              "UNAUTHENTICATED: TLS handshake with localhost: certificate "
              "verify failed: self-signed certificate\n"
              "UNAVAILABLE: TLS handshake with 127.0.0.1: tlsv1 alert "
              "unknown ca\n"
              "UNAUTHENTICATED: TLS handshake with example.com: certificate "
              "verify failed: hostname mismatch\n"
              "UNAVAILABLE: TLS handshake with 127.0.0.1: sslv3 alert bad "
              "certificate\n"
              "again\nOK");
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

// An AsyncWrite that keeps what it is given.
struct StringSink {
  Task<absl::StatusOr<size_t>> write(std::string_view data) {
    text.append(data);
    co_return data.size();
  }
  Task<absl::Status> write_all(std::string_view data) {
    text.append(data);
    co_return absl::OkStatus();
  }
  std::string text;
};

TEST_P(TlsEchoTest, CopyReadsToTheCloseNotifyAndTheOtherWayStaysOpen) {
  Runtime rt = MakeRuntime();
  auto root = [&]() -> Task<std::string> {
    absl::StatusOr<TlsListener> listener = Listen();
    if (!listener.ok()) co_return listener.status().ToString();
    // Takes everything up to the client's close_notify, then answers with
    // the count and its own close_notify.
    auto counter = [](TlsListener* l) -> Task<absl::Status> {
      absl::StatusOr<TlsStream> conn = co_await l->accept();
      if (!conn.ok()) co_return conn.status();
      StringSink sink;
      absl::StatusOr<uint64_t> n = co_await copy(*conn, sink);
      if (!n.ok()) co_return n.status();
      if (sink.text != Noise(300 * 1024, 3)) {
        co_return absl::DataLossError("copied bytes differ");
      }
      if (absl::Status st = co_await conn->write_all(absl::StrCat(*n));
          !st.ok()) {
        co_return st;
      }
      co_return co_await conn->shutdown();
    };
    JoinHandle<absl::Status> server = spawn(counter(&*listener));
    absl::StatusOr<TlsStream> client = co_await TlsStream::connect(
        *listener->local_address(), ClientContext(Certs().server.cert_pem),
        "localhost");
    if (!client.ok()) co_return client.status().ToString();
    BufReader<TlsStream> reader(*std::move(client));
    if (absl::Status st = co_await timeout(
            kStepTimeout, reader.get_ref().write_all(Noise(300 * 1024, 3)));
        !st.ok()) {
      co_return st.ToString();
    }
    if (absl::Status st = co_await reader.get_ref().shutdown(); !st.ok()) {
      co_return st.ToString();
    }
    absl::StatusOr<std::string> answer = co_await Within(ReadToEnd(reader));
    absl::Status served = co_await server;
    co_return absl::StrCat(answer.ok() ? *answer : answer.status().ToString(),
                           " ", served.ToString());
  };
  EXPECT_EQ(rt.block_on(root()), "307200 OK");
}

TEST_P(TlsEchoTest, OneOperationAtATimeAndNoneAfterClose) {
  Runtime rt = MakeRuntime();
  auto root = [&]() -> Task<std::string> {
    absl::StatusOr<TlsListener> listener = Listen();
    if (!listener.ok()) co_return listener.status().ToString();
    JoinHandle<absl::Status> server = spawn(EchoOne(&*listener));
    absl::StatusOr<TlsStream> client = co_await TlsStream::connect(
        *listener->local_address(), ClientContext(Certs().server.cert_pem),
        "localhost");
    if (!client.ok()) co_return client.status().ToString();
    auto read_one = [](TlsStream* s) -> Task<absl::StatusOr<size_t>> {
      char c;
      co_return co_await s->read(std::span<char>(&c, 1));
    };
    // A read waits (nothing was sent); a write meanwhile is refused.
    JoinHandle<absl::StatusOr<size_t>> reading = spawn(read_one(&*client));
    co_await sleep(20ms);
    absl::StatusOr<size_t> busy = co_await client->write("x\n");
    // The read is still waiting. Aborting it cancels its readiness wait,
    // and the stream goes on working.
    if (reading.is_finished()) co_return "read finished early";
    reading.abort();
    try {
      (void)co_await reading;
    } catch (const TaskCancelled&) {
    }
    if (absl::Status st = co_await client->write_all("x\n"); !st.ok()) {
      co_return st.ToString();
    }
    absl::StatusOr<size_t> echoed = co_await Within(read_one(&*client));
    client->close();
    absl::StatusOr<size_t> closed = co_await read_one(&*client);
    (void)co_await server;
    co_return absl::StrCat(
        absl::StatusCodeToString(busy.status().code()), " | ",
        echoed.ok() ? absl::StrCat(*echoed) : echoed.status().ToString(), " | ",
        closed.status().ToString());
  };
  EXPECT_EQ(rt.block_on(root()),
            "FAILED_PRECONDITION | 1 | FAILED_PRECONDITION: TlsStream: "
            "closed");
}

// Many clients at once on two workers: sessions change threads at every
// await, and Serve's connection tasks run side by side.
TEST_P(TlsEchoTest, ServeEchoesManyClientsAtOnce) {
  const size_t fds_before = OpenFds();
  const int clients = 16 * ::tidepool::testing::StressScale();
  constexpr int kLines = 20;
  std::atomic<int> ended_ok{0};
  std::atomic<int> ended_badly{0};
  {
    Runtime rt = MakeRuntime();
    auto client = [](SocketAddress addr, int id) -> Task<absl::Status> {
      absl::StatusOr<TlsStream> s = co_await TlsStream::connect(
          addr, ClientContext(Certs().server.cert_pem), "localhost");
      if (!s.ok()) co_return s.status();
      BufReader<TlsStream> reader(*std::move(s));
      for (int i = 0; i < kLines; ++i) {
        const std::string line =
            Noise(1 + (id * 7919 + i * 104729) % 40000, id * kLines + i) + "\n";
        if (absl::Status st = co_await reader.get_ref().write_all(line);
            !st.ok()) {
          co_return st;
        }
        std::string echo;
        absl::StatusOr<size_t> n = co_await reader.read_line(echo);
        if (!n.ok()) co_return n.status();
        if (echo != line) {
          co_return absl::DataLossError(
              absl::StrCat("client ", id, " line ", i, ": echo differs"));
        }
      }
      co_return co_await reader.get_ref().shutdown();
    };
    auto root = [&]() -> Task<std::string> {
      absl::StatusOr<TlsListener> listener = Listen();
      if (!listener.ok()) co_return listener.status().ToString();
      JoinHandle<void> serving =
          spawn(Serve(*listener, [&](const absl::Status& s) {
            (s.ok() ? ended_ok : ended_badly).fetch_add(1);
          }));
      std::vector<JoinHandle<absl::Status>> hs;
      for (int id = 0; id < clients; ++id) {
        hs.push_back(spawn(client(*listener->local_address(), id)));
      }
      std::string failures;
      for (auto& h : hs) {
        absl::Status st = co_await timeout(kStepTimeout, std::move(h));
        if (!st.ok()) absl::StrAppend(&failures, st.ToString(), "\n");
      }
      // Each connection reports its end after its close_notify went out.
      while (ended_ok.load() + ended_badly.load() < clients) {
        co_await sleep(1ms);
      }
      co_await ::tidepool::testing::AbortAndWait(serving);
      co_return failures;
    };
    EXPECT_EQ(rt.block_on(root()), "");
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(ended_ok.load(), clients);
  EXPECT_EQ(ended_badly.load(), 0);
  EXPECT_EQ(OpenFds(), fds_before);
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(TlsEchoTest);

}  // namespace
}  // namespace tidepool::tls_echo
