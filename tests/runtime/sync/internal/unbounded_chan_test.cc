// The lock-free unbounded channel (runtime/sync/internal/unbounded_chan.h)
// through its public ends: order across blocks, a receiver parked at every
// offset of a block, closing and dropping from either side, what happens to
// values nobody received, and stress from threads outside the runtime with
// the receiver closing or being aborted midway.
#include "runtime/sync/internal/unbounded_chan.h"

#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "runtime/sync/mpsc.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

using testing::FinishesSoon;
using testing::LetOthersRun;
using testing::MakeRuntime;
using testing::WasCancelled;

// More than a few blocks of 31 values, and not a multiple of 31.
constexpr int kManyBlocks = 31 * 7 + 5;

// Receives until the channel ends; how many values came.
Task<int> CountUntilTheEnd(mpsc::UnboundedReceiver<int>* rx) {
  int n = 0;
  while (co_await rx->recv()) ++n;
  co_return n;
}

TEST(UnboundedChanTest, ValuesQueuedAcrossBlocksArriveInOrder) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    for (int i = 0; i < kManyBlocks; ++i) EXPECT_TRUE(tx.send(i));
    { auto dropped = std::move(tx); }
    for (int i = 0; i < kManyBlocks; ++i) {
      if (i % 2 == 0) {
        EXPECT_EQ(co_await rx.recv(), std::optional<int>(i));
      } else {
        EXPECT_EQ(rx.try_recv().value_or(-1), i);
      }
    }
    EXPECT_EQ(co_await rx.recv(), std::nullopt);
    EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kClosed);
  };
  rt.block_on(root());
}

// The receiver waits before every value, so it parks on each offset of
// several blocks, the first slot of a fresh block included, and the sender
// of that slot must wake it.
TEST(UnboundedChanTest, ReceiverParkedOnEverySlotIsWoken) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    std::vector<int> got;
    auto receive = [&got](mpsc::UnboundedReceiver<int>* rx) -> Task<void> {
      while (std::optional<int> v = co_await rx->recv()) got.push_back(*v);
    };
    JoinHandle<void> h = spawn(receive(&rx));
    for (int i = 0; i < 3 * 31 + 2; ++i) {
      co_await LetOthersRun();
      EXPECT_EQ(got.size(), static_cast<size_t>(i)) << "lost wake-up";
      EXPECT_TRUE(tx.send(i));
    }
    { auto dropped = std::move(tx); }
    const bool finished = co_await FinishesSoon(h);
    EXPECT_TRUE(finished);
    EXPECT_EQ(got.size(), size_t{3 * 31 + 2});
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], int(i));
  };
  rt.block_on(root());
}

TEST(UnboundedChanTest, CloseWakesAReceiverParkedMidBlock) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    for (int i = 0; i < 40; ++i) EXPECT_TRUE(tx.send(i));
    JoinHandle<int> h = spawn(CountUntilTheEnd(&rx));
    co_await LetOthersRun();
    EXPECT_FALSE(h.is_finished());
    rx.close();  // as if from another task
    EXPECT_TRUE(tx.is_closed());
    EXPECT_FALSE(tx.send(99));
    const bool finished = co_await FinishesSoon(h);
    EXPECT_TRUE(finished);
    if (finished) {
      EXPECT_EQ(co_await h, 40);
    }
  };
  rt.block_on(root());
}

TEST(UnboundedChanTest, CloseKeepsQueuedValuesReceivable) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    for (int i = 0; i < kManyBlocks; ++i) EXPECT_TRUE(tx.send(i));
    rx.close();
    EXPECT_FALSE(tx.send(-1));
    for (int i = 0; i < kManyBlocks; ++i) {
      EXPECT_EQ(co_await rx.recv(), std::optional<int>(i));
    }
    EXPECT_EQ(co_await rx.recv(), std::nullopt);
  };
  rt.block_on(root());
}

