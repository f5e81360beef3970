// mpsc: FIFO delivery, back-pressure, closing from either side,
// cancellation of blocked senders and of the receiver, and stress with
// several producers on two workers.
#include "runtime/sync/mpsc.h"

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
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

TEST(MpscTest, IssueExample) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<std::string> {
    auto [mtx, mrx] = mpsc::channel<std::string>(16);
    co_await mtx.send("x");
    std::optional<std::string> s = co_await mrx.recv();
    co_return *s;
  };
  EXPECT_EQ(rt.block_on(root()), "x");
}

TEST(MpscTest, ZeroCapacityIsRejected) {
  EXPECT_THROW(mpsc::channel<int>(0), std::invalid_argument);
}

TEST(MpscTest, ReceiverSeesTheEndAfterTheLastSenderDrops) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<int>(4);
    {
      mpsc::Sender<int> copy = tx;
      EXPECT_TRUE(co_await copy.send(1));
      EXPECT_TRUE(co_await tx.send(2));
      mpsc::Sender<int> dropped = std::move(tx);
    }
    EXPECT_EQ(co_await rx.recv(), std::optional<int>(1));
    EXPECT_EQ(co_await rx.recv(), std::optional<int>(2));
    EXPECT_EQ(co_await rx.recv(), std::nullopt);
    EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kClosed);
  };
  rt.block_on(root());
}

TEST(MpscTest, WaitingReceiverIsWokenByTheLastSenderDropping) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<int>(4);
    auto receive = [](mpsc::Receiver<int>* rx) -> Task<bool> {
      co_return !(co_await rx->recv()).has_value();
    };
    JoinHandle<bool> h = spawn(receive(&rx));
    co_await LetOthersRun();
    mpsc::Sender<int> copy = tx;
    { mpsc::Sender<int> dropped = std::move(tx); }
    co_await LetOthersRun();
    EXPECT_FALSE(h.is_finished());  // a copy is still alive
    { mpsc::Sender<int> dropped = std::move(copy); }
    EXPECT_TRUE(co_await h);
  };
  rt.block_on(root());
}

TEST(MpscTest, CloseWakesAWaitingReceiver) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<int>(4);
    auto receive = [](mpsc::Receiver<int>* rx) -> Task<bool> {
      co_return !(co_await rx->recv()).has_value();
    };
    JoinHandle<bool> h = spawn(receive(&rx));
    co_await LetOthersRun();
    rx.close();  // as if from another task
    const bool finished = co_await FinishesSoon(h);
    EXPECT_TRUE(finished);
    if (finished) {
      EXPECT_TRUE(co_await h);
    }
    EXPECT_FALSE(co_await tx.send(1));
  };
  rt.block_on(root());
}

TEST(MpscTest, SendWaitsWhileFullAndBlockedSendersKeepTheirOrder) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<int>(2);
    EXPECT_TRUE(co_await tx.send(0));
    EXPECT_TRUE(co_await tx.send(1));
    EXPECT_TRUE(tx.try_send(9).error() == TrySendError::kFull);
    auto send = [](mpsc::Sender<int> tx, int v) -> Task<bool> {
      co_return co_await tx.send(v);
    };
    std::vector<JoinHandle<bool>> hs;
    for (int v = 2; v < 6; ++v) {
      hs.push_back(spawn(send(tx, v)));
      co_await LetOthersRun();
    }
    EXPECT_FALSE(hs[0].is_finished());
    // Room made by the receiver goes to the blocked senders, not to a
    // try_send that comes later.
    EXPECT_EQ(co_await rx.recv(), std::optional<int>(0));
    EXPECT_TRUE(tx.try_send(9).error() == TrySendError::kFull);
    for (int v = 1; v < 6; ++v) {
      EXPECT_EQ(co_await rx.recv(), std::optional<int>(v));
    }
    for (auto& h : hs) EXPECT_TRUE(co_await h);
  };
  rt.block_on(root());
}

TEST(MpscTest, TrySendLeavesTheValueOnFailure) {
  auto [tx, rx] = mpsc::channel<std::unique_ptr<int>>(1);
  auto one = std::make_unique<int>(1);
  EXPECT_TRUE(tx.try_send(std::move(one)).ok());
  EXPECT_EQ(one, nullptr);
  auto two = std::make_unique<int>(2);
  EXPECT_TRUE(tx.try_send(std::move(two)).error() == TrySendError::kFull);
  ASSERT_NE(two, nullptr);
  rx.close();
  EXPECT_TRUE(tx.try_send(std::move(two)).error() == TrySendError::kClosed);
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(*two, 2);
  // Closing keeps what was queued.
  auto got = rx.try_recv();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(**got, 1);
  EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kClosed);
}

