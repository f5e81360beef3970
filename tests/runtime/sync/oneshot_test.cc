// oneshot: delivery, dropped/closed ends, cancellation of the receiving
// task (the value is kept), and stress across two workers.
#include "runtime/sync/oneshot.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

using testing::FinishesSoon;
using testing::LetOthersRun;
using testing::MakeRuntime;
using testing::WasCancelled;

Task<void> SendLater(oneshot::Sender<int> tx, int v) {
  co_await yield_now();
  tx.send(v);
}

TEST(OneshotTest, IssueExample) {
  Runtime rt = MakeRuntime(2);
  auto demo = []() -> Task<int> {
    auto [tx, rx] = oneshot::channel<int>();
    spawn(SendLater(std::move(tx), 7)).detach();
    int v = *(co_await std::move(rx));
    co_return v;
  };
  EXPECT_EQ(rt.block_on(demo()), 7);
}

// The value lives in the channel: an over-aligned type must get its
// alignment there (the channel's memory normally comes from a cache with
// malloc's alignment).
struct alignas(128) Wide {
  explicit Wide(int v) : v(v) {}
  Wide(Wide&& o) noexcept : v(o.v), aligned(o.aligned && Aligned()) {}
  bool Aligned() const { return reinterpret_cast<uintptr_t>(this) % 128 == 0; }
  int v;
  bool aligned = true;
};

TEST(OneshotTest, OverAlignedValueIsAligned) {
  for (int i = 0; i < 100; ++i) {
    auto [tx, rx] = oneshot::channel<Wide>();
    EXPECT_TRUE(tx.send(Wide(i)));
    auto v = rx.try_recv();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->v, i);
    // Every place the value was moved through, the channel included.
    EXPECT_TRUE(v->aligned);
  }
}

TEST(OneshotTest, ValueSentBeforeAwaitIsReady) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<std::string> {
    auto [tx, rx] = oneshot::channel<std::string>();
    EXPECT_TRUE(tx.send("hi"));
    absl::StatusOr<std::string> v = co_await rx;
    co_return *v;
  };
  EXPECT_EQ(rt.block_on(root()), "hi");
}

TEST(OneshotTest, DroppedSenderFailsTheWaitingReceiver) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = oneshot::channel<int>();
    auto drop_later = [](oneshot::Sender<int> tx) -> Task<void> {
      co_await yield_now();
      oneshot::Sender<int> dropped = std::move(tx);
    };
    JoinHandle<void> h = spawn(drop_later(std::move(tx)));
    absl::StatusOr<int> v = co_await std::move(rx);
    EXPECT_TRUE(absl::IsFailedPrecondition(v.status())) << v.status();
    co_await h;
  };
  rt.block_on(root());
}

TEST(OneshotTest, SendFailsOnceTheReceiverIsGone) {
  auto [tx, rx] = oneshot::channel<std::unique_ptr<int>>();
  EXPECT_FALSE(tx.is_closed());
  { oneshot::Receiver<std::unique_ptr<int>> gone = std::move(rx); }
  EXPECT_TRUE(tx.is_closed());
  EXPECT_FALSE(tx.send(std::make_unique<int>(1)));  // ASan: no leak
}

TEST(OneshotTest, CloseRefusesLaterSendsButKeepsAnEarlierValue) {
  {
    auto [tx, rx] = oneshot::channel<int>();
    rx.close();
    EXPECT_FALSE(tx.send(1));
    EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kClosed);
  }
  {
    auto [tx, rx] = oneshot::channel<int>();
    EXPECT_TRUE(tx.send(2));
    rx.close();
    auto v = rx.try_recv();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 2);
  }
}

