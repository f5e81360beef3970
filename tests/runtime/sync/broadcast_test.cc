// broadcast::channel: every receiver gets every value, lag with the count
// skipped, close after draining, cancellation of a waiter, stress.
#include "runtime/sync/broadcast.h"

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using testing::FinishesSoon;
using testing::LetOthersRun;
using testing::MakeRuntime;

// Awaits `h` and reports whether the task was cancelled.
Task<bool> WasCancelled(JoinHandle<absl::StatusOr<int>>& h) {
  try {
    (void)co_await h;
  } catch (const TaskCancelled&) {
    co_return true;
  }
  co_return false;
}

TEST(BroadcastTest, Contract) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<bool> {
    auto [btx, brx1] = broadcast::channel<int>(16);
    auto brx2 = btx.subscribe();
    btx.send(3);
    absl::StatusOr<int> v1 = co_await brx1.recv();
    absl::StatusOr<int> v2 = co_await brx2.recv();
    co_return v1.ok() && *v1 == 3 && v2.ok() && *v2 == 3;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(BroadcastTest, ZeroCapacityIsRejected) {
  EXPECT_THROW(broadcast::channel<int>(0), std::invalid_argument);
}

TEST(BroadcastTest, LaggingReceiverIsToldHowManyItSkipped) {
  auto [tx, rx] = broadcast::channel<int>(4);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(tx.send(i));
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    absl::StatusOr<int> v = co_await rx.recv();
    EXPECT_TRUE(broadcast::IsLagged(v.status())) << v.status();
    EXPECT_FALSE(broadcast::IsClosed(v.status()));
    EXPECT_NE(v.status().message().find("6 values skipped"), std::string::npos)
        << v.status();
    // It goes on from the oldest value held.
    for (int i = 6; i < 10; ++i) {
      absl::StatusOr<int> next = co_await rx.recv();
      EXPECT_TRUE(next.ok() && *next == i) << next.status();
    }
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::kEmpty);
  };
  rt.block_on(root());
}

TEST(BroadcastTest, ClosedOnlyAfterDraining) {
  auto [tx, rx] = broadcast::channel<std::string>(4);
  broadcast::Sender<std::string> tx2 = tx;
  tx.send("a");
  { broadcast::Sender<std::string> gone = std::move(tx); }
  tx2.send("b");
  { broadcast::Sender<std::string> gone = std::move(tx2); }
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    EXPECT_EQ(*co_await rx.recv(), "a");
    EXPECT_EQ(*co_await rx.recv(), "b");
    absl::StatusOr<std::string> end = co_await rx.recv();
    EXPECT_TRUE(broadcast::IsClosed(end.status())) << end.status();
    EXPECT_FALSE(broadcast::IsLagged(end.status()));
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::kClosed);
  };
  rt.block_on(root());
}

TEST(BroadcastTest, SendWithoutReceiversFailsAndSubscribersSeeOnlyNewValues) {
  auto [tx, rx] = broadcast::channel<int>(4);
  tx.send(1);
  broadcast::Receiver<int> late = tx.subscribe();
  tx.send(2);
  EXPECT_EQ(*late.try_recv(), 2);
  EXPECT_EQ(*rx.try_recv(), 1);
  {
    broadcast::Receiver<int> a = std::move(rx);
    broadcast::Receiver<int> b = std::move(late);
  }
  EXPECT_EQ(tx.receiver_count(), 0u);
  EXPECT_FALSE(tx.send(3));
}

TEST(BroadcastTest, WaitingReceiversWakeOnSendAndOnClose) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = broadcast::channel<int>(2);
    broadcast::Receiver<int> rx2 = tx.subscribe();
    auto one = [](broadcast::Receiver<int>* rx) -> Task<absl::StatusOr<int>> {
      co_return co_await rx->recv();
    };
    JoinHandle<absl::StatusOr<int>> a = spawn(one(&rx));
    JoinHandle<absl::StatusOr<int>> b = spawn(one(&rx2));
    co_await LetOthersRun();
    EXPECT_FALSE(a.is_finished());
    tx.send(9);
    EXPECT_TRUE(co_await FinishesSoon(a));
    EXPECT_TRUE(co_await FinishesSoon(b));
    EXPECT_EQ(*co_await a, 9);
    EXPECT_EQ(*co_await b, 9);
    JoinHandle<absl::StatusOr<int>> c = spawn(one(&rx));
    co_await LetOthersRun();
    { broadcast::Sender<int> gone = std::move(tx); }
    EXPECT_TRUE(co_await FinishesSoon(c));
    EXPECT_TRUE(broadcast::IsClosed((co_await c).status()));
  };
  rt.block_on(root());
}

TEST(BroadcastTest, AbortedOrTimedOutReceiverLosesNothing) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = broadcast::channel<int>(4);
    auto one = [](broadcast::Receiver<int>* rx) -> Task<absl::StatusOr<int>> {
      co_return co_await rx->recv();
    };
    JoinHandle<absl::StatusOr<int>> a = spawn(one(&rx));
    co_await LetOthersRun();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    absl::StatusOr<absl::StatusOr<int>> timed_out =
        co_await timeout(1ms, one(&rx));
    EXPECT_TRUE(absl::IsDeadlineExceeded(timed_out.status()));
    tx.send(4);
    absl::StatusOr<int> v = co_await rx.recv();
    EXPECT_TRUE(v.ok() && *v == 4);
  };
  rt.block_on(root());
}

// Two senders on two workers send distinct values into a small ring while
// receivers on both workers read: each receiver must see, per sender, an
// increasing sequence, and account for every value as received or skipped
// (reported lag); all must end when the senders go.
TEST(BroadcastTest, StressOnTwoWorkers) {
  Runtime rt = MakeRuntime(2);
  const int per_sender = 3000 * testing::StressScale();
  std::atomic<int> bad{0};
  struct Count {
    long received = 0;
    long skipped = 0;
  };
  auto receiver = [&](broadcast::Receiver<int> rx) -> Task<Count> {
    Count c;
    int last[2] = {-1, -1};
    while (true) {
      absl::StatusOr<int> v = co_await rx.recv();
      if (v.ok()) {
        ++c.received;
        const int who = *v % 2;
        if (*v / 2 <= last[who]) bad.fetch_add(1);
        last[who] = *v / 2;
      } else if (broadcast::IsLagged(v.status())) {
        const std::string msg(v.status().message());
        const size_t at = msg.find(", ") + 2;
        c.skipped += std::stol(msg.substr(at));
      } else {
        EXPECT_TRUE(broadcast::IsClosed(v.status()));
        break;
      }
      if (c.received % 5 == 0) co_await yield_now();
    }
    co_return c;
  };
  auto sender = [&](broadcast::Sender<int> tx, int who) -> Task<void> {
    for (int i = 0; i < per_sender; ++i) {
      tx.send(i * 2 + who);
      if (i % 3 == 0) co_await yield_now();
    }
  };
  auto root = [&]() -> Task<void> {
    auto [tx, rx] = broadcast::channel<int>(8);
    std::vector<JoinHandle<Count>> rs;
    for (int i = 0; i < 3; ++i) rs.push_back(spawn(receiver(tx.subscribe())));
    rs.push_back(spawn(receiver(std::move(rx))));
    JoinHandle<void> s1 = spawn(sender(tx, 0));
    JoinHandle<void> s2 = spawn(sender(std::move(tx), 1));
    co_await s1;
    co_await s2;
    for (auto& h : rs) {
      Count c = co_await h;
      EXPECT_EQ(c.received + c.skipped, 2L * per_sender);
    }
  };
  rt.block_on(root());
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace tidepool
