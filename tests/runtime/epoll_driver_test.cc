// EpollDriver's read side: a read that found nothing reaches Start(), which
// tries again only if a readability event came in between; input that
// arrives around that moment is never lost, whether its event is reaped
// before Start() (the retry takes it) or after (the parked read takes it).
// A receive after one that left the socket drained skips its first try,
// and whatever says input may be left (end of stream, a readiness poll
// that found input) brings the try back.
#include "runtime/internal/io/epoll_driver.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "gtest/gtest.h"
#include "runtime/internal/io/io_driver.h"
#include "tests/util/fake_task.h"

namespace tidepool::internal {
namespace {

class EpollDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto driver = NewEpollDriver();
    ASSERT_TRUE(driver.ok()) << driver.status();
    driver_ = *std::move(driver);
    ConnectTcp();
    auto source = driver_->Register(fds_[0]);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = *source;
    // Marked scheduled, so that the driver's wake-up only drops the
    // reference it took: the fake has no scheduler to queue it on.
    task_->state().SetScheduledUnshared();
  }

  void TearDown() override {
    if (source_ != nullptr) driver_->Deregister(source_);
    close(fds_[1]);
    task_->Unref();
    EXPECT_TRUE(destroyed_.load()) << "the driver kept a reference";
  }

  // fds_[0], non-blocking, and fds_[1]: the two ends of a loopback TCP
  // connection.
  void ConnectTcp() {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len),
              0);
    fds_[1] = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(fds_[1], reinterpret_cast<sockaddr*>(&addr), len), 0);
    fds_[0] = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    ASSERT_GE(fds_[0], 0);
    close(listener);
    const int one = 1;
    ASSERT_EQ(setsockopt(fds_[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)),
              0);
  }

  // A receive op on the registered end, into buf_.
  void Prepare(IoOp& op) {
    op.code = IoOp::Code::kRecv;
    op.source = source_;
    op.buf = buf_;
    op.len = sizeof(buf_);
  }

  void Send(char c) { ASSERT_EQ(write(fds_[1], &c, 1), 1); }

  // Reaps the events queued within a few milliseconds (loopback delivers
  // at once; the margin is for a loaded machine).
  void Reap() {
    driver_->Wait(std::chrono::steady_clock::now() + kReapWindow,
                  driver_->unparks());
  }
  static constexpr std::chrono::milliseconds kReapWindow{20};

  // One read that parks and is completed by its event: afterwards no event
  // is pending and none is remembered.
  void ParkAndComplete() {
    IoOp op;
    Prepare(op);
    ASSERT_FALSE(driver_->TryNow(&op));
    ASSERT_TRUE(driver_->Start(&op, task_));
    Send('x');
    Reap();
    ASSERT_TRUE(op.done.load());
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

TEST_F(EpollDriverTest, InputReapedBetweenTryAndStartIsTakenByStart) {
  ParkAndComplete();
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));
  Send('y');
  Reap();  // no reader parked: the event is remembered
  if (driver_->Start(&op, task_)) {
    driver_->Cancel(&op);
    FAIL() << "parked with input waiting";
  }
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf_[0], 'y');
}

TEST_F(EpollDriverTest, InputReapedAfterStartCompletesTheParkedRead) {
  ParkAndComplete();
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));
  Send('z');
  // The event is still queued in the epoll set: Start parks, and the reap
  // retries the parked read.
  ASSERT_TRUE(driver_->Start(&op, task_));
  Reap();
  if (!op.done.load()) {
    driver_->Cancel(&op);
    FAIL() << "the parked read missed its input";
  }
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf_[0], 'z');
}

TEST_F(EpollDriverTest, AReadOnANewSourceTriesAgainInStart) {
  // Before any event the state is unknown, so Start tries.
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));
  Send('w');
  if (driver_->Start(&op, task_)) {
    driver_->Cancel(&op);
    FAIL() << "parked with input waiting";
  }
  EXPECT_EQ(op.result, 1);
}

TEST_F(EpollDriverTest, AfterADrainingReadTheNextReceiveWaitsForAnEvent) {
  ParkAndComplete();  // read 1 byte of 16: the socket is drained
  Send('b');
  IoOp op;
  Prepare(op);
  if (driver_->TryNow(&op)) FAIL() << "tried a drained socket at once";
  ASSERT_TRUE(driver_->Start(&op, task_));
  Reap();
  if (!op.done.load()) {
    driver_->Cancel(&op);
    FAIL() << "the parked read missed its input";
  }
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf_[0], 'b');
}

TEST_F(EpollDriverTest, AfterEndOfStreamAReadReturnsAtOnce) {
  ParkAndComplete();
  ASSERT_EQ(shutdown(fds_[1], SHUT_WR), 0);
  IoOp eof;
  Prepare(eof);
  if (!driver_->TryNow(&eof)) {
    ASSERT_TRUE(driver_->Start(&eof, task_));
    Reap();
    ASSERT_TRUE(eof.done.load());
  }
  ASSERT_EQ(eof.result, 0);
  // No event will come again; the read must not wait for one.
  IoOp again;
  Prepare(again);
  EXPECT_TRUE(driver_->TryNow(&again));
  EXPECT_EQ(again.result, 0);
}

TEST_F(EpollDriverTest, EndOfStreamBehindAShortReadIsFoundAtOnce) {
  ParkAndComplete();
  // Input and the end of stream arrive together and raise one event, which
  // the parked read takes: it reads the byte, fewer than it asked for, and
  // the end of stream is left with no event to come.
  IoOp op;
  Prepare(op);
  ASSERT_FALSE(driver_->TryNow(&op));
  ASSERT_TRUE(driver_->Start(&op, task_));
  Send('d');
  ASSERT_EQ(shutdown(fds_[1], SHUT_WR), 0);
  Reap();
  ASSERT_TRUE(op.done.load());
  ASSERT_EQ(op.result, 1);
  IoOp eof;
  Prepare(eof);
  if (!driver_->TryNow(&eof) && driver_->Start(&eof, task_)) {
    driver_->Cancel(&eof);
    FAIL() << "waits for an event that will not come";
  }
  EXPECT_EQ(eof.result, 0);
}

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

TEST_F(EpollDriverTest, AReadinessPollThatFindsInputBringsTheTryBack) {
  ParkAndComplete();
  Send('c');
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

}  // namespace
}  // namespace tidepool::internal
