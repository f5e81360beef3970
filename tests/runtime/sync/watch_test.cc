// watch::channel: versions per receiver, changed()/borrow() semantics,
// closing from either side, cancellation of a waiter, stress.
#include "runtime/sync/watch.h"

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
using testing::WasCancelled;

TEST(WatchTest, Contract) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<bool> {
    auto [wtx, wrx] = watch::channel<int>(0);
    wtx.send(7);
    co_return (co_await wrx.changed()).ok() && wrx.borrow() == 7;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(WatchTest, EachReceiverTracksWhatItHasSeen) {
  auto [tx, rx] = watch::channel<std::string>("a");
  EXPECT_FALSE(rx.has_changed());
  EXPECT_TRUE(rx.borrow() == "a");
  watch::Receiver<std::string> copy = rx;
  EXPECT_TRUE(tx.send("b"));
  EXPECT_TRUE(rx.has_changed());
  EXPECT_TRUE(copy.has_changed());
  // borrow() does not mark the value seen; borrow_and_update() does.
  EXPECT_EQ(*rx.borrow(), "b");
  EXPECT_TRUE(rx.has_changed());
  EXPECT_EQ(*rx.borrow_and_update(), "b");
  EXPECT_FALSE(rx.has_changed());
  EXPECT_TRUE(copy.has_changed());
  watch::Receiver<std::string> late = tx.subscribe();
  EXPECT_FALSE(late.has_changed());
  EXPECT_EQ(tx.receiver_count(), 3u);
}

TEST(WatchTest, ASnapshotOutlivesLaterSends) {
  auto [tx, rx] = watch::channel<std::vector<int>>({1, 2});
  watch::Ref<std::vector<int>> old = rx.borrow();
  tx.send({3});
  EXPECT_EQ(old->size(), 2u);
  EXPECT_EQ(rx.borrow()->size(), 1u);
  watch::Ref<std::vector<int>> replaced = tx.send_replace({4, 5, 6});
  EXPECT_EQ(replaced->size(), 1u);
}

TEST(WatchTest, ChangedWaitsForASendAndSkipsToTheLatest) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = watch::channel<int>(0);
    auto waiter = [](watch::Receiver<int>* rx) -> Task<int> {
      absl::Status s = co_await rx->changed();
      EXPECT_TRUE(s.ok()) << s;
      co_return *rx->borrow();
    };
    JoinHandle<int> h = spawn(waiter(&rx));
    co_await LetOthersRun();
    EXPECT_FALSE(h.is_finished());
    tx.send(1);
    tx.send(2);
    EXPECT_TRUE(co_await FinishesSoon(h));
    EXPECT_EQ(co_await h, 2);
    // Both sends were seen at once: nothing new is left.
    EXPECT_FALSE(rx.has_changed());
  };
  rt.block_on(root());
}

TEST(WatchTest, DroppingTheSenderEndsChangedAfterTheLastValue) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = watch::channel<int>(0);
    auto waiter = [](watch::Receiver<int>* rx) -> Task<absl::Status> {
      co_return co_await rx->changed();
    };
    JoinHandle<absl::Status> h = spawn(waiter(&rx));
    co_await LetOthersRun();
    { watch::Sender<int> gone = std::move(tx); }
    EXPECT_TRUE(co_await FinishesSoon(h));
    EXPECT_TRUE(absl::IsFailedPrecondition(co_await h));

    auto [tx2, rx2] = watch::channel<int>(0);
    tx2.send(5);
    { watch::Sender<int> gone = std::move(tx2); }
    // The value sent before the sender left is still a change.
    EXPECT_TRUE((co_await rx2.changed()).ok());
    EXPECT_TRUE(rx2.borrow() == 5);
    EXPECT_TRUE(absl::IsFailedPrecondition(co_await rx2.changed()));
  };
  rt.block_on(root());
}

TEST(WatchTest, SendFailsOnceEveryReceiverIsGone) {
  auto [tx, rx] = watch::channel<int>(0);
  EXPECT_FALSE(tx.is_closed());
  { watch::Receiver<int> gone = std::move(rx); }
  EXPECT_TRUE(tx.is_closed());
  EXPECT_FALSE(tx.send(1));
  // Nothing was stored: a new receiver sees the old value.
  EXPECT_TRUE(tx.subscribe().borrow() == 0);
  tx.send_replace(2);
  EXPECT_TRUE(tx.subscribe().borrow() == 2);
}

TEST(WatchTest, AbortedWaiterLeavesAndOthersStillWake) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    auto [tx, rx] = watch::channel<int>(0);
    watch::Receiver<int> rx2 = rx;
    auto waiter = [](watch::Receiver<int>* rx) -> Task<void> {
      (void)co_await rx->changed();
    };
    JoinHandle<void> a = spawn(waiter(&rx));
    JoinHandle<void> b = spawn(waiter(&rx2));
    co_await LetOthersRun();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    tx.send(1);
    EXPECT_TRUE(co_await FinishesSoon(b));
    // The aborted waiter's receiver has not seen the value.
    EXPECT_TRUE(rx.has_changed());
    absl::Status timed_out = co_await timeout(1ms, rx2.changed());
    EXPECT_TRUE(absl::IsDeadlineExceeded(timed_out));
    tx.send(2);
    EXPECT_TRUE((co_await rx2.changed()).ok());
  };
  rt.block_on(root());
}

// A sender publishes 1..N on one worker while receivers on both workers
// follow: each must see a non-decreasing sequence ending at N, and every
// one must end when the sender goes (a lost wake-up hangs the test).
TEST(WatchTest, StressOnTwoWorkers) {
  Runtime rt = MakeRuntime(2);
  const int n = 2000 * testing::StressScale();
  std::atomic<int> bad{0};
  auto follower = [&](watch::Receiver<int> rx) -> Task<int> {
    int last = 0;
    while ((co_await rx.changed()).ok()) {
      const int v = *rx.borrow();
      if (v < last) bad.fetch_add(1);
      last = v;
    }
    co_return *rx.borrow();
  };
  auto root = [&]() -> Task<void> {
    auto [tx, rx] = watch::channel<int>(0);
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 6; ++i) hs.push_back(spawn(follower(rx)));
    { watch::Receiver<int> drop = std::move(rx); }
    for (int v = 1; v <= n; ++v) {
      tx.send(v);
      if (v % 7 == 0) co_await yield_now();
    }
    { watch::Sender<int> gone = std::move(tx); }
    for (auto& h : hs) EXPECT_EQ(co_await h, n);
  };
  rt.block_on(root());
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace tidepool
