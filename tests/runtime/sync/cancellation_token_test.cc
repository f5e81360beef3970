#include "runtime/sync/cancellation_token.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using testing::MakeRuntime;
using testing::Scale;

Task<void> WaitFor(CancellationToken token, std::atomic<int>* woken) {
  co_await token.cancelled();
  woken->fetch_add(1);
}

TEST(CancellationTokenTest, CancelWakesEveryWaiterAndEveryCopy) {
  Runtime rt = MakeRuntime(2);
  CancellationToken token;
  std::atomic<int> woken{0};
  std::vector<JoinHandle<void>> waiters;
  for (int i = 0; i < 10; ++i)
    waiters.push_back(rt.spawn(WaitFor(token, &woken)));
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(woken.load(), 0);
  CancellationToken copy = token;
  EXPECT_FALSE(copy.is_cancelled());
  copy.cancel();  // from a thread outside the runtime
  EXPECT_TRUE(token.is_cancelled());
  auto join = [](std::vector<JoinHandle<void>> hs) -> Task<void> {
    for (auto& h : hs) co_await h;
  };
  rt.block_on(join(std::move(waiters)));
  EXPECT_EQ(woken.load(), 10);
  // Awaiting a cancelled token completes at once; cancelling again is a
  // no-op.
  token.cancel();
  rt.block_on(WaitFor(token, &woken));
  EXPECT_EQ(woken.load(), 11);
}

TEST(CancellationTokenTest, ParentsCancelChildrenNotTheReverse) {
  CancellationToken root;
  CancellationToken child = root.child_token();
  CancellationToken grandchild = child.child_token();
  CancellationToken sibling = root.child_token();
  child.cancel();
  EXPECT_TRUE(child.is_cancelled());
  EXPECT_TRUE(grandchild.is_cancelled());
  EXPECT_FALSE(root.is_cancelled());
  EXPECT_FALSE(sibling.is_cancelled());
  root.cancel();
  EXPECT_TRUE(sibling.is_cancelled());
  // Made after the cancel: starts cancelled.
  EXPECT_TRUE(root.child_token().is_cancelled());
  EXPECT_TRUE(grandchild.child_token().is_cancelled());
}

TEST(CancellationTokenTest, ChildrenNobodyHoldsAreDropped) {
  CancellationToken root;
  for (int i = 0; i < 10000; ++i) (void)root.child_token();
  CancellationToken kept = root.child_token();
  root.cancel();
  EXPECT_TRUE(kept.is_cancelled());
}

TEST(CancellationTokenTest, ComposesWithSelectAndTimeout) {
  Runtime rt = MakeRuntime(2);
  CancellationToken stop;
  auto work = []() -> Task<int> {
    co_await sleep(1h);
    co_return 1;
  };
  auto root = [&]() -> Task<size_t> {
    absl::Status early = co_await timeout(10ms, stop.cancelled());
    if (!absl::IsDeadlineExceeded(early)) co_return 99;
    auto canceller = [](CancellationToken t) -> Task<void> {
      co_await sleep(5ms);
      t.cancel();
    };
    spawn(canceller(stop)).detach();
    std::variant<int, std::monostate> r =
        co_await select(work(), stop.cancelled());
    co_return r.index();
  };
  EXPECT_EQ(rt.block_on(root()), 1u);
}

// A cancel races new children made on another thread: by the time
// cancel() returns on this one, every child is cancelled, and every waiter
// wakes.
TEST(CancellationTokenTest, StressCancelRacingWaitersAndChildren) {
  Runtime rt = MakeRuntime(2);
  for (int round = 0; round < 50 * Scale(); ++round) {
    CancellationToken root;
    std::atomic<int> woken{0};
    std::vector<JoinHandle<void>> waiters;
    for (int i = 0; i < 8; ++i) {
      waiters.push_back(rt.spawn(WaitFor(root.child_token(), &woken)));
    }
    // Children made while the cancel runs: once cancel() has returned,
    // each is cancelled, whether the cancel reached it through the list or
    // it was made after and started cancelled.
    std::vector<CancellationToken> made;
    std::thread maker([&] {
      for (int i = 0; i < 200; ++i) made.push_back(root.child_token());
    });
    root.cancel();
    maker.join();
    int missed = 0;
    for (const CancellationToken& c : made) missed += !c.is_cancelled();
    ASSERT_EQ(missed, 0) << "round " << round;
    auto join = [](std::vector<JoinHandle<void>> hs) -> Task<void> {
      for (auto& h : hs) co_await h;
    };
    rt.block_on(join(std::move(waiters)));
    ASSERT_EQ(woken.load(), 8) << "round " << round;
  }
}

}  // namespace
}  // namespace tidepool
