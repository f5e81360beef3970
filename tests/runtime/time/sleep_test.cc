// sleep, sleep_until, timeout and interval on a running runtime.
#include "runtime/time/sleep.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/util/abort_child_check.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Runtime MakeRuntime() {
  auto rt = Builder().worker_threads(2).build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return std::move(*rt);
}

TEST(SleepTest, NeverEndsEarly) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<bool> {
    for (auto d : {1ms, 5ms, 20ms, 70ms}) {
      const auto start = Clock::now();
      co_await sleep(d);
      if (Clock::now() - start < d) co_return false;
    }
    co_return true;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(SleepTest, PastDeadlineCompletesAtOnce) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<void> {
    co_await sleep_until(Clock::now() - 1s);
    co_await sleep(0ms);
  };
  rt.block_on(root());
}

TEST(SleepTest, ConcurrentSleepersEachWakeAfterTheirDeadline) {
  // Absolute deadlines 20 ms apart, spawned in scrambled order. Wake-up
  // order is not promised (two timers fired by one late worker are queued
  // in whatever order the run queue takes them; the wheel's own order is
  // checked in timer_wheel_test), but none may wake before its deadline.
  Runtime rt = MakeRuntime();
  std::atomic<int> early{0}, woke{0};
  auto sleeper = [&](Clock::time_point deadline) -> Task<void> {
    co_await sleep_until(deadline);
    if (Clock::now() < deadline) early++;
    woke++;
  };
  auto root = [&]() -> Task<void> {
    const auto base = Clock::now();
    std::vector<JoinHandle<void>> hs;
    for (int i : {7, 2, 9, 0, 5, 3, 8, 1, 6, 4}) {
      hs.push_back(
          spawn(sleeper(base + std::chrono::milliseconds(10 + 20 * i))));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(woke.load(), 10);
  EXPECT_EQ(early.load(), 0);
}

TEST(SleepTest, TenThousandTimersAllFire) {
  Runtime rt = MakeRuntime();
  std::atomic<int> fired{0};
  auto sleeper = [&](int i) -> Task<void> {
    co_await sleep(std::chrono::milliseconds(i % 50));
    fired++;
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 10000; ++i) hs.push_back(spawn(sleeper(i)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(fired.load(), 10000);
}

TEST(SleepTest, AbortWhileSleepingCancelsTheTimer) {
  Runtime rt = MakeRuntime();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto sleeper = [](std::shared_ptr<std::atomic<bool>> d) -> Task<void> {
    co_await sleep(10s);
    d->store(true);
  };
  for (int i = 0; i < 100; ++i) {
    JoinHandle<void> h = rt.spawn(sleeper(done));
    std::this_thread::sleep_for(1ms);
    h.abort();
    auto join = [](JoinHandle<void> h) -> Task<bool> {
      try {
        co_await h;
      } catch (const TaskCancelled&) {
        co_return true;
      }
      co_return false;
    };
    ASSERT_TRUE(rt.block_on(join(std::move(h))));
  }
  EXPECT_FALSE(done->load());
}

TEST(SleepTest, ShutdownWithPendingTimers) {
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  {
    Runtime rt = MakeRuntime();
    auto sleeper = [](std::shared_ptr<std::atomic<int>> d) -> Task<void> {
      struct Count {
        std::shared_ptr<std::atomic<int>> d;
        ~Count() { d->fetch_add(1); }
      } count{d};
      co_await sleep(1h);
    };
    for (int i = 0; i < 500; ++i) rt.spawn(sleeper(destroyed)).detach();
    while (rt.metrics().alive_tasks < 500) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(destroyed->load(), 500);
}

TEST(SleepTest, IdleRuntimeSleepsUntilTheDeadline) {
  // One task sleeps 300 ms; meanwhile the workers must be parked, not
  // polling: their poll counts stay put and the task wakes on time.
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<void> { co_await sleep(300ms); };
  JoinHandle<void> h = rt.spawn(root());
  std::this_thread::sleep_for(50ms);
  const auto before = rt.metrics();
  std::this_thread::sleep_for(150ms);
  const auto during = rt.metrics();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(before.per_worker[i].polls, during.per_worker[i].polls);
  }
  auto join = [](JoinHandle<void> h) -> Task<void> { co_await h; };
  const auto start = Clock::now();
  rt.block_on(join(std::move(h)));
  EXPECT_LT(Clock::now() - start, 5s) << "the timer was not fired";
}

TEST(SleepTest, EarlierTimerInterruptsTheWatcher) {
  // A far timer makes some worker watch until then; a nearer one registered
  // later must still fire on time (well before the far one).
  Runtime rt = MakeRuntime();
  auto far = []() -> Task<void> { co_await sleep(30s); };
  JoinHandle<void> far_handle = rt.spawn(far());
  std::this_thread::sleep_for(50ms);  // both workers park, one watching
  auto near = []() -> Task<void> { co_await sleep(20ms); };
  const auto start = Clock::now();
  rt.block_on(near());
  EXPECT_LT(Clock::now() - start, 10s);
  far_handle.abort();
}

TEST(SleepTest, OutsideARuntimeThrows) {
  bool caught = false;
  auto task = [](bool* caught) -> Task<void> {
    try {
      co_await sleep(1ms);
    } catch (const std::logic_error&) {
      *caught = true;
    }
  }(&caught);
  auto handle = internal::TaskAccess<void>::Release(task);
  handle.resume();
  handle.destroy();
  EXPECT_TRUE(caught);
}

// ---- timeout ----

Task<int> SlowValue(std::chrono::milliseconds d, int v) {
  co_await sleep(d);
  co_return v;
}

// How a timeout() branch waits in the tests below: on a timer, or by
// yielding forever (a yield puts the task back in the queue still marked
// running, and cancelling it in place must claim it from there).
enum class BranchWaits { kOnATimer, kYielding };

Task<void> WaitForever(BranchWaits how) {
  if (how == BranchWaits::kOnATimer) {
    co_await sleep(1h);
  } else {
    while (true) co_await yield_now();
  }
}

// The inner operation may borrow from the caller (a read into its buffer):
// when the caller is aborted, the inner branch is gone before the caller's
// locals. One worker: a caller destroyed at its claim, before its branches
// were aborted and had ended, would leave them to be destroyed after its
// frame, when the worker got to them; and a claim that waited for a
// yielding branch to stop "running" would wait for this very worker.
void CheckAbortedCallersInnerGoesBeforeItsLocals(BranchWaits how) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  std::atomic<bool> started{false};
  std::atomic<int> destroyed_too_late{0};
  std::atomic<int> destroyed{0};
  auto borrower = [&](const testing::OwnerAlive* lender) -> Task<int> {
    testing::BorrowerCheck check{lender, &destroyed_too_late};
    struct Count {
      std::atomic<int>& n;
      ~Count() { n.fetch_add(1); }
    } count{destroyed};
    started.store(true);
    co_await WaitForever(how);
    co_return 1;
  };
  auto caller = [&]() -> Task<void> {
    testing::OwnerAlive alive;
    (void)co_await timeout(1h, borrower(&alive));
  };
  rt->block_on([&]() -> Task<void> {
    JoinHandle<void> h = spawn(caller());
    while (!started.load()) co_await yield_now();
    h.abort();
    try {
      co_await h;
    } catch (const TaskCancelled&) {
    }
  }());
  EXPECT_EQ(destroyed.load(), 1);
  EXPECT_EQ(destroyed_too_late.load(), 0);
}

TEST(TimeoutTest, AbortedCallersInnerGoesBeforeItsLocals) {
  CheckAbortedCallersInnerGoesBeforeItsLocals(BranchWaits::kOnATimer);
}

TEST(TimeoutTest, AbortedCallersYieldingInnerIsCancelledFromTheQueue) {
  CheckAbortedCallersInnerGoesBeforeItsLocals(BranchWaits::kYielding);
}

TEST(TimeoutTest, AbortingTheCallerLeavesTheWorkerFreeWhileTheInnerRuns) {
  testing::CheckAbortLeavesTheWorkerFreeWhileAChildRuns(
      [](Task<void> child) -> Task<void> {
        (void)co_await timeout(1h, std::move(child));
      });
}

// Shutdown sweeps callers waiting in timeout() and their branches alike;
// destroying a caller cancels its branches in place, and the sweep must not
// cancel them a second time when it reaches them (one worker, so callers,
// spawned first, are swept before their branches). A yielding branch is
// found queued in kRunning, and its claim is taken once.
void CheckShutdownSweepsCallersAndTheirBranchesOnce(BranchWaits how) {
  std::atomic<int> started{0};
  std::atomic<int> destroyed{0};
  constexpr int kCallers = 8;
  {
    auto rt = Builder().worker_threads(1).build();
    ASSERT_TRUE(rt.ok());
    auto inner = [&]() -> Task<void> {
      struct Count {
        std::atomic<int>& n;
        ~Count() { n.fetch_add(1); }
      } count{destroyed};
      started.fetch_add(1);
      co_await WaitForever(how);
    };
    auto caller = [&]() -> Task<void> { (void)co_await timeout(1h, inner()); };
    rt->block_on([&]() -> Task<void> {
      for (int i = 0; i < kCallers; ++i) spawn(caller()).detach();
      while (started.load() < kCallers) co_await yield_now();
    }());
  }
  EXPECT_EQ(destroyed.load(), kCallers);
}

TEST(TimeoutTest, ShutdownSweepsCallersAndTheirBranchesOnce) {
  CheckShutdownSweepsCallersAndTheirBranchesOnce(BranchWaits::kOnATimer);
}

TEST(TimeoutTest, ShutdownSweepsCallersAndTheirYieldingBranchesOnce) {
  CheckShutdownSweepsCallersAndTheirBranchesOnce(BranchWaits::kYielding);
}

TEST(TimeoutTest, ValueInTime) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<int> {
    absl::StatusOr<int> r = co_await timeout(5s, SlowValue(1ms, 7));
    co_return r.ok() ? *r : -1;
  };
  EXPECT_EQ(rt.block_on(root()), 7);
}

// An operation that yields a Status gives a Status: its own, or
// DeadlineExceeded (not an OK StatusOr holding the error).
TEST(TimeoutTest, StatusResultsAreFlattened) {
  Runtime rt = MakeRuntime();
  auto op = [](std::chrono::milliseconds d,
               absl::Status s) -> Task<absl::Status> {
    co_await sleep(d);
    co_return s;
  };
  auto root = [&]() -> Task<std::string> {
    absl::Status late = co_await timeout(5ms, op(1h, absl::OkStatus()));
    absl::Status own =
        co_await timeout(5s, op(1ms, absl::NotFoundError("gone")));
    absl::Status fine = co_await timeout(5s, op(1ms, absl::OkStatus()));
    co_return std::string(absl::StatusCodeToString(late.code())) + " " +
        std::string(absl::StatusCodeToString(own.code())) + " " +
        std::string(absl::StatusCodeToString(fine.code()));
  };
  EXPECT_EQ(rt.block_on(root()), "DEADLINE_EXCEEDED NOT_FOUND OK");
}

TEST(TimeoutTest, DeadlineExceededCancelsInner) {
  Runtime rt = MakeRuntime();
  auto inner_done = std::make_shared<std::atomic<bool>>(false);
  auto inner_destroyed = std::make_shared<std::atomic<bool>>(false);
  auto inner = [](std::shared_ptr<std::atomic<bool>> done,
                  std::shared_ptr<std::atomic<bool>> destroyed) -> Task<void> {
    struct Flag {
      std::shared_ptr<std::atomic<bool>> f;
      ~Flag() { f->store(true); }
    } flag{destroyed};
    co_await sleep(10s);
    done->store(true);
  };
  auto root = [&]() -> Task<absl::Status> {
    co_return co_await timeout(20ms, inner(inner_done, inner_destroyed));
  };
  const absl::Status s = rt.block_on(root());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  // The inner task is aborted: its frame goes away soon after.
  const auto deadline = Clock::now() + 5s;
  while (!inner_destroyed->load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(inner_destroyed->load());
  EXPECT_FALSE(inner_done->load());
}

TEST(TimeoutTest, WrapsAnAwaitableLikeTheIssueExample) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<bool> {
    auto late = co_await timeout(5ms, sleep(1s));
    co_return !late.ok() && late.code() == absl::StatusCode::kDeadlineExceeded;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(TimeoutTest, InnerExceptionPropagates) {
  Runtime rt = MakeRuntime();
  auto throws = []() -> Task<int> {
    co_await sleep(1ms);
    throw std::runtime_error("inner");
  };
  auto root = [&]() -> Task<bool> {
    try {
      (void)co_await timeout(5s, throws());
    } catch (const std::runtime_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(TimeoutTest, AbortingTheCallerAbortsTheInnerOperation) {
  Runtime rt = MakeRuntime();
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  auto inner = [](std::shared_ptr<std::atomic<bool>> d) -> Task<void> {
    struct Flag {
      std::shared_ptr<std::atomic<bool>> f;
      ~Flag() { f->store(true); }
    } flag{d};
    co_await sleep(1h);
  };
  auto caller = [&]() -> Task<void> {
    (void)co_await timeout(1h, inner(destroyed));
  };
  JoinHandle<void> h = rt.spawn(caller());
  std::this_thread::sleep_for(20ms);
  h.abort();
  const auto deadline = Clock::now() + 5s;
  while (!destroyed->load() && Clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(destroyed->load());
}

TEST(TimeoutTest, RacesRepeatedly) {
  // Inner and timer finish at about the same moment: exactly one wins each
  // time, nothing hangs, nothing leaks (ASan), no stale wake-up.
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<int> {
    int in_time = 0;
    for (int i = 0; i < 300; ++i) {
      absl::StatusOr<int> r = co_await timeout(2ms, SlowValue(2ms, 1));
      if (r.ok()) in_time += *r;
      co_await sleep(1ms);  // a stale wake-up here would end it early
    }
    co_return in_time;
  };
  const int in_time = rt.block_on(root());
  EXPECT_GE(in_time, 0);
  EXPECT_LE(in_time, 300);
}

// Branches that only yield, on two workers, against deadlines and aborts:
// a branch is cancelled while running, while queued by its last yield (on
// either worker), or finishes first. Each branch's frame is destroyed
// exactly once, every caller ends, and a wrong claim shows under TSan/ASan.
TEST(TimeoutTest, YieldingBranchesRaceDeadlinesAndAborts) {
  Runtime rt = MakeRuntime();
  std::atomic<int> branches{0};
  std::atomic<int> destroyed{0};
  auto spin = [&](int yields) -> Task<int> {
    struct Count {
      std::atomic<int>& n;
      ~Count() { n.fetch_add(1); }
    } count{destroyed};
    branches.fetch_add(1);
    for (int i = 0; i < yields; ++i) co_await yield_now();
    co_return yields;
  };
  auto caller = [&](int yields, int us) -> Task<void> {
    (void)co_await timeout(std::chrono::microseconds(us), spin(yields));
  };
  auto root = [&]() -> Task<void> {
    std::minstd_rand rng(3);
    for (int round = 0; round < 40 * testing::StressScale(); ++round) {
      std::vector<JoinHandle<void>> hs;
      for (int i = 0; i < 32; ++i) {
        hs.push_back(spawn(caller(static_cast<int>(rng() % 200),
                                  static_cast<int>(rng() % 300))));
      }
      for (int y = static_cast<int>(rng() % 4); y > 0; --y) {
        co_await yield_now();
      }
      for (size_t i = 0; i < hs.size(); i += 3) hs[i].abort();
      for (auto& h : hs) {
        try {
          co_await h;
        } catch (const TaskCancelled&) {
        }
      }
    }
  };
  rt.block_on(root());
  EXPECT_EQ(destroyed.load(), branches.load());
}

// ---- interval ----

TEST(IntervalTest, TicksAtTheRate) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<bool> {
    Interval every = interval(10ms);
    const auto start = Clock::now();
    for (int i = 0; i < 6; ++i) co_await every.tick();
    // First tick at once, then five periods.
    co_return Clock::now() - start >= 50ms;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(IntervalTest, MissedTickBehaviors) {
  Runtime rt = MakeRuntime();
  // After falling 55 ms behind a 10 ms interval, count how many ticks
  // complete within the next 3 ms. For kDelay and kSkip the window also
  // ends 1 ms before the next 10 ms boundary: kSkip's next regular tick is
  // due there, and when sleep_for overslept by 2 ms or more (a loaded
  // machine, TSan) a window of 3 ms alone reached it.
  auto ticks_soon = [](MissedTickBehavior b) -> Task<int> {
    // Before the interval starts, so its boundaries are no earlier than the
    // ones computed from this.
    const auto first = Clock::now();
    Interval every = interval(10ms, b);
    co_await every.tick();
    std::this_thread::sleep_for(55ms);  // the task falls behind
    int n = 0;
    const auto now = Clock::now();
    const auto next_boundary = first + (now - first) / 10ms * 10ms + 10ms;
    const auto until = b == MissedTickBehavior::kBurst
                           ? now + 3ms
                           : std::min(now + 3ms, next_boundary - 1ms);
    while (Clock::now() < until) {
      co_await every.tick();
      if (Clock::now() < until) ++n;
    }
    co_return n;
  };
  EXPECT_GE(rt.block_on(ticks_soon(MissedTickBehavior::kBurst)), 4);
  EXPECT_LE(rt.block_on(ticks_soon(MissedTickBehavior::kDelay)), 1);
  EXPECT_LE(rt.block_on(ticks_soon(MissedTickBehavior::kSkip)), 1);
}

}  // namespace
}  // namespace tidepool
