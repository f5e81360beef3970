// Notify: stored permit, FIFO notify_one, notify_waiters, the generation
// rule for Notified created before the call, cancellation (no notification
// lost), and stress.
#include "runtime/sync/notify.h"

#include <atomic>
#include <random>
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

// Spawns a task that waits for one notification, and lets it run until it
// waits (one worker) or finishes.
JoinHandle<void> SpawnWaiter(Notify& n, std::atomic<int>& woken) {
  auto waiter = [](Notify& n, std::atomic<int>& woken) -> Task<void> {
    co_await n.notified();
    woken.fetch_add(1);
  };
  return spawn(waiter(n, woken));
}

TEST(NotifyTest, NotifyOneBeforeWaitingIsStored) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    n.notify_one();
    n.notify_one();  // at most one permit is stored
    co_await n.notified();
    std::atomic<int> woken{0};
    JoinHandle<void> h = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    EXPECT_EQ(woken.load(), 0);
    n.notify_one();
    co_await h;
    EXPECT_EQ(woken.load(), 1);
  };
  rt.block_on(root());
}

TEST(NotifyTest, NotifyOneWakesInArrivalOrder) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  std::vector<int> order;
  auto waiter = [&](int id) -> Task<void> {
    co_await n.notified();
    order.push_back(id);
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(spawn(waiter(i)));
      co_await LetOthersRun();
    }
    for (int i = 0; i < 4; ++i) {
      n.notify_one();
      co_await LetOthersRun();
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(NotifyTest, NotifyWaitersWakesAllAndStoresNothing) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    std::atomic<int> woken{0};
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 40; ++i) hs.push_back(SpawnWaiter(n, woken));
    co_await LetOthersRun();
    n.notify_waiters();
    for (auto& h : hs) co_await h;
    EXPECT_EQ(woken.load(), 40);
    // Nothing stored: a new waiter waits.
    JoinHandle<void> late = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    EXPECT_FALSE(late.is_finished());
    n.notify_one();
    co_await late;
  };
  rt.block_on(root());
}

TEST(NotifyTest, NotifiedCreatedBeforeNotifyWaitersCompletes) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    std::atomic<bool> created{false};
    std::atomic<bool> release{false};
    auto waiter = [&]() -> Task<void> {
      Notify::Notified pending = n.notified();
      created.store(true);
      while (!release.load()) co_await yield_now();
      co_await pending;  // completes: it was created before the call
    };
    JoinHandle<void> h = spawn(waiter());
    while (!created.load()) co_await yield_now();
    n.notify_waiters();  // nobody waits yet
    release.store(true);
    EXPECT_TRUE(co_await FinishesSoon(h));
  };
  rt.block_on(root());
}

TEST(NotifyTest, AbortedWaiterLeavesTheQueue) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    std::atomic<int> woken{0};
    JoinHandle<void> a = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    JoinHandle<void> b = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    n.notify_one();  // must reach b, not the dead a
    EXPECT_TRUE(co_await FinishesSoon(b));
    EXPECT_EQ(woken.load(), 1);
  };
  rt.block_on(root());
}

TEST(NotifyTest, WaiterAbortedAfterNotifyOnePassesItOn) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    std::atomic<int> woken{0};
    JoinHandle<void> a = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    JoinHandle<void> b = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    n.notify_one();  // picks a, which is aborted before it runs
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    EXPECT_TRUE(co_await FinishesSoon(b));
    EXPECT_EQ(woken.load(), 1);
  };
  rt.block_on(root());
}

TEST(NotifyTest, LoneWaiterAbortedAfterNotifyOneLeavesThePermit) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    std::atomic<int> woken{0};
    JoinHandle<void> a = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    n.notify_one();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    JoinHandle<void> b = SpawnWaiter(n, woken);
    EXPECT_TRUE(co_await FinishesSoon(b));  // the permit came back
  };
  rt.block_on(root());
}

TEST(NotifyTest, WaiterAbortedAfterNotifyWaitersPassesNothingOn) {
  Notify n;
  Runtime rt = MakeRuntime(1);
  auto root = [&]() -> Task<void> {
    std::atomic<int> woken{0};
    JoinHandle<void> a = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    n.notify_waiters();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    JoinHandle<void> b = SpawnWaiter(n, woken);
    co_await LetOthersRun();
    EXPECT_FALSE(b.is_finished());
    n.notify_one();
    EXPECT_TRUE(co_await FinishesSoon(b));
  };
  rt.block_on(root());
}

TEST(NotifyTest, NotifyFromAForeignThread) {
  Notify n;
  Runtime rt = MakeRuntime(2);
  auto waiter = [&]() -> Task<int> {
    co_await n.notified();
    co_return 1;
  };
  JoinHandle<int> h = rt.spawn(waiter());
  n.notify_one();  // stored or delivered: either way not lost
  auto root = [&]() -> Task<int> { co_return co_await h; };
  EXPECT_EQ(rt.block_on(root()), 1);
}

// A producer and a consumer hand a token back and forth through two
// Notify objects, on two workers. A lost notification hangs the test.
TEST(NotifyTest, StressPingPong) {
  Notify ping, pong;
  Runtime rt = MakeRuntime(2);
  const int rounds = 100000 * testing::Scale();
  long shared = 0;  // handed over by the notifications; TSan checks that
  auto player = [&](Notify& mine, Notify& theirs, bool first) -> Task<void> {
    for (int i = 0; i < rounds; ++i) {
      if (!first || i > 0) co_await mine.notified();
      ++shared;
      theirs.notify_one();
    }
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> a = spawn(player(ping, pong, true));
    JoinHandle<void> b = spawn(player(pong, ping, false));
    co_await a;
    co_await b;
  };
  rt.block_on(root());
  EXPECT_EQ(shared, 2L * rounds);
}

// Waiters are aborted while notifications fly, on two workers. There are
// always more waiters that are never aborted than notifications, so every
// notify_one() must end in exactly one finished waiter: one picked and then
// aborted passes it on. A lost one hangs the wait below; a duplicate shows
// as too many finished waiters.
TEST(NotifyTest, StressAbortRacesLoseNoNotification) {
  Runtime rt = MakeRuntime(2);
  auto root = [&]() -> Task<void> {
    std::minstd_rand rng(11);
    for (int round = 0; round < 2000 * testing::Scale(); ++round) {
      Notify n;
      std::atomic<int> ready{0};
      std::atomic<int> woken{0};
      auto waiter = [&]() -> Task<void> {
        ready.fetch_add(1);
        co_await n.notified();
        woken.fetch_add(1);
      };
      std::vector<JoinHandle<void>> hs;
      for (int i = 0; i < 8; ++i) hs.push_back(spawn(waiter()));
      // Registration follows `ready` within a few instructions; the yields
      // give the other worker ample time to finish it.
      while (ready.load() < 8) co_await yield_now();
      for (int y = 0; y < 10; ++y) co_await yield_now();
      const int notifications = 1 + rng() % 4;
      for (int i = 0; i < 4; ++i) {
        if (i < notifications) n.notify_one();
        hs[(2 * i + round) % 8].abort();
      }
      while (woken.load() < notifications) co_await yield_now();
      for (int y = 0; y < 10; ++y) co_await yield_now();
      EXPECT_EQ(woken.load(), notifications);
      for (auto& h : hs) h.abort();
      for (auto& h : hs) co_await WasCancelled(h);
    }
  };
  rt.block_on(root());
}

}  // namespace
}  // namespace tidepool
