// select: the first branch wins, the others are aborted and gone before
// select returns; exceptions, void branches, an aborted selector, stress.
#include "runtime/sync/select.h"

#include <atomic>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "runtime/sync/oneshot.h"
#include "tests/runtime/sync/sync_test_util.h"
#include "tests/util/abort_child_check.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using testing::LetOthersRun;
using testing::Live;
using testing::MakeRuntime;
using testing::WasCancelled;

template <typename T>
Task<T> WhenTold(oneshot::Receiver<T> go) {
  absl::StatusOr<T> v = co_await std::move(go);
  if (!v.ok()) throw std::runtime_error("never told");
  co_return *std::move(v);
}

Task<void> Forever(std::atomic<int>* frames) {
  Live live(frames);
  while (true) co_await yield_now();
}

// Waits without keeping a worker busy: a branch that yields forever keeps
// its worker's queue non-empty, so that worker never steals, and
// CheckAbortLeavesTheWorkerFreeWhileAChildRuns needs the idle worker to
// take the aborting task from the computing one.
Task<void> SleepAnHour() { co_await sleep(std::chrono::hours(1)); }

TEST(SelectTest, FirstToFinishWinsAndLosersAreGone) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto root = [&]() -> Task<void> {
    auto [tx, rx] = oneshot::channel<std::string>();
    auto tell = [](oneshot::Sender<std::string> tx) -> Task<void> {
      co_await yield_now();
      tx.send("won");
    };
    spawn(tell(std::move(tx))).detach();
    std::variant<std::monostate, std::string, std::monostate> r =
        co_await select(Forever(&frames), WhenTold(std::move(rx)),
                        Forever(&frames));
    EXPECT_EQ(r.index(), 1u);
    EXPECT_EQ(std::get<1>(r), "won");
    // Aborted and waited for: their frames are destroyed already.
    EXPECT_EQ(frames.load(), 0);
  };
  rt.block_on(root());
}

TEST(SelectTest, SameTypesAreToldApartByIndex) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<size_t> {
    auto [tx0, rx0] = oneshot::channel<int>();
    auto [tx1, rx1] = oneshot::channel<int>();
    tx1.send(5);
    std::variant<int, int> r =
        co_await select(WhenTold(std::move(rx0)), WhenTold(std::move(rx1)));
    EXPECT_EQ(std::get<1>(r), 5);
    co_return r.index();
  };
  EXPECT_EQ(rt.block_on(root()), 1u);
}

