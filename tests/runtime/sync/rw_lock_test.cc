// RwLock<T>: shared readers, exclusive writers, write preference and FIFO,
// try_read/try_write, cancellation of waiters (nothing is lost), stress.
#include "runtime/sync/rw_lock.h"

#include <atomic>
#include <chrono>
#include <random>
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

TEST(RwLockTest, ReadersShareWritersExclude) {
  RwLock<int> lock(1);
  {
    std::optional<RwLockReadGuard<int>> r1 = lock.try_read();
    std::optional<RwLockReadGuard<int>> r2 = lock.try_read();
    ASSERT_TRUE(r1 && r2);
    EXPECT_EQ(**r1 + **r2, 2);
    EXPECT_FALSE(lock.try_write().has_value());
  }
  {
    std::optional<RwLockWriteGuard<int>> w = lock.try_write();
    ASSERT_TRUE(w.has_value());
    **w = 5;
    EXPECT_FALSE(lock.try_read().has_value());
    EXPECT_FALSE(lock.try_write().has_value());
    // A moved guard keeps the lock.
    RwLockWriteGuard<int> moved = *std::move(w);
    w.reset();
    EXPECT_FALSE(lock.try_read().has_value());
  }
  std::optional<RwLockReadGuard<int>> r = lock.try_read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(**r, 5);
  static_assert(std::is_same_v<decltype(**r), const int&>);
}

