// TaskTracker: counting, close/reopen, wait() with tasks in flight, and
// tasks that end by abort, exception or runtime shutdown.
#include "runtime/sync/task_tracker.h"

#include <atomic>
#include <stdexcept>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

using ::tidepool::testing::MakeRuntime;

Task<void> WaitFor(CancellationToken gate) { co_await gate.cancelled(); }
Task<int> Answer() { co_return 42; }
Task<int> Throws() {
  throw std::runtime_error("boom");
  co_return 0;
}

TEST(TaskTrackerTest, WaitCompletesOnlyOnceClosedAndEveryTaskFinished) {
  Runtime rt = MakeRuntime(1);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    CancellationToken gate;
    for (int i = 0; i < 3; ++i) tracker.spawn(WaitFor(gate)).detach();
    EXPECT_EQ(tracker.len(), 3u);
    EXPECT_FALSE(tracker.is_empty());
    tracker.close();
    EXPECT_TRUE(tracker.is_closed());
    JoinHandle<void> waiter = spawn(tracker.wait());
    // One worker: each yield lets the spawned tasks run until they suspend.
    for (int i = 0; i < 5; ++i) co_await yield_now();
    EXPECT_FALSE(waiter.is_finished());
    EXPECT_EQ(tracker.len(), 3u);
    gate.cancel();
    co_await std::move(waiter);
    EXPECT_TRUE(tracker.is_empty());
  }());
}

TEST(TaskTrackerTest, WaitBeforeCloseDoesNotComplete) {
  Runtime rt = MakeRuntime(1);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    JoinHandle<void> waiter = spawn(tracker.wait());
    for (int i = 0; i < 5; ++i) co_await yield_now();
    EXPECT_TRUE(tracker.is_empty());
    EXPECT_FALSE(waiter.is_finished());
    tracker.close();
    co_await std::move(waiter);
  }());
}

TEST(TaskTrackerTest, WaitOnAClosedEmptyTrackerCompletesAtOnce) {
  Runtime rt = MakeRuntime(1);
  TaskTracker tracker;
  tracker.close();
  rt.block_on(tracker.wait());
  EXPECT_TRUE(tracker.is_empty());
}

TEST(TaskTrackerTest, ReopenMakesWaitWaitForTheNextClose) {
  Runtime rt = MakeRuntime(1);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    tracker.close();
    tracker.reopen();
    EXPECT_FALSE(tracker.is_closed());
    JoinHandle<void> waiter = spawn(tracker.wait());
    for (int i = 0; i < 5; ++i) co_await yield_now();
    EXPECT_FALSE(waiter.is_finished());
    tracker.close();
    co_await std::move(waiter);
  }());
}

TEST(TaskTrackerTest, HandlesYieldValuesAndExceptions) {
  Runtime rt = MakeRuntime(2);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    EXPECT_EQ(co_await tracker.spawn(Answer()), 42);
    EXPECT_THROW(co_await tracker.spawn(Throws()), std::runtime_error);
    EXPECT_TRUE(tracker.is_empty());
  }());
}

TEST(TaskTrackerTest, AbortedTaskStopsCounting) {
  Runtime rt = MakeRuntime(2);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    CancellationToken never;
    JoinHandle<void> h = tracker.spawn(WaitFor(never));
    tracker.close();
    h.abort();
    EXPECT_THROW(co_await std::move(h), TaskCancelled);
    co_await tracker.wait();
    EXPECT_TRUE(tracker.is_empty());
  }());
}

TEST(TaskTrackerTest, RuntimeShutdownEndsTheCount) {
  TaskTracker tracker;
  CancellationToken never;
  {
    Runtime rt = MakeRuntime(2);
    rt.block_on([](TaskTracker t, CancellationToken n) -> Task<void> {
      for (int i = 0; i < 4; ++i) t.spawn(WaitFor(n)).detach();
      co_return;
    }(tracker, never));
    EXPECT_EQ(tracker.len(), 4u);
  }
  EXPECT_TRUE(tracker.is_empty());
}

// Records the tracker's count when the frame holding it is destroyed.
struct CountAtDestruction {
  TaskTracker tracker;
  size_t* seen;
  ~CountAtDestruction() { *seen = tracker.len(); }
};

Task<void> HoldsAGuard(TaskTracker tracker, size_t* seen) {
  CountAtDestruction guard{tracker, seen};
  co_await yield_now();
}

// The task counts until its frame is gone: its destructors run while it is
// still counted, and the count drops right after.
TEST(TaskTrackerTest, CountsUntilTheFrameIsGone) {
  Runtime rt = MakeRuntime(1);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    size_t seen = 99;
    co_await tracker.spawn(HoldsAGuard(tracker, &seen));
    EXPECT_EQ(seen, 1u);
    EXPECT_TRUE(tracker.is_empty());
  }());
}

// The tracker hears of each task's end through a process-wide table
// (internal/task_end_listeners.h): every way a task ends drops its entry.
TEST(TaskTrackerTest, EveryEndingDropsTheTableEntry) {
  const size_t before = internal::TaskEndListenerCount();
  {
    Runtime rt = MakeRuntime(2);
    rt.block_on([]() -> Task<void> {
      TaskTracker tracker;
      CancellationToken never;
      co_await tracker.spawn(Answer());
      EXPECT_THROW(co_await tracker.spawn(Throws()), std::runtime_error);
      JoinHandle<void> aborted = tracker.spawn(WaitFor(never));
      aborted.abort();
      EXPECT_THROW(co_await std::move(aborted), TaskCancelled);
      tracker.spawn(WaitFor(never)).detach();  // ended by the shutdown
      EXPECT_EQ(tracker.len(), 1u);
    }());
    EXPECT_EQ(internal::TaskEndListenerCount(), before + 1);
  }
  EXPECT_EQ(internal::TaskEndListenerCount(), before);
}

TEST(TaskTrackerTest, ManyTasksFromManyWorkers) {
  Runtime rt = MakeRuntime(4);
  const int n = 200 * ::tidepool::testing::Scale();
  std::atomic<int> ran{0};
  rt.block_on([](int n, std::atomic<int>& ran) -> Task<void> {
    TaskTracker tracker;
    std::vector<JoinHandle<void>> spawners;
    for (int s = 0; s < 4; ++s) {
      spawners.push_back(
          spawn([](TaskTracker t, int n, std::atomic<int>& ran) -> Task<void> {
            for (int i = 0; i < n; ++i) {
              t.spawn([](std::atomic<int>& ran) -> Task<void> {
                 co_await yield_now();
                 ran.fetch_add(1);
               }(ran))
                  .detach();
            }
            co_return;
          }(tracker, n, ran)));
    }
    for (JoinHandle<void>& h : spawners) co_await std::move(h);
    tracker.close();
    co_await tracker.wait();
    EXPECT_TRUE(tracker.is_empty());
  }(n, ran));
  EXPECT_EQ(ran.load(), 4 * n);
}

}  // namespace
}  // namespace tidepool