TEST(OneshotTest, CloseWakesAWaitingReceiver) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = oneshot::channel<int>();
    auto receive = [](oneshot::Receiver<int>* rx) -> Task<bool> {
      absl::StatusOr<int> v = co_await *rx;
      co_return absl::IsFailedPrecondition(v.status());
    };
    JoinHandle<bool> h = spawn(receive(&rx));
    co_await LetOthersRun();
    rx.close();  // as if from another thread
    const bool finished = co_await FinishesSoon(h);
    EXPECT_TRUE(finished);
    if (finished) {
      EXPECT_TRUE(co_await h);
    }
    EXPECT_FALSE(tx.send(1));
  };
  rt.block_on(root());
}

TEST(OneshotTest, TryRecvStates) {
  auto [tx, rx] = oneshot::channel<int>();
  EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kEmpty);
  EXPECT_TRUE(tx.send(3));
  EXPECT_EQ(*rx.try_recv(), 3);
  EXPECT_THROW((void)rx.try_recv(), std::logic_error);  // received already
}

TEST(OneshotTest, SenderIsUsedUpBySend) {
  auto [tx, rx] = oneshot::channel<int>();
  EXPECT_TRUE(tx.send(1));
  EXPECT_THROW(tx.send(2), std::logic_error);
  EXPECT_TRUE(tx.is_closed());
}

TEST(OneshotTest, AbortedReceiverLeavesTheValueInTheChannel) {
  // The receiving task is aborted while waiting; the value sent afterwards
  // is still there for the Receiver, which outlives that task.
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = oneshot::channel<int>();
    auto receive = [](oneshot::Receiver<int>* rx) -> Task<int> {
      co_return *(co_await *rx);
    };
    JoinHandle<int> h = spawn(receive(&rx));
    co_await LetOthersRun();
    h.abort();
    EXPECT_TRUE(co_await WasCancelled(h));
    EXPECT_TRUE(tx.send(5));
    EXPECT_EQ(*(co_await rx), 5);
  };
  rt.block_on(root());
}

TEST(OneshotTest, ReceiverAbortedAfterTheSendKeepsTheValue) {
  // The send wakes the receiving task, which is aborted before it runs.
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = oneshot::channel<int>();
    auto receive = [](oneshot::Receiver<int>* rx) -> Task<int> {
      co_return *(co_await *rx);
    };
    JoinHandle<int> h = spawn(receive(&rx));
    co_await LetOthersRun();
    EXPECT_TRUE(tx.send(6));
    h.abort();
    EXPECT_TRUE(co_await WasCancelled(h));
    EXPECT_EQ(rx.try_recv().value_or(-1), 6);
  };
  rt.block_on(root());
}

TEST(OneshotTest, ShutdownWithAWaitingReceiver) {
  // The runtime destroys the waiting task; the sender, outliving it, then
  // finds the channel closed. ASan checks for leaks and stale references.
  std::optional<oneshot::Sender<int>> keep;
  {
    Runtime rt = MakeRuntime(2);
    auto [tx, rx] = oneshot::channel<int>();
    keep.emplace(std::move(tx));
    auto receive = [](oneshot::Receiver<int> rx) -> Task<void> {
      (void)co_await std::move(rx);
    };
    rt.spawn(receive(std::move(rx))).detach();
  }
  EXPECT_TRUE(keep->is_closed());
  EXPECT_FALSE(keep->send(1));
}