TEST(SelectTest, WinnersExceptionIsRethrown) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto root = [&]() -> Task<bool> {
    auto fails = []() -> Task<int> {
      co_await yield_now();
      throw std::out_of_range("first");
    };
    try {
      co_await select(fails(), Forever(&frames));
    } catch (const std::out_of_range&) {
      co_return frames.load() == 0;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(SelectTest, VoidBranchYieldsMonostate) {
  Runtime rt = MakeRuntime(1);
  std::atomic<int> frames{0};
  auto root = [&]() -> Task<size_t> {
    auto quick = []() -> Task<void> { co_return; };
    std::variant<std::monostate, std::monostate> r =
        co_await select(Forever(&frames), quick());
    co_return r.index();
  };
  EXPECT_EQ(rt.block_on(root()), 1u);
  EXPECT_EQ(frames.load(), 0);
}

TEST(SelectTest, AbortedSelectorAbortsItsBranches) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto selector = [&]() -> Task<void> {
    co_await select(Forever(&frames), Forever(&frames));
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> h = spawn(selector());
    while (frames.load() < 2) co_await yield_now();
    h.abort();
    EXPECT_TRUE(co_await WasCancelled(h));
    while (frames.load() > 0) co_await yield_now();  // hangs if not aborted
  };
  rt.block_on(root());
}

// A branch borrowing from the selector (as a socket read borrows its
// buffer) is gone before the selector's own locals when the selector is
// aborted. One worker: a selector destroyed at its claim, before its
// branches were aborted and had ended, would leave them to be destroyed
// after its frame, when the worker got to them.
TEST(SelectTest, AbortedSelectorsBranchesGoBeforeItsLocals) {
  Runtime rt = MakeRuntime(1);
  std::atomic<int> frames{0};
  std::atomic<int> destroyed_too_late{0};
  auto borrower = [&](const testing::OwnerAlive* lender) -> Task<void> {
    testing::BorrowerCheck check{lender, &destroyed_too_late};
    co_await Forever(&frames);
  };
  auto selector = [&]() -> Task<void> {
    testing::OwnerAlive alive;
    co_await select(borrower(&alive), borrower(&alive));
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> h = spawn(selector());
    while (frames.load() < 2) co_await yield_now();
    h.abort();
    EXPECT_TRUE(co_await WasCancelled(h));
  };
  rt.block_on(root());
  EXPECT_EQ(frames.load(), 0);
  EXPECT_EQ(destroyed_too_late.load(), 0);
}

TEST(SelectTest, AbortingTheSelectorLeavesTheWorkerFreeWhileABranchRuns) {
  testing::CheckAbortLeavesTheWorkerFreeWhileAChildRuns(
      [](Task<void> child) -> Task<void> {
        co_await select(std::move(child), SleepAnHour());
      });
}

TEST(SelectTest, ShutdownWhileSelecting) {
  std::atomic<int> frames{0};
  {
    Runtime rt = MakeRuntime(2);
    auto selector = [&]() -> Task<void> {
      co_await select(Forever(&frames), Forever(&frames));
    };
    rt.spawn(selector()).detach();
    while (frames.load() < 2) std::this_thread::yield();
  }
  EXPECT_EQ(frames.load(), 0);
}

// Many selects at once on two workers, each between branches that finish
// after random numbers of yields: exactly one winner each, and no branch
// frame survives its select.
TEST(SelectTest, StressManySelects) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto branch = [&](int yields, int id) -> Task<int> {
    Live live(&frames);
    for (int i = 0; i < yields; ++i) co_await yield_now();
    co_return id;
  };
  auto one = [&](uint32_t seed) -> Task<bool> {
    std::minstd_rand rng(seed);
    std::variant<int, int, int> r = co_await select(
        branch(rng() % 5, 0), branch(rng() % 5, 1), branch(rng() % 5, 2));
    co_return std::visit([](int id) { return id; }, r) ==
        static_cast<int>(r.index());
  };
  auto root = [&]() -> Task<int> {
    std::minstd_rand rng(17);
    int ok = 0;
    const int n = 3000 * testing::Scale();
    std::vector<JoinHandle<bool>> hs;
    for (int i = 0; i < n; ++i) hs.push_back(spawn(one(rng())));
    for (auto& h : hs) ok += co_await h;
    co_return ok - n;
  };
  EXPECT_EQ(rt.block_on(root()), 0);
  EXPECT_EQ(frames.load(), 0);
}

// Selectors aborted at random moments on two workers (before they start,
// while their branches run, as a branch finishes), with branches that
// borrow from the selector's frame: every branch is gone before the
// selector's locals, and every frame goes.
TEST(SelectTest, StressAbortedSelectors) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  std::atomic<int> late{0};
  auto branch = [&](const testing::OwnerAlive* lender,
                    int yields) -> Task<int> {
    Live live(&frames);
    testing::BorrowerCheck check{lender, &late};
    for (int i = 0; i < yields; ++i) co_await yield_now();
    co_return yields;
  };
  auto selector = [&](uint32_t seed) -> Task<void> {
    testing::OwnerAlive alive;
    std::minstd_rand rng(seed);
    co_await select(branch(&alive, rng() % 8), branch(&alive, rng() % 8));
  };
  auto root = [&]() -> Task<int> {
    std::minstd_rand rng(29);
    const int n = 2000 * testing::Scale();
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(spawn(selector(rng())));
      if (rng() % 2 == 0) continue;
      for (int y = rng() % 4; y > 0; --y) co_await yield_now();
      hs.back().abort();
    }
    int cancelled = 0;
    for (auto& h : hs) cancelled += co_await WasCancelled(h);
    co_return cancelled;
  };
  const int cancelled = rt.block_on(root());
  EXPECT_GT(cancelled, 0);
  EXPECT_EQ(frames.load(), 0);
  EXPECT_EQ(late.load(), 0);
}

}  // namespace
}  // namespace tidepool
