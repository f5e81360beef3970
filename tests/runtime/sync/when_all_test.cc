// when_all / join_all: results in order, concurrency, the first exception
// cancelling the rest, cancellation of the caller, and stress.
#include "runtime/sync/when_all.h"

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"
#include "tests/util/abort_child_check.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using testing::Live;
using testing::MakeRuntime;
using testing::WasCancelled;

Task<int> Value(int v) {
  co_await yield_now();
  co_return v;
}
Task<std::string> Text(std::string s) { co_return s; }
Task<void> Nothing() { co_return; }
Task<int> Throws(int yields) {
  for (int i = 0; i < yields; ++i) co_await yield_now();
  throw std::runtime_error("boom");
}
// Never finishes on its own; counts itself alive in `live`.
Task<int> Forever(std::atomic<int>* live, Notify* never) {
  Live alive(live);
  co_await never->notified();
  co_return 0;
}

TEST(WhenAllTest, YieldsATupleInArgumentOrder) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    auto [a, b, c, d] =
        co_await when_all(Value(1), Text("two"), Nothing(), Value(4));
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, "two");
    static_assert(std::is_same_v<decltype(c), std::monostate>);
    EXPECT_EQ(d, 4);
    std::tuple<> none = co_await when_all();
    (void)none;
  };
  rt.block_on(root());
}

TEST(WhenAllTest, RunsTheTasksConcurrently) {
  // Each task waits for the other: run one after the other they would
  // never finish (the timeout turns that into a failure, not a hang).
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<void> {
    Notify a_ready, b_ready;
    auto a = [&]() -> Task<int> {
      a_ready.notify_one();
      co_await b_ready.notified();
      co_return 1;
    };
    auto b = [&]() -> Task<int> {
      b_ready.notify_one();
      co_await a_ready.notified();
      co_return 2;
    };
    absl::StatusOr<std::tuple<int, int>> r =
        co_await timeout(30s, when_all(a(), b()));
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) EXPECT_EQ(*r, std::make_tuple(1, 2));
  };
  rt.block_on(root());
}

TEST(WhenAllTest, FirstExceptionCancelsTheRestAndIsRethrown) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> live{0};
  auto root = [&]() -> Task<void> {
    Notify never;
    bool threw = false;
    try {
      (void)co_await when_all(Forever(&live, &never), Throws(3),
                              Forever(&live, &never));
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "boom";
    }
    EXPECT_TRUE(threw);
    // The others are gone by the time when_all() rethrows.
    EXPECT_EQ(live.load(), 0);
  };
  rt.block_on(root());
}

TEST(WhenAllTest, AbortingTheCallerCancelsTheTasksFirst) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> live{0};
  std::atomic<int> late{0};
  auto borrower = [&](testing::OwnerAlive* owner) -> Task<int> {
    testing::BorrowerCheck check{owner, &late};
    Live alive(&live);
    Notify never;
    co_await never.notified();
    co_return 0;
  };
  auto caller = [&]() -> Task<void> {
    testing::OwnerAlive owner;
    (void)co_await when_all(borrower(&owner), borrower(&owner));
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> h = spawn(caller());
    while (live.load() < 2) co_await yield_now();
    h.abort();
    EXPECT_TRUE(co_await WasCancelled(h));
    EXPECT_EQ(live.load(), 0);
  };
  rt.block_on(root());
  EXPECT_EQ(late.load(), 0);
}

TEST(WhenAllTest, AbortingTheCallerLeavesTheWorkerFreeWhileATaskRuns) {
  testing::CheckAbortLeavesTheWorkerFreeWhileAChildRuns(
      [](Task<void> child) -> Task<void> {
        co_await when_all(std::move(child), Value(1));
      });
}

TEST(JoinAllTest, AbortingTheCallerLeavesTheWorkerFreeWhileATaskRuns) {
  testing::CheckAbortLeavesTheWorkerFreeWhileAChildRuns(
      [](Task<void> child) -> Task<void> {
        std::vector<Task<void>> tasks;
        tasks.push_back(std::move(child));
        tasks.push_back(Nothing());
        co_await join_all(std::move(tasks));
      });
}

TEST(WhenAllTest, TimeoutAroundWhenAllCancelsEveryTask) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> live{0};
  auto root = [&]() -> Task<void> {
    Notify never;
    absl::StatusOr<std::tuple<int, int>> r = co_await timeout(
        1ms, when_all(Forever(&live, &never), Forever(&live, &never)));
    EXPECT_TRUE(absl::IsDeadlineExceeded(r.status()));
    EXPECT_EQ(live.load(), 0);
  };
  rt.block_on(root());
}

TEST(JoinAllTest, YieldsValuesInTaskOrder) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 20; ++i) tasks.push_back(Value(i * i));
    std::vector<int> values = co_await join_all(std::move(tasks));
    EXPECT_EQ(values.size(), 20u);
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(values[i], static_cast<int>(i * i));
    }
    std::vector<int> none = co_await join_all(std::vector<Task<int>>());
    EXPECT_TRUE(none.empty());
    std::vector<Task<void>> voids;
    voids.push_back(Nothing());
    voids.push_back(Nothing());
    std::vector<std::monostate> done = co_await join_all(std::move(voids));
    EXPECT_EQ(done.size(), 2u);
  };
  rt.block_on(root());
}

TEST(JoinAllTest, FirstExceptionCancelsTheRestAndIsRethrown) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> live{0};
  auto root = [&]() -> Task<void> {
    Notify never;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(Forever(&live, &never));
    tasks.push_back(Throws(2));
    bool threw = false;
    try {
      (void)co_await join_all(std::move(tasks));
    } catch (const std::runtime_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(live.load(), 0);
  };
  rt.block_on(root());
}

// Many when_all/join_all calls on two workers, some with a failing task:
// every successful call must see every value, every failing one must
// rethrow, and no task may outlive its call.
TEST(WhenAllTest, StressOnTwoWorkers) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> live{0};
  auto maybe = [&](int v, bool fail) -> Task<int> {
    Live alive(&live);
    for (int i = v % 3; i > 0; --i) co_await yield_now();
    if (fail) throw std::runtime_error("fail");
    co_return v;
  };
  auto root = [&]() -> Task<void> {
    std::minstd_rand rng(11);
    for (int round = 0; round < 300 * testing::StressScale(); ++round) {
      const bool fail = rng() % 4 == 0;
      const int n = 1 + static_cast<int>(rng() % 8);
      std::vector<Task<int>> tasks;
      const int bad = fail ? static_cast<int>(rng() % n) : -1;
      for (int i = 0; i < n; ++i) tasks.push_back(maybe(i, i == bad));
      bool threw = false;
      try {
        std::vector<int> values = co_await join_all(std::move(tasks));
        for (int i = 0; i < n; ++i) EXPECT_EQ(values[i], i);
      } catch (const std::runtime_error&) {
        threw = true;
      }
      EXPECT_EQ(threw, fail);
      EXPECT_EQ(live.load(), 0);
      try {
        auto [a, b] = co_await when_all(maybe(round, false), maybe(1, fail));
        EXPECT_EQ(a, round);
        EXPECT_EQ(b, 1);
        EXPECT_FALSE(fail);
      } catch (const std::runtime_error&) {
        EXPECT_TRUE(fail);
      }
      EXPECT_EQ(live.load(), 0);
    }
  };
  rt.block_on(root());
}

}  // namespace
}  // namespace tidepool