TEST(MpscTest, DroppingTheReceiverFailsBlockedAndLaterSends) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<std::unique_ptr<int>>(1);
    EXPECT_TRUE(co_await tx.send(std::make_unique<int>(0)));
    auto send = [](mpsc::Sender<std::unique_ptr<int>> tx) -> Task<bool> {
      co_return co_await tx.send(std::make_unique<int>(1));
    };
    JoinHandle<bool> blocked = spawn(send(tx));
    co_await LetOthersRun();
    EXPECT_FALSE(blocked.is_finished());
    EXPECT_FALSE(tx.is_closed());
    { mpsc::Receiver<std::unique_ptr<int>> gone = std::move(rx); }
    EXPECT_TRUE(tx.is_closed());
    EXPECT_FALSE(co_await blocked);
    EXPECT_FALSE(co_await tx.send(std::make_unique<int>(2)));
  };
  rt.block_on(root());  // ASan: the queued and refused values are freed
}

TEST(MpscTest, AbortedBlockedSenderDoesNotSend) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<int>(1);
    EXPECT_TRUE(co_await tx.send(0));
    auto send = [](mpsc::Sender<int> tx, int v) -> Task<void> {
      co_await tx.send(v);
    };
    JoinHandle<void> a = spawn(send(tx, 1));
    co_await LetOthersRun();
    JoinHandle<void> b = spawn(send(tx, 2));
    co_await LetOthersRun();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    EXPECT_EQ(rx.try_recv().value_or(-1), 0);  // b moves up
    EXPECT_TRUE(co_await FinishesSoon(b));
    EXPECT_EQ(rx.try_recv().value_or(-1), 2);
    EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kEmpty);
  };
  rt.block_on(root());
}

TEST(MpscTest, SenderAdmittedThenAbortedHasSent) {
  // The receiver makes room and moves the blocked sender's value into the
  // queue; the sender is aborted before it runs. The value was sent.
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::channel<int>(1);
    EXPECT_TRUE(co_await tx.send(0));
    auto send = [](mpsc::Sender<int> tx) -> Task<void> { co_await tx.send(1); };
    JoinHandle<void> a = spawn(send(tx));
    co_await LetOthersRun();
    EXPECT_EQ(rx.try_recv().value_or(-1), 0);
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    EXPECT_EQ(rx.try_recv().value_or(-1), 1);
  };
  rt.block_on(root());
}

TEST(MpscTest, ReceiverAbortedAfterAHandOffGivesTheValueBack) {
  // A value handed straight to the waiting receiver, whose task is then
  // aborted before it runs, goes back to the head of the queue.
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    auto receive = [](mpsc::UnboundedReceiver<int>* rx) -> Task<void> {
      co_await rx->recv();
    };
    JoinHandle<void> h = spawn(receive(&rx));
    co_await LetOthersRun();
    EXPECT_TRUE(tx.send(1));  // handed to the waiting task
    EXPECT_TRUE(tx.send(2));  // queued
    h.abort();
    EXPECT_TRUE(co_await WasCancelled(h));
    EXPECT_EQ(rx.try_recv().value_or(-1), 1);
    EXPECT_EQ(rx.try_recv().value_or(-1), 2);
  };
  rt.block_on(root());
}

TEST(MpscTest, AbortedWaitingReceiverCanBeReplaced) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    auto receive =
        [](mpsc::UnboundedReceiver<int>* rx) -> Task<std::optional<int>> {
      co_return co_await rx->recv();
    };
    JoinHandle<std::optional<int>> a = spawn(receive(&rx));
    co_await LetOthersRun();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    JoinHandle<std::optional<int>> b = spawn(receive(&rx));
    co_await LetOthersRun();
    EXPECT_TRUE(tx.send(3));
    const bool finished = co_await FinishesSoon(b);
    EXPECT_TRUE(finished);
    if (finished) {
      EXPECT_EQ(co_await b, std::optional<int>(3));
    }
  };
  rt.block_on(root());
}

