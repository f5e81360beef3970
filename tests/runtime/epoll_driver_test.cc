// EpollDriver's read side: a read that found nothing reaches Start(), which
// tries again only if a readability event came in between; input that
// arrives around that moment is never lost, whether its event is reaped
// before Start() (the retry takes it) or after (the parked read takes it).
#include "runtime/internal/io/epoll_driver.h"

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
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
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

  // A receive op on the registered end, into buf_.
  void Prepare(IoOp& op) {
    op.code = IoOp::Code::kRecv;
    op.source = source_;
    op.buf = buf_;
    op.len = sizeof(buf_);
  }

  void Send(char c) { ASSERT_EQ(write(fds_[1], &c, 1), 1); }

  // Reaps whatever events are queued, without waiting.
  void Reap() {
    driver_->Wait(std::chrono::steady_clock::now(), driver_->unparks());
  }

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

}  // namespace
}  // namespace tidepool::internal
