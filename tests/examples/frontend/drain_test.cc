// The frontend program's graceful drain, end to end: the real binary in a
// child process (once per I/O driver), signalled with kill(2), talked to
// over loopback with plain blocking sockets. Every wait on the server is a
// socket read with a 10 s timeout or waitpid(), so a server that misbehaves
// fails the test rather than hanging it; nothing depends on timing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/examples/frontend/blocking_client.h"

namespace {

// A blocking loopback client.
class Client : public tidepool::testing::BlockingClient {
 public:
  using BlockingClient::BlockingClient;

  // Reads until `text` has arrived; false on end of stream, error or
  // timeout. What was read stays in received().
  bool ReadUntil(std::string_view text) {
    while (received().find(text) == std::string::npos) {
      if (Fill() <= 0) return false;
    }
    return true;
  }
  // Reads until the server closes; true on end of stream (or reset).
  bool ReadToEnd() {
    while (true) {
      const ssize_t n = Fill();
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }
};

// The frontend binary, started with `flags` and TIDEPOOL_IO=`driver`.
class Frontend {
 public:
  Frontend(const std::string& driver, const std::string& grace) {
    const std::string path = absl::StrCat(std::getenv("TEST_SRCDIR"), "/",
                                          std::getenv("TEST_WORKSPACE"),
                                          "/examples/frontend/frontend");
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      setenv("TIDEPOOL_IO", driver.c_str(), 1);
      const std::string grace_flag = "--grace_period=" + grace;
      execl(path.c_str(), path.c_str(), "--listen=127.0.0.1:0", "--workers=2",
            grace_flag.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    // "listening on 127.0.0.1:<port>\n"
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    const size_t colon = line.rfind(':');
    uint32_t port = 0;
    if (line.rfind("listening on ", 0) == 0 && colon != std::string::npos &&
        absl::SimpleAtoi(line.substr(colon + 1), &port) && port <= 65535) {
      port_ = static_cast<uint16_t>(port);
    }
  }
  ~Frontend() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  uint16_t port() const { return port_; }
  void Signal(int signo) { kill(pid_, signo); }
  // The exit status, or -1 if it did not exit normally.
  int Wait() {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, 0);
    pid_ = -1;
    if (r < 0 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

constexpr std::string_view kBody = R"({"prompt": "Hi, you"})";

// A POST whose head asks for "100 Continue", so that the client learns the
// server has read the head before it sends the body.
std::string HeadExpectingContinue() {
  return absl::StrCat(
      "POST /v1/generate HTTP/1.1\r\nHost: t\r\nContent-Length: ", kBody.size(),
      "\r\nExpect: 100-continue\r\n\r\n");
}

// A keep-alive connection that has had one response and now waits idle.
void MakeIdle(Client& c) {
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.ReadUntil("ok\n")) << c.received();
}

class DrainTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DrainTest, SigtermFinishesTheRequestInFlightRefusesNewOnesExitsZero) {
  Frontend server(GetParam(), "60s");
  ASSERT_NE(server.port(), 0);
  Client idle(server.port());
  ASSERT_EQ(idle.connect_errno(), 0);
  MakeIdle(idle);
  Client busy(server.port());
  ASSERT_EQ(busy.connect_errno(), 0);
  ASSERT_TRUE(busy.Send(HeadExpectingContinue()));
  ASSERT_TRUE(busy.ReadUntil("100 Continue\r\n\r\n")) << busy.received();

  server.Signal(SIGTERM);
  // The drain shuts the listener, then closes idle connections.
  EXPECT_TRUE(idle.ReadToEnd());
  Client late(server.port());
  EXPECT_EQ(late.connect_errno(), ECONNREFUSED);

  ASSERT_TRUE(busy.Send(kBody));
  ASSERT_TRUE(busy.ReadToEnd());
  const std::string& r = busy.received();
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("6215 18964 13929 \n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n0\r\n\r\n"), std::string::npos) << r;
  EXPECT_EQ(server.Wait(), 0);
}

TEST_P(DrainTest, SigintDrainsToo) {
  Frontend server(GetParam(), "60s");
  ASSERT_NE(server.port(), 0);
  Client idle(server.port());
  MakeIdle(idle);
  server.Signal(SIGINT);
  EXPECT_TRUE(idle.ReadToEnd());
  EXPECT_EQ(server.Wait(), 0);
}

TEST_P(DrainTest, SecondSignalEndsItAtOnce) {
  Frontend server(GetParam(), "60s");
  ASSERT_NE(server.port(), 0);
  Client idle(server.port());
  MakeIdle(idle);
  Client busy(server.port());
  ASSERT_TRUE(busy.Send(HeadExpectingContinue()));
  ASSERT_TRUE(busy.ReadUntil("100 Continue\r\n\r\n"));
  server.Signal(SIGTERM);
  // The first signal was read (the drain began) before the second is sent:
  // two instances of one pending signal would merge into one.
  ASSERT_TRUE(idle.ReadToEnd());
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 1);
}

TEST_P(DrainTest, GracePeriodEndsAStalledDrain) {
  Frontend server(GetParam(), "100ms");
  ASSERT_NE(server.port(), 0);
  Client busy(server.port());
  ASSERT_TRUE(busy.Send(HeadExpectingContinue()));
  ASSERT_TRUE(busy.ReadUntil("100 Continue\r\n\r\n"));
  server.Signal(SIGTERM);
  // The body never comes: only the grace period can end the drain.
  EXPECT_EQ(server.Wait(), 1);
}

INSTANTIATE_TEST_SUITE_P(Drivers, DrainTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