TEST(UnboundedChanTest, LastSenderDroppingWakesAReceiverParkedOnANewBlock) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    // 31 values fill the first block: the receiver parks on the next one.
    for (int i = 0; i < 31; ++i) EXPECT_TRUE(tx.send(i));
    JoinHandle<int> h = spawn(CountUntilTheEnd(&rx));
    co_await LetOthersRun();
    mpsc::UnboundedSender<int> copy = tx;
    { auto dropped = std::move(tx); }
    co_await LetOthersRun();
    EXPECT_FALSE(h.is_finished());  // a copy is still alive
    { auto dropped = std::move(copy); }
    const bool finished = co_await FinishesSoon(h);
    EXPECT_TRUE(finished);
    if (finished) {
      EXPECT_EQ(co_await h, 31);
    }
  };
  rt.block_on(root());
}

// Values nobody received die with the receiver, once and across blocks
// (ASan checks the blocks).
TEST(UnboundedChanTest, UnreceivedValuesAreDestroyedOnce) {
  auto value = std::make_shared<int>(1);
  {
    auto [tx, rx] = mpsc::unbounded_channel<std::shared_ptr<int>>();
    for (int i = 0; i < kManyBlocks; ++i) EXPECT_TRUE(tx.send(value));
    EXPECT_EQ(rx.try_recv().value_or(nullptr), value);
    EXPECT_EQ(value.use_count(), 1 + kManyBlocks - 1);
    { auto dropped = std::move(rx); }
    EXPECT_EQ(value.use_count(), 1);
    EXPECT_FALSE(tx.send(value));
  }
  {
    auto [tx, rx] = mpsc::unbounded_channel<std::shared_ptr<int>>();
    for (int i = 0; i < kManyBlocks; ++i) EXPECT_TRUE(tx.send(value));
    { auto dropped = std::move(tx); }
    EXPECT_EQ(value.use_count(), 1 + kManyBlocks);
  }
  EXPECT_EQ(value.use_count(), 1);
}

// Closing right at a block's end, or one slot either side of it: every
// value sent before is received, then the end.
TEST(UnboundedChanTest, CloseAtBlockBoundaries) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    for (int n : {30, 31, 32, 61, 62, 63}) {
      auto [tx, rx] = mpsc::unbounded_channel<int>();
      for (int i = 0; i < n; ++i) EXPECT_TRUE(tx.send(i));
      rx.close();
      EXPECT_FALSE(tx.send(-1));
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(co_await rx.recv(), std::optional<int>(i)) << n;
      }
      EXPECT_EQ(co_await rx.recv(), std::nullopt) << n;
    }
  };
  rt.block_on(root());
}

// The channel itself, with no receiver to drain it first: its destructor
// destroys what is left, across blocks.
TEST(UnboundedChanTest, ChannelDestroysWhatNobodyReceived) {
  auto value = std::make_shared<int>(1);
  {
    internal::UnboundedChan<std::shared_ptr<int>> chan;
    for (int i = 0; i < kManyBlocks; ++i) {
      std::shared_ptr<int> copy = value;
      EXPECT_TRUE(chan.Send(copy));
    }
    EXPECT_EQ(value.use_count(), 1 + kManyBlocks);
  }
  EXPECT_EQ(value.use_count(), 1);
}

// A receiver was woken with a value but has not run yet: another task
// receiving now would take that value and leave the first one with the end
// of the channel. It is refused, as a second concurrent receiver.
TEST(UnboundedChanTest, ReceivingBeforeAWokenReceiverRunsIsRejected) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    auto receive = [](mpsc::UnboundedReceiver<int>* rx) -> Task<int> {
      co_return (co_await rx->recv()).value_or(-1);
    };
    JoinHandle<int> h = spawn(receive(&rx));
    co_await LetOthersRun();
    EXPECT_TRUE(tx.send(7));  // wakes the parked receiver; it runs later
    EXPECT_THROW((void)rx.try_recv(), std::logic_error);
    EXPECT_EQ(co_await h, 7);
  };
  rt.block_on(root());
}

