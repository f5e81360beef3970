// JoinSet: completion order, exceptions, abort_all, destruction, and
// stress with aborts racing completions.
#include "runtime/sync/join_set.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "runtime/sync/oneshot.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

using testing::LetOthersRun;
using testing::Live;
using testing::MakeRuntime;

// Finishes with `v` once told to through `go`.
Task<int> WhenTold(oneshot::Receiver<int> go) {
  absl::StatusOr<int> v = co_await std::move(go);
  if (!v.ok()) throw std::runtime_error("never told");
  co_return *v;
}

TEST(JoinSetTest, EmptySetYieldsNullopt) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<bool> {
    JoinSet<int> set;
    EXPECT_TRUE(set.empty());
    EXPECT_FALSE(set.try_join_next().has_value());
    co_return !(co_await set.join_next()).has_value();
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(JoinSetTest, ResultsComeInCompletionOrder) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    JoinSet<int> set;
    std::vector<oneshot::Sender<int>> go;
    for (int i = 0; i < 4; ++i) {
      auto [tx, rx] = oneshot::channel<int>();
      go.push_back(std::move(tx));
      set.spawn(WhenTold(std::move(rx)));
    }
    EXPECT_EQ(set.size(), 4u);
    for (int i : {2, 0, 3, 1}) {
      go[i].send(i * 10);
      EXPECT_EQ(co_await set.join_next(), std::optional<int>(i * 10));
    }
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(co_await set.join_next(), std::nullopt);
  };
  rt.block_on(root());
}

TEST(JoinSetTest, ExceptionsPropagate) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    JoinSet<void> set;
    auto fails = []() -> Task<void> {
      co_await yield_now();
      throw std::out_of_range("boom");
    };
    set.spawn(fails());
    EXPECT_THROW(co_await set.join_next(), std::out_of_range);
    EXPECT_TRUE(set.empty());
    set.spawn([]() -> Task<void> { co_return; }());
    std::optional<std::monostate> done = co_await set.join_next();
    EXPECT_TRUE(done.has_value());
  };
  rt.block_on(root());
}

TEST(JoinSetTest, AbortAllReportsCancellationAfterFramesAreGone) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto forever = [&]() -> Task<int> {
    Live live(&frames);
    while (true) co_await yield_now();
  };
  auto root = [&]() -> Task<void> {
    JoinSet<int> set;
    for (int i = 0; i < 10; ++i) set.spawn(forever());
    while (frames.load() < 5) co_await yield_now();
    set.abort_all();
    int cancelled = 0;
    while (true) {
      try {
        if (!co_await set.join_next()) break;
      } catch (const TaskCancelled&) {
        // Reported only once the task's frame, `live` included, is gone.
        ++cancelled;
        EXPECT_LE(frames.load(), 10 - cancelled);
      }
    }
    EXPECT_EQ(cancelled, 10);
    EXPECT_EQ(frames.load(), 0);
  };
  rt.block_on(root());
}

TEST(JoinSetTest, CancelledTaskIsReportedAfterItsDestructorsRan) {
  // The task's destructor is slow; the set, watched from the other worker,
  // must not report the task before that destructor has finished.
  using namespace std::chrono_literals;
  Runtime rt = MakeRuntime(2);
  std::atomic<int> started{0};
  std::atomic<int> destroyed{0};
  auto slow_to_die = [&]() -> Task<int> {
    struct SlowDestructor {
      std::atomic<int>& destroyed;
      ~SlowDestructor() {
        std::this_thread::sleep_for(5ms);
        destroyed.fetch_add(1);
      }
    } slow{destroyed};
    started.fetch_add(1);
    while (true) co_await yield_now();
  };
  auto root = [&]() -> Task<void> {
    for (int i = 0; i < 5; ++i) {
      JoinSet<int> set;
      set.spawn(slow_to_die());
      while (started.load() <= i) co_await yield_now();
      set.abort_all();
      // Spin without yielding, so that the task is destroyed on the other
      // worker while this one watches.
      bool reported = false;
      while (!reported) {
        try {
          EXPECT_FALSE(set.try_join_next().has_value());
        } catch (const TaskCancelled&) {
          reported = true;
        }
      }
      EXPECT_EQ(destroyed.load(), i + 1);
    }
  };
  rt.block_on(root());
}

TEST(JoinSetTest, TasksAbortedBeforeTheyStartAreReported) {
  Runtime rt = MakeRuntime(1);
  std::atomic<int> ran{0};
  auto body = [&]() -> Task<int> {
    ran.fetch_add(1);
    co_return 1;
  };
  auto root = [&]() -> Task<int> {
    JoinSet<int> set;
    for (int i = 0; i < 100; ++i) set.spawn(body());
    set.abort_all();  // one worker: none of them has started
    int cancelled = 0;
    while (!set.empty()) {
      try {
        co_await set.join_next();
      } catch (const TaskCancelled&) {
        ++cancelled;
      }
    }
    co_return cancelled;
  };
  EXPECT_EQ(rt.block_on(root()), 100);
  EXPECT_EQ(ran.load(), 0);
}

