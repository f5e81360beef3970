// Barrier: release on the n-th arrival, one leader per generation, reuse,
// withdrawal of a cancelled waiter, stress.
#include "runtime/sync/barrier.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
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

Task<bool> Arrive(Barrier* barrier) {
  co_return (co_await barrier->wait()).is_leader();
}

TEST(BarrierTest, ZeroPartiesIsRejected) {
  EXPECT_THROW(Barrier(0), std::invalid_argument);
}

TEST(BarrierTest, Contract) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    Barrier barrier(3);
    JoinHandle<bool> b1 = spawn(Arrive(&barrier));
    JoinHandle<bool> b2 = spawn(Arrive(&barrier));
    const bool me = (co_await barrier.wait()).is_leader();
    const bool l1 = co_await b1;
    const bool l2 = co_await b2;
    EXPECT_EQ(me + l1 + l2, 1);
  };
  rt.block_on(root());
}

TEST(BarrierTest, NobodyPassesBeforeTheLastArrivalAndTheLastLeads) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    Barrier barrier(3);
    JoinHandle<bool> a = spawn(Arrive(&barrier));
    co_await LetOthersRun();
    JoinHandle<bool> b = spawn(Arrive(&barrier));
    co_await LetOthersRun();
    EXPECT_FALSE(a.is_finished());
    EXPECT_FALSE(b.is_finished());
    EXPECT_TRUE((co_await barrier.wait()).is_leader());
    EXPECT_TRUE(co_await FinishesSoon(a));
    EXPECT_TRUE(co_await FinishesSoon(b));
    EXPECT_FALSE(co_await a);
    EXPECT_FALSE(co_await b);
  };
  rt.block_on(root());
}

TEST(BarrierTest, ACancelledWaiterWithdrawsItsArrival) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    Barrier barrier(2);
    JoinHandle<bool> a = spawn(Arrive(&barrier));
    co_await LetOthersRun();
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    // Had the dead arrival counted, this would pass the barrier at once.
    absl::StatusOr<BarrierWaitResult> alone =
        co_await timeout(1ms, barrier.wait());
    EXPECT_TRUE(absl::IsDeadlineExceeded(alone.status()));
    JoinHandle<bool> b = spawn(Arrive(&barrier));
    co_await LetOthersRun();
    EXPECT_FALSE(b.is_finished());
    EXPECT_TRUE((co_await barrier.wait()).is_leader());
    EXPECT_TRUE(co_await FinishesSoon(b));
  };
  rt.block_on(root());
}

// Tasks on two workers go through many generations together, each writing
// its round number before the barrier and checking everyone's after: a
// task let through early sees a stale number; one leader per generation.
TEST(BarrierTest, StressGenerationsOnTwoWorkers) {
  constexpr int kTasks = 5;
  const int rounds = 500 * testing::StressScale();
  Runtime rt = MakeRuntime(2);
  Barrier barrier(kTasks);
  std::vector<std::atomic<int>> progress(kTasks);
  std::atomic<int> leaders{0};
  std::atomic<int> early{0};
  auto worker = [&](int me) -> Task<void> {
    for (int r = 1; r <= rounds; ++r) {
      // relaxed: the barrier's lock and wake-ups order these.
      progress[me].store(r, std::memory_order_relaxed);
      if ((co_await barrier.wait()).is_leader()) leaders.fetch_add(1);
      for (int o = 0; o < kTasks; ++o) {
        if (progress[o].load(std::memory_order_relaxed) < r) early.fetch_add(1);
      }
      // Nobody may start round r + 1 before everyone checked round r.
      (void)co_await barrier.wait();
    }
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < kTasks; ++i) hs.push_back(spawn(worker(i)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(leaders.load(), rounds);
  EXPECT_EQ(early.load(), 0);
}

}  // namespace
}  // namespace tidepool