// The snippet.
TEST(RwLockTest, Contract) {
  Runtime rt = MakeRuntime(1);
  auto root = []() -> Task<bool> {
    RwLock<std::vector<int>> table;
    {
      auto w = co_await table.write();
      w->push_back(5);
    }
    auto r1 = co_await table.read();
    auto r2 = co_await table.read();
    co_return (*r1)[0] == 5 && r2->size() == 1;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(RwLockTest, QueuedWriterKeepsNewReadersOut) {
  // Reader holds; writer queues; a new reader must queue behind the writer
  // (write preference), and the writer must get the lock before it.
  RwLock<std::vector<std::string>> lock;
  Runtime rt = MakeRuntime(1);
  auto writer = [&]() -> Task<void> {
    auto w = co_await lock.write();
    w->push_back("w");
  };
  auto reader = [&]() -> Task<void> {
    auto r = co_await lock.read();
    EXPECT_EQ(r->size(), 1u);  // after the writer
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> w, r;
    {
      auto held = co_await lock.read();
      w = spawn(writer());
      co_await LetOthersRun();
      EXPECT_FALSE(lock.try_read().has_value());
      r = spawn(reader());
      co_await LetOthersRun();
      EXPECT_FALSE(w.is_finished());
      EXPECT_FALSE(r.is_finished());
    }
    EXPECT_TRUE(co_await FinishesSoon(w));
    EXPECT_TRUE(co_await FinishesSoon(r));
  };
  rt.block_on(root());
}

TEST(RwLockTest, WaitersAreServedInArrivalOrder) {
  // Held by a writer; queue: r0 r1 w2 r3 r4. Expected: r0 and r1 together,
  // then w2 alone, then r3 and r4.
  RwLock<std::vector<int>> lock;
  std::vector<int> order;  // one worker: no race
  Runtime rt = MakeRuntime(1);
  auto reader = [&](int id) -> Task<void> {
    auto r = co_await lock.read();
    order.push_back(id);
    co_await LetOthersRun();  // hold it while the others are served
  };
  auto writer = [&](int id) -> Task<void> {
    auto w = co_await lock.write();
    order.push_back(id);
    co_await LetOthersRun();
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    {
      auto held = co_await lock.write();
      hs.push_back(spawn(reader(0)));
      co_await LetOthersRun();
      hs.push_back(spawn(reader(1)));
      co_await LetOthersRun();
      hs.push_back(spawn(writer(2)));
      co_await LetOthersRun();
      hs.push_back(spawn(reader(3)));
      co_await LetOthersRun();
      hs.push_back(spawn(reader(4)));
      co_await LetOthersRun();
      EXPECT_TRUE(order.empty());
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  ASSERT_EQ(order.size(), 5u);
  EXPECT_TRUE((order[0] == 0 && order[1] == 1) ||
              (order[0] == 1 && order[1] == 0));
  EXPECT_EQ(order[2], 2);
  EXPECT_TRUE((order[3] == 3 && order[4] == 4) ||
              (order[3] == 4 && order[4] == 3));
}

TEST(RwLockTest, AbortedQueuedWriterLetsTheReadersBehindItIn) {
  RwLock<int> lock(0);
  Runtime rt = MakeRuntime(1);
  auto writer = [&]() -> Task<void> {
    auto w = co_await lock.write();
    ++*w;
  };
  auto reader = [&]() -> Task<int> {
    auto r = co_await lock.read();
    co_return *r;
  };
  auto root = [&]() -> Task<void> {
    auto held = co_await lock.read();
    JoinHandle<void> w = spawn(writer());
    co_await LetOthersRun();
    JoinHandle<int> r = spawn(reader());
    co_await LetOthersRun();
    EXPECT_FALSE(r.is_finished());
    w.abort();
    EXPECT_TRUE(co_await WasCancelled(w));
    // The reader was queued only because of the writer: it must enter now,
    // while `held` is still held.
    EXPECT_TRUE(co_await FinishesSoon(r));
  };
  rt.block_on(root());
  EXPECT_TRUE(lock.try_write().has_value());
}

TEST(RwLockTest, WriterAbortedAfterHandOffPassesTheLockOn) {
  RwLock<int> lock(0);
  Runtime rt = MakeRuntime(1);
  auto writer = [&]() -> Task<void> {
    auto w = co_await lock.write();
    ++*w;
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> first, second;
    {
      auto held = co_await lock.write();
      first = spawn(writer());
      co_await LetOthersRun();
      second = spawn(writer());
      co_await LetOthersRun();
    }
    // Handed to `first`, which dies before running.
    first.abort();
    EXPECT_TRUE(co_await WasCancelled(first));
    EXPECT_TRUE(co_await FinishesSoon(second));
  };
  rt.block_on(root());
  std::optional<RwLockReadGuard<int>> r = lock.try_read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(**r, 1);
}

TEST(RwLockTest, TimeoutAroundAWaitWithdrawsIt) {
  RwLock<int> lock(0);
  Runtime rt = MakeRuntime(2);
  auto root = [&]() -> Task<void> {
    {
      auto held = co_await lock.read();
      absl::StatusOr<RwLockWriteGuard<int>> w =
          co_await timeout(1ms, lock.write());
      EXPECT_TRUE(absl::IsDeadlineExceeded(w.status()));
      // The timed-out writer no longer keeps readers out.
      EXPECT_TRUE(lock.try_read().has_value());
    }
    EXPECT_TRUE(lock.try_write().has_value());
  };
  rt.block_on(root());
}

// Writers increment a counter across a suspension point; readers check
// that it does not move while they hold the lock (across one too); tasks
// are aborted at random. A writer overlapping a reader shows up as a moved
// value, two writers overlapping as a lost increment (and ThreadSanitizer
// reports the race); a lost hand-off hangs the test.
TEST(RwLockTest, StressWithAborts) {
  struct Pair {
    long a = 0;
    long completed = 0;
  };
  RwLock<Pair> lock;
  std::atomic<int> broken{0};
  Runtime rt = MakeRuntime(2);
  auto worker = [&](int rounds, unsigned seed) -> Task<void> {
    std::minstd_rand rng(seed);
    for (int i = 0; i < rounds; ++i) {
      if (rng() % 4 == 0) {
        auto w = co_await lock.write();
        const long before = w->a;
        co_await yield_now();
        w->a = before + 1;
        ++w->completed;
      } else {
        auto r = co_await lock.read();
        const long seen = r->a;
        co_await yield_now();
        if (r->a != seen) broken.fetch_add(1);
      }
    }
  };
  auto root = [&]() -> Task<void> {
    std::minstd_rand rng(5);
    for (int round = 0; round < 200 * testing::StressScale(); ++round) {
      std::vector<JoinHandle<void>> hs;
      for (int t = 0; t < 12; ++t) {
        hs.push_back(spawn(worker(20, static_cast<unsigned>(rng()))));
      }
      for (int y = rng() % 30; y > 0; --y) co_await yield_now();
      hs[rng() % hs.size()].abort();
      for (auto& h : hs) co_await WasCancelled(h);
    }
  };
  rt.block_on(root());
  EXPECT_EQ(broken.load(), 0);
  std::optional<RwLockReadGuard<Pair>> r = lock.try_read();
  ASSERT_TRUE(r.has_value());
  // An aborted writer may have read and never written: only completed
  // sections count, each exactly once.
  EXPECT_EQ((*r)->a, (*r)->completed);
  EXPECT_GT((*r)->completed, 0);
}

}  // namespace
}  // namespace tidepool
