// OnceCell: one initialization under concurrent callers, exceptions and
// cancellation of the initializer (someone else takes over), waiters
// cancelled, stress.
#include "runtime/sync/once_cell.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
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

Task<int> One() { co_return 1; }
Task<int> FortyTwo() { co_return 42; }

TEST(OnceCellTest, Contract) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<bool> {
    OnceCell<int> cell;
    co_return co_await cell.get_or_init(FortyTwo) == 42 &&
        co_await cell.get_or_init(One) == 42;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(OnceCellTest, GetIsNullUntilInitializedAndAcceptsPlainCallables) {
  Runtime rt = MakeRuntime(1);
  OnceCell<std::string> cell;
  EXPECT_EQ(cell.get(), nullptr);
  auto root = [&]() -> Task<void> {
    const std::string& v =
        co_await cell.get_or_init([] { return std::string("plain"); });
    EXPECT_EQ(v, "plain");
    EXPECT_EQ(&v, cell.get());
  };
  rt.block_on(root());
  ASSERT_NE(cell.get(), nullptr);
  EXPECT_EQ(*cell.get(), "plain");
  EXPECT_TRUE(cell.initialized());
}

TEST(OnceCellTest, ConcurrentCallersRunTheInitializerOnce) {
  Runtime rt = MakeRuntime(1);
  OnceCell<int> cell;
  int runs = 0;
  Notify go;
  auto init = [&]() -> Task<int> {
    ++runs;
    co_await go.notified();
    co_return 7;
  };
  auto caller = [&]() -> Task<int> {
    co_return co_await cell.get_or_init(init);
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(spawn(caller()));
      co_await LetOthersRun();
    }
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(cell.get(), nullptr);
    go.notify_one();
    for (auto& h : hs) {
      EXPECT_TRUE(co_await FinishesSoon(h));
      EXPECT_EQ(co_await h, 7);
    }
    EXPECT_EQ(runs, 1);
  };
  rt.block_on(root());
}

TEST(OnceCellTest, AThrowingInitializerLetsALaterCallerTryAgain) {
  Runtime rt = MakeRuntime(1);
  OnceCell<int> cell;
  Notify go;
  auto failing = [&]() -> Task<int> {
    co_await go.notified();
    throw std::runtime_error("init failed");
  };
  auto first = [&]() -> Task<bool> {
    try {
      (void)co_await cell.get_or_init(failing);
    } catch (const std::runtime_error&) {
      co_return true;
    }
    co_return false;
  };
  auto second = [&]() -> Task<int> {
    co_return co_await cell.get_or_init([] { return 5; });
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<bool> a = spawn(first());
    co_await LetOthersRun();
    JoinHandle<int> b = spawn(second());
    co_await LetOthersRun();
    EXPECT_FALSE(b.is_finished());  // waits for a's initializer
    go.notify_one();
    EXPECT_TRUE(co_await a);  // the exception reached the caller that ran it
    EXPECT_TRUE(co_await FinishesSoon(b));
    EXPECT_EQ(co_await b, 5);  // the waiter took over
  };
  rt.block_on(root());
  EXPECT_EQ(*cell.get(), 5);
}

TEST(OnceCellTest, AnAbortedInitializerHandsTheJobOn) {
  Runtime rt = MakeRuntime(1);
  OnceCell<int> cell;
  Notify never;
  auto stuck = [&]() -> Task<int> {
    co_await never.notified();
    co_return 1;
  };
  auto caller = [&]() -> Task<int> {
    co_return co_await cell.get_or_init(stuck);
  };
  auto plain = [&]() -> Task<int> {
    co_return co_await cell.get_or_init([] { return 2; });
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<int> a = spawn(caller());
    co_await LetOthersRun();
    JoinHandle<int> waiter = spawn(plain());
    co_await LetOthersRun();
    // A waiter cancelled by timeout() leaves the queue cleanly.
    absl::StatusOr<int> timed_out = co_await timeout(1ms, plain());
    EXPECT_TRUE(absl::IsDeadlineExceeded(timed_out.status()));
    EXPECT_FALSE(waiter.is_finished());
    a.abort();
    EXPECT_TRUE(co_await WasCancelled(a));
    EXPECT_TRUE(co_await FinishesSoon(waiter));
    EXPECT_EQ(co_await waiter, 2);
  };
  rt.block_on(root());
}

// Rounds of many callers on two workers racing to initialize a fresh cell,
// the initializer sometimes throwing or suspending, some callers aborted:
// at most one initializer succeeds per cell and every caller that returns
// sees its value.
TEST(OnceCellTest, StressOnTwoWorkers) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> wrong{0};
  auto root = [&]() -> Task<void> {
    for (int round = 0; round < 300 * testing::StressScale(); ++round) {
      OnceCell<int> cell;
      std::atomic<int> successes{0};
      std::atomic<int> attempts{0};
      auto init = [&]() -> Task<int> {
        const int n = attempts.fetch_add(1);
        co_await yield_now();
        if (n % 3 == 0) throw std::runtime_error("flaky");
        successes.fetch_add(1);
        co_return round;
      };
      auto caller = [&]() -> Task<void> {
        while (true) {
          try {
            const int& v = co_await cell.get_or_init(init);
            if (v != round || &v != cell.get()) wrong.fetch_add(1);
            co_return;
          } catch (const std::runtime_error&) {
            // Ours failed; try again.
          }
        }
      };
      std::vector<JoinHandle<void>> hs;
      for (int i = 0; i < 8; ++i) hs.push_back(spawn(caller()));
      if (round % 4 == 0) hs[round % 8].abort();
      for (auto& h : hs) co_await WasCancelled(h);
      EXPECT_LE(successes.load(), 1);
    }
  };
  rt.block_on(root());
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace tidepool