TEST(MpscTest, TwoConcurrentReceiversAreRejected) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<bool> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    auto receive = [](mpsc::UnboundedReceiver<int>* rx) -> Task<void> {
      co_await rx->recv();
    };
    JoinHandle<void> a = spawn(receive(&rx));
    co_await LetOthersRun();
    bool rejected = false;
    try {
      co_await rx.recv();
    } catch (const std::logic_error&) {
      rejected = true;
    }
    EXPECT_TRUE(tx.send(1));
    co_await a;
    co_return rejected;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(MpscTest, UnboundedSendFromAForeignThread) {
  Runtime rt = MakeRuntime(2);
  auto [tx, rx] = mpsc::unbounded_channel<int>();
  auto sum = [](mpsc::UnboundedReceiver<int> rx) -> Task<long> {
    long total = 0;
    while (std::optional<int> v = co_await rx.recv()) total += *v;
    co_return total;
  };
  JoinHandle<long> h = rt.spawn(sum(std::move(rx)));
  for (int i = 1; i <= 1000; ++i) ASSERT_TRUE(tx.send(i));
  { mpsc::UnboundedSender<int> dropped = std::move(tx); }
  auto root = [&]() -> Task<long> { co_return co_await h; };
  EXPECT_EQ(rt.block_on(root()), 500500);
}

TEST(MpscTest, ShutdownWithBlockedSendersAndAWaitingReceiver) {
  // The sweep destroys tasks blocked on both ends (ASan: no leak, no
  // use-after-free).
  auto [tx, rx] = mpsc::channel<std::string>(1);
  auto [utx, urx] = mpsc::unbounded_channel<std::string>();
  {
    Runtime rt = MakeRuntime(2);
    std::atomic<int> started{0};
    auto send = [&started](mpsc::Sender<std::string> tx) -> Task<void> {
      started.fetch_add(1);
      while (co_await tx.send(std::string(100, 'x'))) {
      }
    };
    auto receive =
        [&started](mpsc::UnboundedReceiver<std::string> rx) -> Task<void> {
      started.fetch_add(1);
      while (co_await rx.recv()) {
      }
    };
    for (int i = 0; i < 4; ++i) rt.spawn(send(tx)).detach();
    rt.spawn(receive(std::move(urx))).detach();
    while (started.load() < 5) std::this_thread::yield();
    while (tx.try_send(std::string("y")).ok()) {
    }
  }
  EXPECT_TRUE(utx.is_closed());
  // The queue holds one value. Taking it must not refill from the blocked
  // senders: they died with their tasks and left the queue.
  EXPECT_TRUE(rx.try_recv().ok());
  EXPECT_TRUE(rx.try_recv().error() == TryRecvError::kEmpty);
}

// Producers send sequence numbers over a small bounded channel; the
// receiver checks that each producer's values arrive in order and that
// nothing is lost or duplicated.
void RunProducers(int producers, int per_producer, size_t capacity) {
  Runtime rt = MakeRuntime(2);
  auto root = [=]() -> Task<void> {
    auto [tx, rx] = mpsc::channel<std::pair<int, int>>(capacity);
    auto produce = [](mpsc::Sender<std::pair<int, int>> tx, int id,
                      int n) -> Task<void> {
      for (int i = 0; i < n; ++i) {
        EXPECT_TRUE(co_await tx.send({id, i}));
      }
    };
    for (int p = 0; p < producers; ++p) {
      spawn(produce(tx, p, per_producer)).detach();
    }
    { auto dropped = std::move(tx); }
    std::vector<int> next(producers, 0);
    long total = 0;
    while (std::optional<std::pair<int, int>> m = co_await rx.recv()) {
      EXPECT_EQ(m->second, next[m->first]);
      next[m->first] = m->second + 1;
      ++total;
    }
    EXPECT_EQ(total, static_cast<long>(producers) * per_producer);
  };
  rt.block_on(root());
}

TEST(MpscTest, StressOneProducer) {
  RunProducers(1, 100000 * testing::Scale(), 4);
}

TEST(MpscTest, StressEightProducers) {
  RunProducers(8, 20000 * testing::Scale(), 4);
}

