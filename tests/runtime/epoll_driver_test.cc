// EpollDriver's read side: a read that found nothing reaches Start(), which
// tries again only if a readability event came in between; input that
// arrives around that moment is never lost, whether its event is reaped
// before Start() (the retry takes it) or after (the parked read takes it).
// On TCP a receive after one that left the socket drained skips its first
// try, and what says input may be left behind a short read (end of stream,
// urgent data, a readiness poll that found input) brings the try back;
// sockets whose short reads say nothing (UDP, Unix) keep it.
#include "runtime/internal/io/epoll_driver.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "runtime/internal/io/io_driver.h"
#include "tests/util/fake_task.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

// Waits until `fd` reports one of `events` (delivery on loopback can lag
// on a loaded machine); false after 10 s.
bool WaitFor(int fd, short events) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, 10'000) == 1;
}

// A loopback pair of `type` (SOCK_STREAM: TCP, SOCK_DGRAM: connected UDP):
// fds[0] non-blocking, fds[1] blocking.
void LoopbackPair(int type, int fds[2]) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const int first = socket(AF_INET, type, 0);
  ASSERT_GE(first, 0);
  ASSERT_EQ(bind(first, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(first, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  fds[1] = socket(AF_INET, type, 0);
  ASSERT_GE(fds[1], 0);
  if (type == SOCK_STREAM) {
    ASSERT_EQ(listen(first, 1), 0);
    ASSERT_EQ(connect(fds[1], reinterpret_cast<sockaddr*>(&addr), len), 0);
    fds[0] = accept4(first, nullptr, nullptr, SOCK_NONBLOCK);
    ASSERT_GE(fds[0], 0);
    close(first);
    const int one = 1;
    ASSERT_EQ(setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)),
              0);
    return;
  }
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t peer_len = sizeof(peer);
  ASSERT_EQ(bind(fds[1], reinterpret_cast<sockaddr*>(&peer), peer_len), 0);
  ASSERT_EQ(getsockname(fds[1], reinterpret_cast<sockaddr*>(&peer), &peer_len),
            0);
  ASSERT_EQ(connect(first, reinterpret_cast<sockaddr*>(&peer), peer_len), 0);
  ASSERT_EQ(connect(fds[1], reinterpret_cast<sockaddr*>(&addr), len), 0);
  fds[0] = first;
}

class EpollDriverTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    auto driver = NewEpollDriver();
    ASSERT_TRUE(driver.ok()) << driver.status();
    driver_ = *std::move(driver);
    ASSERT_NO_FATAL_FAILURE(LoopbackPair(GetParam(), fds_));
    if (GetParam() == SOCK_DGRAM) {
      ASSERT_EQ(fcntl(fds_[0], F_SETFL, O_NONBLOCK), 0);
    }
    auto source = driver_->Register(fds_[0]);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = *source;
    // Marked scheduled, so that the driver's wake-up only drops the
    // reference it took: the fake has no scheduler to queue it on.
    task_->state().SetScheduledUnshared();
    // The registration's own event (writable), so that a later reap waits
    // for the event under test.
    ReapFor(10ms);
  }

  void TearDown() override {
    if (source_ != nullptr) driver_->Deregister(source_);
    close(fds_[1]);
    task_->Unref();
    EXPECT_TRUE(destroyed_.load()) << "the driver kept a reference";
  }

  // A receive op on the registered end, into buf_.
  void Prepare(IoOp& op) {
    op.code = IoOp::Code::kRecv;
    op.source = source_;
    op.buf = buf_;
    op.len = sizeof(buf_);
  }

  void Send(const std::string& bytes, int flags = 0) {
    ASSERT_EQ(send(fds_[1], bytes.data(), bytes.size(), flags),
              static_cast<ssize_t>(bytes.size()));
  }

  void ReapFor(std::chrono::milliseconds window) {
    driver_->Wait(std::chrono::steady_clock::now() + window,
                  driver_->unparks());
  }

  // Reaps until `op` is done or 10 s have passed; on timeout takes the op
  // back and fails.
  void ReapUntilDone(IoOp& op) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!op.done.load() && std::chrono::steady_clock::now() < deadline) {
      ReapFor(100ms);
    }
    if (!op.done.load()) {
      driver_->Cancel(&op);
      FAIL() << "the parked read never completed";
    }
  }

  // Reads through the driver as a task does: the try, then parking and
  // reaping. The result.
  int64_t Read(IoOp& op) {
    Prepare(op);
    if (driver_->TryNow(&op) || !driver_->Start(&op, task_)) return op.result;
    ReapUntilDone(op);
    return op.result;
  }

  // A read through the driver that must finish without waiting for an
  // event: after its try, Start() completes it or the test fails (the op
  // is taken back). False on failure.
  bool ReadAtOnce(IoOp& op, const char* why) {
    Prepare(op);
    if (driver_->TryNow(&op) || !driver_->Start(&op, task_)) return true;
    driver_->Cancel(&op);
    ADD_FAILURE() << why;
    return false;
  }

  // One read that parks and is completed by its event: afterwards no event
  // is pending and none is remembered, and on TCP the short read left the
  // socket drained.
  void ParkAndComplete() {
    ParkThenDeliver([this] { Send("x"); });
  }

  // A read that finds nothing and parks; then `deliver` sends its input,
  // and the reap completes the read with one byte.
  void ParkThenDeliver(const std::function<void()>& deliver) {
    IoOp op;
    Prepare(op);
    ASSERT_FALSE(driver_->TryNow(&op));
    ASSERT_TRUE(driver_->Start(&op, task_));
    deliver();
    ReapUntilDone(op);
    ASSERT_EQ(op.result, 1);
  }

  std::unique_ptr<IoDriver> driver_;
  int fds_[2] = {-1, -1};
  IoSource* source_ = nullptr;
  std::atomic<bool> destroyed_{false};
  // Freed by its last Unref, in TearDown.
  testing::FakeTask* task_ = new testing::FakeTask(&destroyed_);
  char buf_[16];
};

using EpollTcpTest = EpollDriverTest;
using EpollUdpTest = EpollDriverTest;

TEST_P(EpollTcpTest, InputReapedBeforeStartIsTakenByStart) {
  ParkAndComplete();
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));  // skipped: the socket was drained
  Send("y");
  ASSERT_TRUE(WaitFor(fds_[0], POLLIN));
  ReapFor(10ms);  // no reader parked: the event is remembered
  if (driver_->Start(&op, task_)) {
    driver_->Cancel(&op);
    FAIL() << "parked with input waiting";
  }
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf_[0], 'y');
}

TEST_P(EpollTcpTest, InputReapedAfterStartCompletesTheParkedRead) {
  ParkAndComplete();
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));
  Send("z");
  // The event is still queued in the epoll set: Start parks, and the reap
  // retries the parked read.
  ASSERT_TRUE(driver_->Start(&op, task_));
  ReapUntilDone(op);
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf_[0], 'z');
}

TEST_P(EpollTcpTest, AReadOnANewSourceTriesAgainInStart) {
  // Before any read the state is unknown, so Start tries.
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));
  Send("w");
  ASSERT_TRUE(WaitFor(fds_[0], POLLIN));
  if (driver_->Start(&op, task_)) {
    driver_->Cancel(&op);
    FAIL() << "parked with input waiting";
  }
  EXPECT_EQ(op.result, 1);
}

TEST_P(EpollTcpTest, AfterEndOfStreamAReadReturnsAtOnce) {
  ParkAndComplete();
  ASSERT_EQ(shutdown(fds_[1], SHUT_WR), 0);
  IoOp eof;
  ASSERT_EQ(Read(eof), 0);
  // No event will come again; the read must not wait for one.
  IoOp again;
  Prepare(again);
  EXPECT_TRUE(driver_->TryNow(&again));
  EXPECT_EQ(again.result, 0);
}