// Threads outside the runtime send (producer, sequence) pairs while a task
// receives; block links race with claims and with the receiver parking.
TEST(UnboundedChanTest, StressThreadsSendInOrderPerProducer) {
  Runtime rt = MakeRuntime(2);
  constexpr int kProducers = 4;
  const int n = 50'000 * testing::Scale();
  auto [tx, rx] = mpsc::unbounded_channel<std::pair<int, int>>();
  auto receive =
      [](mpsc::UnboundedReceiver<std::pair<int, int>> rx) -> Task<long> {
    std::vector<int> next(kProducers, 0);
    long total = 0;
    while (std::optional<std::pair<int, int>> v = co_await rx.recv()) {
      EXPECT_EQ(v->second, next[v->first]) << "producer " << v->first;
      next[v->first] = v->second + 1;
      ++total;
    }
    co_return total;
  };
  JoinHandle<long> h = rt.spawn(receive(std::move(rx)));
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([p, n, tx = tx]() mutable {
      for (int i = 0; i < n; ++i) {
        EXPECT_TRUE(tx.send({p, i}));
        if (i % 1000 == 0) std::this_thread::yield();
      }
    });
  }
  { auto dropped = std::move(tx); }
  for (auto& t : threads) t.join();
  auto root = [&h]() -> Task<long> { co_return co_await h; };
  EXPECT_EQ(rt.block_on(root()), long{kProducers} * n);
}

// The receiver closes midway while threads keep sending: every send that
// reported success is received exactly once, and none after the close.
TEST(UnboundedChanTest, StressCloseWhileThreadsSend) {
  Runtime rt = MakeRuntime(2);
  for (int round = 0; round < 20 * testing::Scale(); ++round) {
    constexpr int kProducers = 3;
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    std::vector<std::atomic<int>> confirmed(kProducers);
    std::vector<std::thread> threads;
    for (int p = 0; p < kProducers; ++p) {
      threads.emplace_back([p, &confirmed, tx = tx]() mutable {
        for (;;) {
          if (!tx.send(p)) break;
          confirmed[p].fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    { auto dropped = std::move(tx); }
    auto receive =
        [round](mpsc::UnboundedReceiver<int> rx) -> Task<std::vector<long>> {
      std::vector<long> got(kProducers, 0);
      long total = 0;
      while (std::optional<int> v = co_await rx.recv()) {
        ++got[*v];
        if (++total == 1000 + 97 * round) rx.close();
      }
      co_return got;
    };
    std::vector<long> got = rt.block_on(receive(std::move(rx)));
    for (auto& t : threads) t.join();
    for (int p = 0; p < kProducers; ++p) {
      EXPECT_EQ(got[p], confirmed[p].load()) << "producer " << p;
    }
  }
}

// Receivers are aborted at random, parked or not, while a thread sends:
// a value whose slot a dying receiver was parked on stays queued for the
// next one, so every value is received exactly once.
TEST(UnboundedChanTest, StressReceiversAbortedWhileParked) {
  Runtime rt = MakeRuntime(2);
  const int kValues = 20'000 * testing::Scale();
  auto [tx, rx] = mpsc::unbounded_channel<int>();
  std::thread producer([kValues, tx = std::move(tx)]() mutable {
    for (int i = 0; i < kValues; ++i) {
      EXPECT_TRUE(tx.send(i));
      if (i % 7 == 0) std::this_thread::yield();
    }
  });
  auto root = [&rx, kValues]() -> Task<std::vector<int>> {
    std::minstd_rand rng(5);
    std::vector<int> seen(kValues, 0);
    co_await testing::ReceiveWithRandomAborts(&rx, &seen, &rng, 2, [] {});
    co_return seen;
  };
  std::vector<int> seen = rt.block_on(root());
  producer.join();
  for (int v = 0; v < kValues; ++v) EXPECT_EQ(seen[v], 1) << v;
}

}  // namespace
}  // namespace tidepool