TEST(JoinSetTest, DestroyingTheSetAbortsItsTasks) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto forever = [&]() -> Task<void> {
    Live live(&frames);
    while (true) co_await yield_now();
  };
  auto root = [&]() -> Task<void> {
    {
      JoinSet<void> set;
      for (int i = 0; i < 10; ++i) set.spawn(forever());
      while (frames.load() < 10) co_await yield_now();
    }
    while (frames.load() > 0) co_await yield_now();
  };
  rt.block_on(root());  // hangs if the tasks were not aborted
  EXPECT_EQ(frames.load(), 0);
}

TEST(JoinSetTest, MoveAssignmentAbortsTheOverwrittenSet) {
  Runtime rt = MakeRuntime(2);
  std::atomic<int> frames{0};
  auto forever = [&]() -> Task<int> {
    Live live(&frames);
    while (true) co_await yield_now();
  };
  auto root = [&]() -> Task<int> {
    JoinSet<int> a;
    a.spawn(forever());
    JoinSet<int> b;
    b.spawn([]() -> Task<int> { co_return 4; }());
    a = std::move(b);
    while (frames.load() > 0) co_await yield_now();
    co_return *(co_await a.join_next());
  };
  EXPECT_EQ(rt.block_on(root()), 4);
}

TEST(JoinSetTest, JoinNextWaiterAbortedThenReplaced) {
  // The task awaiting join_next() is aborted; the result it did not take
  // is still there for the next call.
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<int> {
    JoinSet<int> set;
    auto [tx, rx] = oneshot::channel<int>();
    set.spawn(WhenTold(std::move(rx)));
    auto join = [](JoinSet<int>* set) -> Task<std::optional<int>> {
      co_return co_await set->join_next();
    };
    JoinHandle<std::optional<int>> j = spawn(join(&set));
    co_await LetOthersRun();
    tx.send(8);
    j.abort();
    co_await testing::WasCancelled(j);
    co_return *(co_await set.join_next());
  };
  EXPECT_EQ(rt.block_on(root()), 8);
}

TEST(JoinSetTest, SpawnOutsideARuntimeThrows) {
  JoinSet<int> set;
  EXPECT_THROW(set.spawn([]() -> Task<int> { co_return 1; }()),
               std::logic_error);
  EXPECT_TRUE(set.empty());
}

TEST(JoinSetTest, ShutdownWithTasksInTheSet) {
  // The set and its tasks are destroyed by the runtime's sweep in some
  // order; ASan checks that nothing leaks or is used after free.
  std::atomic<int> frames{0};
  {
    Runtime rt = MakeRuntime(2);
    auto forever = [&]() -> Task<void> {
      Live live(&frames);
      while (true) co_await yield_now();
    };
    auto owner = [&]() -> Task<void> {
      JoinSet<void> set;
      for (int i = 0; i < 10; ++i) set.spawn(forever());
      co_await set.join_next();
    };
    rt.spawn(owner()).detach();
    while (frames.load() < 10) std::this_thread::yield();
  }
  EXPECT_EQ(frames.load(), 0);
}

// Many tasks finish while abort_all() races with them, on two workers:
// every task is reported exactly once, as a value or as cancelled.
TEST(JoinSetTest, StressAbortRacesCompletion) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<void> {
    std::minstd_rand rng(13);
    for (int round = 0; round < 300 * testing::Scale(); ++round) {
      JoinSet<int> set;
      auto work = [](int yields) -> Task<int> {
        for (int i = 0; i < yields; ++i) co_await yield_now();
        co_return 1;
      };
      for (int i = 0; i < 64; ++i) set.spawn(work(rng() % 6));
      for (int y = rng() % 6; y > 0; --y) co_await yield_now();
      set.abort_all();
      int values = 0, cancelled = 0;
      while (true) {
        try {
          std::optional<int> v = co_await set.join_next();
          if (!v) break;
          values += *v;
        } catch (const TaskCancelled&) {
          ++cancelled;
        }
      }
      EXPECT_EQ(values + cancelled, 64);
    }
  };
  rt.block_on(root());
}

TEST(JoinSetTest, StressManyTasks) {
  Runtime rt = MakeRuntime(2);
  auto root = []() -> Task<long> {
    JoinSet<long> set;
    const int n = 20000 * testing::Scale();
    for (int i = 0; i < n; ++i) {
      set.spawn([](long i) -> Task<long> {
        if (i % 3 == 0) co_await yield_now();
        co_return i;
      }(i));
    }
    long sum = 0;
    while (std::optional<long> v = co_await set.join_next()) sum += *v;
    co_return sum - static_cast<long>(n) * (n - 1) / 2;
  };
  EXPECT_EQ(rt.block_on(root()), 0);
}

}  // namespace
}  // namespace tidepool