TEST_P(EpollTcpTest, EndOfStreamBehindAShortReadIsFoundAtOnce) {
  ParkAndComplete();
  // Input and the end of stream arrive before the reap, which the parked
  // read takes: it reads the byte, fewer than it asked for, and the end of
  // stream is left with no event to come.
  ASSERT_NO_FATAL_FAILURE(ParkThenDeliver([this] {
    Send("d");
    ASSERT_EQ(shutdown(fds_[1], SHUT_WR), 0);
    ASSERT_TRUE(WaitFor(fds_[0], POLLRDHUP));
  }));
  IoOp eof;
  if (!ReadAtOnce(eof, "waits for an event that will not come")) return;
  EXPECT_EQ(eof.result, 0);
}

TEST_P(EpollTcpTest, InputBehindTheUrgentMarkIsFoundAtOnce) {
  ParkAndComplete();
  // A receive stops at the urgent mark: "abc" comes back short with "def"
  // behind the (out-of-band) "!", and no event will come for "def".
  Send("abc");
  Send("!", MSG_OOB);
  Send("def");
  ASSERT_TRUE(WaitFor(fds_[0], POLLPRI));
  IoOp first;
  ASSERT_EQ(Read(first), 3);
  IoOp second;
  if (!ReadAtOnce(second,
                  "the input behind the urgent mark waits for an event"))
    return;
  EXPECT_EQ(std::string(buf_, second.result), "def");
}

TEST_P(EpollTcpTest, AReadinessPollThatFindsInputBringsTheTryBack) {
  ParkAndComplete();
  Send("c");
  ASSERT_TRUE(WaitFor(fds_[0], POLLIN));
  IoOp poll;
  poll.code = IoOp::Code::kPoll;
  poll.source = source_;
  poll.poll_events = POLLIN;
  ASSERT_TRUE(driver_->TryNow(&poll));
  // readable() said yes, so the read that follows must take the input now.
  IoOp op;
  Prepare(op);
  EXPECT_TRUE(driver_->TryNow(&op));
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf_[0], 'c');
}

INSTANTIATE_TEST_SUITE_P(Tcp, EpollTcpTest, ::testing::Values(SOCK_STREAM));

TEST_P(EpollUdpTest, TwoDatagramsUnderOneEventAreBothRead) {
  // A UDP receive takes one datagram, so a short read says nothing about
  // what is left: the second datagram must be read without a new event.
  ParkAndComplete();
  ASSERT_NO_FATAL_FAILURE(ParkThenDeliver([this] {
    Send("1");
    Send("2");
    ASSERT_TRUE(WaitFor(fds_[0], POLLIN));
  }));
  IoOp second;
  if (!ReadAtOnce(second, "the second datagram waits for an event")) return;
  EXPECT_EQ(second.result, 1);
}

INSTANTIATE_TEST_SUITE_P(Udp, EpollUdpTest, ::testing::Values(SOCK_DGRAM));

TEST(EpollDriverUnixTest, AShortReadOnAUnixSocketKeepsTheTry) {
  // A Unix stream receive may stop short at a message carrying descriptors
  // with more input behind it, so a short read there says nothing.
  auto driver = NewEpollDriver();
  ASSERT_TRUE(driver.ok()) << driver.status();
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  auto source = (*driver)->Register(fds[0]);
  ASSERT_TRUE(source.ok()) << source.status();
  char buf[16];
  auto read = [&](IoOp& op) {
    op.code = IoOp::Code::kRecv;
    op.source = *source;
    op.buf = buf;
    op.len = sizeof(buf);
    return (*driver)->TryNow(&op);
  };
  ASSERT_EQ(write(fds[1], "a", 1), 1);
  IoOp first;
  ASSERT_TRUE(read(first));
  ASSERT_EQ(first.result, 1);
  ASSERT_EQ(write(fds[1], "b", 1), 1);
  IoOp second;
  EXPECT_TRUE(read(second)) << "skipped the try after a short Unix read";
  EXPECT_EQ(second.result, 1);
  (*driver)->Deregister(*source);
  close(fds[1]);
}

}  // namespace
}  // namespace tidepool::internal
