// JoinHandle: results, exceptions, abort, detach, is_finished.
#include "runtime/join_handle.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

Runtime MakeRuntime() {
  auto rt = Builder().worker_threads(2).build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return std::move(*rt);
}

Task<int> Leaf(int i) {
  co_await yield_now();
  co_return i;
}

TEST(JoinHandleTest, AwaitReturnsValue) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<int> { co_return co_await spawn(Leaf(5)); };
  EXPECT_EQ(rt.block_on(root()), 5);
}

TEST(JoinHandleTest, ExceptionReachesAwaiterAndWorkerSurvives) {
  Runtime rt = MakeRuntime();
  auto fails = []() -> Task<int> {
    co_await yield_now();
    throw std::out_of_range("bad index");
  };
  auto root = [&]() -> Task<int> {
    JoinHandle<int> h = spawn(fails());
    try {
      co_await h;
    } catch (const std::out_of_range&) {
      co_return 1;
    }
    co_return 0;
  };
  for (int i = 0; i < 100; ++i) ASSERT_EQ(rt.block_on(root()), 1);
  // Workers are still alive and serving.
  EXPECT_EQ(rt.block_on(Leaf(3)), 3);
}

TEST(JoinHandleTest, AwaitingTwiceThrows) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<bool> {
    JoinHandle<int> h = spawn(Leaf(1));
    co_await h;
    try {
      co_await h;
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(JoinHandleTest, TwoTasksAwaitingOneHandleAtOnce) {
  // One of them gets the value, the other std::logic_error; neither leaks a
  // reference (ASan's leak check would report the waiter's cell). Rounds:
  // the two may find the task complete at once on two workers, a race TSan
  // reports if the pick between them is not atomic.
  Runtime rt = MakeRuntime();
  auto slow = []() -> Task<int> {
    for (int i = 0; i < 100; ++i) co_await yield_now();
    co_return 5;
  };
  auto awaiter = [](JoinHandle<int>* h) -> Task<int> {
    try {
      co_return co_await *h;
    } catch (const std::logic_error&) {
      co_return -1;
    }
  };
  auto root = [&]() -> Task<int> {
    JoinHandle<int> shared = spawn(slow());
    JoinHandle<int> a = spawn(awaiter(&shared));
    JoinHandle<int> b = spawn(awaiter(&shared));
    co_return co_await a + co_await b;
  };
  for (int round = 0; round < 200; ++round) {
    ASSERT_EQ(rt.block_on(root()), 4) << "round " << round;
  }
}

// The same misuse with the task already finished, so that both awaiters
// take the result straight away, on two workers at once where they can
// (each waits up to 1 ms for the other to start): exactly one gets the
// value. Under TSan, a pick between them that is not atomic is reported.
TEST(JoinHandleTest, TwoTasksTakingOneFinishedResultAtOnce) {
  Runtime rt = MakeRuntime();
  auto awaiter = [](JoinHandle<int>* h,
                    std::atomic<int>* started) -> Task<int> {
    started->fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + 1ms;
    while (started->load() < 2 && std::chrono::steady_clock::now() < until) {
    }
    try {
      co_return co_await *h;
    } catch (const std::logic_error&) {
      co_return -1;
    }
  };
  for (int round = 0; round < 300; ++round) {
    JoinHandle<int> shared = rt.spawn(Leaf(5));
    while (!shared.is_finished()) std::this_thread::yield();
    std::atomic<int> started{0};
    JoinHandle<int> a = rt.spawn(awaiter(&shared, &started));
    JoinHandle<int> b = rt.spawn(awaiter(&shared, &started));
    auto both = [](JoinHandle<int> a, JoinHandle<int> b) -> Task<int> {
      co_return co_await a + co_await b;
    };
    ASSERT_EQ(rt.block_on(both(std::move(a), std::move(b))), 4)
        << "round " << round;
  }
}

TEST(JoinHandleTest, IsFinishedFromOutside) {
  Runtime rt = MakeRuntime();
  JoinHandle<int> h = rt.spawn(Leaf(9));
  while (!h.is_finished()) std::this_thread::yield();
  auto root = [](JoinHandle<int> h) -> Task<int> { co_return co_await h; };
  EXPECT_EQ(rt.block_on(root(std::move(h))), 9);
}

// A task that never finishes on its own: it awaits a handle of a task that
// awaits forever-pending work, until aborted.
Task<void> Forever(std::shared_ptr<std::atomic<bool>> destroyed) {
  struct Flag {
    std::shared_ptr<std::atomic<bool>> f;
    ~Flag() { f->store(true); }
  } flag{destroyed};
  while (true) co_await yield_now();
}

TEST(JoinHandleTest, AbortCancelsAndDestroysFrame) {
  Runtime rt = MakeRuntime();
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  JoinHandle<void> h = rt.spawn(Forever(destroyed));
  std::this_thread::sleep_for(5ms);
  h.abort();
  auto root = [](JoinHandle<void> h) -> Task<bool> {
    try {
      co_await h;
    } catch (const TaskCancelled&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(root(std::move(h))));
  EXPECT_TRUE(destroyed->load());
}

TEST(JoinHandleTest, AbortBeforeFirstPollNeverRuns) {
  // One worker: with two, the monitor may hand a task that sat in the LIFO
  // slot for 250 us (a preempted root, a slow sanitizer build) to the other
  // worker, which could start it before the abort.
  auto built = Builder().worker_threads(1).build();
  ASSERT_TRUE(built.ok()) << built.status();
  Runtime rt = std::move(*built);
  std::atomic<int> ran{0};
  auto body = [&]() -> Task<void> {
    ran.fetch_add(1);
    co_return;
  };
  auto root = [&]() -> Task<int> {
    int cancelled = 0;
    for (int i = 0; i < 1000; ++i) {
      JoinHandle<void> h = spawn(body());
      h.abort();  // the only worker is running this task: `body` waits
      try {
        co_await h;
      } catch (const TaskCancelled&) {
        ++cancelled;
      }
    }
    co_return cancelled;
  };
  EXPECT_EQ(rt.block_on(root()), 1000);
  EXPECT_EQ(ran.load(), 0);
}

TEST(JoinHandleTest, AbortAfterFinishKeepsResult) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<int> {
    JoinHandle<int> h = spawn(Leaf(4));
    while (!h.is_finished()) co_await yield_now();
    h.abort();
    co_return co_await h;
  };
  EXPECT_EQ(rt.block_on(root()), 4);
}

TEST(JoinHandleTest, DroppedHandleDetachesTask) {
  Runtime rt = MakeRuntime();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto body = [](std::shared_ptr<std::atomic<bool>> done) -> Task<void> {
    for (int i = 0; i < 10; ++i) co_await yield_now();
    done->store(true);
  };
  { JoinHandle<void> dropped = rt.spawn(body(done)); }
  while (!done->load()) std::this_thread::yield();
  SUCCEED();
}

TEST(JoinHandleTest, AwaitingTaskAbortedWhileWaitingWithdraws) {
  // The awaiter is destroyed while registered; the awaited task finishing
  // later must not touch it (ASan would catch a use-after-free).
  Runtime rt = MakeRuntime();
  auto slow = []() -> Task<int> {
    for (int i = 0; i < 2000; ++i) co_await yield_now();
    co_return 1;
  };
  auto waiter = [](JoinHandle<int> h) -> Task<int> { co_return co_await h; };
  for (int i = 0; i < 50; ++i) {
    JoinHandle<int> inner = rt.spawn(slow());
    JoinHandle<int> outer = rt.spawn(waiter(std::move(inner)));
    std::this_thread::sleep_for(100us);
    outer.abort();
  }
  EXPECT_EQ(rt.block_on(Leaf(1)), 1);
}

}  // namespace
}  // namespace tidepool