// Thousands of channels, each with the sender and the receiver in different
// tasks on two workers; some senders drop without sending, some receiving
// tasks are aborted. Every outcome is accounted for exactly once.
TEST(OneshotTest, StressAcrossWorkers) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    std::minstd_rand rng(5);
    std::atomic<long> received{0}, failed{0};
    auto sender = [](oneshot::Sender<long> tx, long v, bool drop,
                     int yields) -> Task<void> {
      for (int i = 0; i < yields; ++i) co_await yield_now();
      if (!drop) tx.send(v);
    };
    auto receiver = [&](oneshot::Receiver<long> rx) -> Task<void> {
      absl::StatusOr<long> v = co_await std::move(rx);
      if (v.ok()) {
        received.fetch_add(*v);
      } else {
        failed.fetch_add(1);
      }
    };
    long want_received = 0, want_failed = 0;
    for (int round = 0; round < 200 * testing::Scale(); ++round) {
      std::vector<JoinHandle<void>> rxs, txs;
      std::vector<bool> dropped;
      for (int i = 0; i < 100; ++i) {
        auto [tx, rx] = oneshot::channel<long>();
        const bool drop = rng() % 5 == 0;
        dropped.push_back(drop);
        rxs.push_back(spawn(receiver(std::move(rx))));
        txs.push_back(spawn(sender(std::move(tx), i, drop, rng() % 3)));
      }
      for (int i = 0; i < 100; i += 7) rxs[i].abort();
      for (int i = 0; i < 100; ++i) {
        if (!co_await WasCancelled(rxs[i])) {
          if (dropped[i]) {
            ++want_failed;
          } else {
            want_received += i;
          }
        }
        co_await txs[i];
      }
    }
    EXPECT_EQ(received.load(), want_received);
    EXPECT_EQ(failed.load(), want_failed);
  };
  rt.block_on(root());
}

// close() races with send() while the receiving task waits, on two
// workers: the receiver gets the value exactly when send() reported
// success, and is always woken.
TEST(OneshotTest, StressCloseRacesSend) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    std::minstd_rand rng(23);
    auto receive = [](oneshot::Receiver<int>* rx) -> Task<bool> {
      co_return (co_await *rx).ok();
    };
    auto send = [](oneshot::Sender<int> tx, int yields) -> Task<bool> {
      for (int i = 0; i < yields; ++i) co_await yield_now();
      co_return tx.send(1);
    };
    for (int round = 0; round < 2000 * testing::Scale(); ++round) {
      auto [tx, rx] = oneshot::channel<int>();
      JoinHandle<bool> r = spawn(receive(&rx));
      JoinHandle<bool> s = spawn(send(std::move(tx), rng() % 3));
      for (int y = rng() % 3; y > 0; --y) co_await yield_now();
      rx.close();
      const bool sent = co_await s;
      EXPECT_EQ(co_await r, sent);
    }
  };
  rt.block_on(root());
}

// Two tasks on two workers bat a ball back and forth; each ball carries
// the sender on which to return the next one, so every hit is a fresh
// channel. A lost wake-up hangs, a lost value breaks the count.
struct Ball {
  long hits;
  oneshot::Sender<Ball> back;
};

Task<long> Player(oneshot::Receiver<Ball> rx, int rounds) {
  long last = -1;
  for (int i = 0; i < rounds; ++i) {
    absl::StatusOr<Ball> ball = co_await std::move(rx);
    if (!ball.ok()) co_return -1;
    last = ball->hits;
    auto [tx, next] = oneshot::channel<Ball>();
    rx = std::move(next);
    // The peer may have finished and dropped its receiver: ignore.
    (void)ball->back.send(Ball{ball->hits + 1, std::move(tx)});
  }
  co_return last;
}

TEST(OneshotTest, StressPingPong) {
  Runtime rt = MakeRuntime(2);
  const int rounds = 50000 * testing::Scale();
  auto root = [rounds]() -> Task<void> {
    auto [a_tx, a_rx] = oneshot::channel<Ball>();
    auto [b_tx, b_rx] = oneshot::channel<Ball>();
    JoinHandle<long> a = spawn(Player(std::move(a_rx), rounds));
    JoinHandle<long> b = spawn(Player(std::move(b_rx), rounds));
    EXPECT_TRUE(a_tx.send(Ball{0, std::move(b_tx)}));
    EXPECT_EQ(co_await a, 2L * (rounds - 1));
    EXPECT_EQ(co_await b, 2L * rounds - 1);
  };
  rt.block_on(root());
}

}  // namespace
}  // namespace tidepool