TEST(MpscTest, StressUnboundedEightProducers) {
  Runtime rt = MakeRuntime(2);
  const int n = 20000 * testing::Scale();
  auto root = [n]() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    auto produce = [](mpsc::UnboundedSender<int> tx, int n) -> Task<void> {
      for (int i = 0; i < n; ++i) {
        EXPECT_TRUE(tx.send(1));
        if (i % 64 == 0) co_await yield_now();
      }
    };
    for (int p = 0; p < 8; ++p) spawn(produce(tx, n)).detach();
    { auto dropped = std::move(tx); }
    long total = 0;
    while (std::optional<int> v = co_await rx.recv()) total += *v;
    EXPECT_EQ(total, 8L * n);
  };
  rt.block_on(root());
}

// The unbounded channel keeps values in blocks of 31: order per producer
// holds across blocks, whether values come through recv or try_recv.
TEST(MpscTest, UnboundedKeepsEachProducersOrderAcrossBatches) {
  Runtime rt = MakeRuntime(2);
  const int n = 20000 * testing::Scale();
  auto root = [n]() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<std::pair<int, int>>();
    auto produce = [](mpsc::UnboundedSender<std::pair<int, int>> tx, int p,
                      int n) -> Task<void> {
      for (int i = 0; i < n; ++i) {
        EXPECT_TRUE(tx.send({p, i}));
        if (i % 16 == 0) co_await yield_now();
      }
    };
    constexpr int kProducers = 4;
    for (int p = 0; p < kProducers; ++p) spawn(produce(tx, p, n)).detach();
    { auto dropped = std::move(tx); }
    std::vector<int> next(kProducers, 0);
    long received = 0;
    while (true) {
      std::optional<std::pair<int, int>> v;
      if (received % 3 == 0) {
        auto r = rx.try_recv();
        if (r.ok()) v = *r;
      }
      if (!v) v = co_await rx.recv();
      if (!v) break;
      EXPECT_EQ(v->second, next[v->first]) << "producer " << v->first;
      next[v->first] = v->second + 1;
      ++received;
    }
    EXPECT_EQ(received, long{kProducers} * n);
  };
  rt.block_on(root());
}

TEST(MpscTest, DroppingTheReceiverDestroysTheQueuedValues) {
  Runtime rt = MakeRuntime(1);
  auto value = std::make_shared<int>(7);
  auto root = [&value]() -> Task<void> {
    auto [tx, rx] = mpsc::unbounded_channel<std::shared_ptr<int>>();
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(tx.send(value));
    std::optional<std::shared_ptr<int>> first = co_await rx.recv();
    EXPECT_EQ(first->get(), value.get());
    { auto dropped = std::move(rx); }
    // `value` and `first` are left: the two still queued died with the
    // receiver, though the channel lives on with the sender.
    EXPECT_EQ(value.use_count(), 2);
    EXPECT_FALSE(tx.send(value));
  };
  rt.block_on(root());
  EXPECT_EQ(value.use_count(), 1);
}

// Blocked senders and waiting receivers are aborted at random while the
// channel runs, on two workers. Every value is received at most once, each
// send that reported success exactly once, and the receiver always reaches
// the end (a hang fails the test by timeout).
TEST(MpscTest, StressAbortRaces) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    std::minstd_rand rng(9);
    for (int round = 0; round < 600 * testing::Scale(); ++round) {
      auto [tx, rx] = mpsc::channel<int>(2);
      std::vector<std::atomic<int>> confirmed(80);
      auto produce = [&confirmed](mpsc::Sender<int> tx,
                                  int base) -> Task<void> {
        for (int i = 0; i < 20; ++i) {
          if (co_await tx.send(base + i)) confirmed[base + i].store(1);
        }
      };
      std::vector<JoinHandle<void>> hs;
      for (int p = 0; p < 4; ++p) hs.push_back(spawn(produce(tx, p * 20)));
      { auto dropped = std::move(tx); }
      std::vector<int> seen(80, 0);
      co_await testing::ReceiveWithRandomAborts(&rx, &seen, &rng, 3, [&] {
        if (rng() % 4 == 0) hs[rng() % 4].abort();
      });
      for (auto& h : hs) co_await WasCancelled(h);
      for (int v = 0; v < 80; ++v) {
        EXPECT_LE(seen[v], 1) << v;
        if (confirmed[v].load()) {
          EXPECT_EQ(seen[v], 1) << v;
        }
      }
    }
  };
  rt.block_on(root());
}

}  // namespace
}  // namespace tidepool
