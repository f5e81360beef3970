// Semaphore: FIFO acquisition, permits returned on scope exit, close,
// cancellation of waiters (no permit lost), and a stress test with aborts.
#include "runtime/sync/semaphore.h"

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

using testing::FinishesSoon;
using testing::LetOthersRun;
using testing::MakeRuntime;
using testing::WasCancelled;

TEST(SemaphoreTest, TryAcquireAndReturnOnScopeExit) {
  Semaphore sem(3);
  {
    auto two = sem.try_acquire(2);
    ASSERT_TRUE(two.ok());
    EXPECT_EQ(two->num_permits(), 2u);
    EXPECT_EQ(sem.available_permits(), 1u);
    auto none = sem.try_acquire(2);
    EXPECT_TRUE(none.error() == TryAcquireError::kNoPermits);
  }
  EXPECT_EQ(sem.available_permits(), 3u);
}

TEST(SemaphoreTest, ForgetKeepsPermitsOut) {
  Semaphore sem(2);
  {
    auto p = sem.try_acquire();
    ASSERT_TRUE(p.ok());
    p->forget();
  }
  EXPECT_EQ(sem.available_permits(), 1u);
  sem.add_permits(4);
  EXPECT_EQ(sem.available_permits(), 5u);
}

TEST(SemaphoreTest, MoveAssignmentReturnsTheOverwrittenPermits) {
  Semaphore sem(3);
  auto a = sem.try_acquire(1);
  auto b = sem.try_acquire(2);
  ASSERT_TRUE(a.ok() && b.ok());
  *a = *std::move(b);
  EXPECT_EQ(sem.available_permits(), 1u);
  EXPECT_EQ(a->num_permits(), 2u);
}

TEST(SemaphoreTest, TooManyPermitsThrow) {
  EXPECT_THROW(Semaphore(Semaphore::kMaxPermits + 1), std::invalid_argument);
  Semaphore sem(Semaphore::kMaxPermits);
  EXPECT_THROW(sem.add_permits(1), std::overflow_error);
  EXPECT_THROW((void)sem.acquire(Semaphore::kMaxPermits + 1),
               std::invalid_argument);
}

TEST(SemaphoreTest, AcquireWaitsUntilPermitsComeBack) {
  Semaphore sem(1);
  Runtime rt = MakeRuntime(1);
  std::atomic<int> acquired{0};
  auto waiter = [&]() -> Task<void> {
    absl::StatusOr<SemaphorePermit> p = co_await sem.acquire();
    EXPECT_TRUE(p.ok());
    acquired.fetch_add(1);
  };
  auto root = [&]() -> Task<void> {
    auto held = sem.try_acquire();
    EXPECT_TRUE(held.ok());
    JoinHandle<void> h = spawn(waiter());
    co_await LetOthersRun();
    EXPECT_EQ(acquired.load(), 0);
    held = TryAcquireError::kClosed;  // drops the permit
    co_await h;
    EXPECT_EQ(acquired.load(), 1);
  };
  rt.block_on(root());
  EXPECT_EQ(sem.available_permits(), 1u);
}

TEST(SemaphoreTest, WaitersAreServedInArrivalOrder) {
  // A large request at the head is not overtaken by later small ones, even
  // though enough permits for them come back first.
  Semaphore sem(0);
  Runtime rt = MakeRuntime(1);
  std::vector<int> order;
  auto waiter = [&](int id, size_t n) -> Task<void> {
    absl::StatusOr<SemaphorePermit> p = co_await sem.acquire(n);
    order.push_back(id);
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    hs.push_back(spawn(waiter(0, 3)));
    co_await LetOthersRun();
    hs.push_back(spawn(waiter(1, 1)));
    co_await LetOthersRun();
    hs.push_back(spawn(waiter(2, 1)));
    co_await LetOthersRun();
    sem.add_permits(2);  // assigned to waiter 0, which needs one more
    co_await LetOthersRun();
    EXPECT_TRUE(order.empty());
    EXPECT_EQ(sem.available_permits(), 0u);
    EXPECT_TRUE(sem.try_acquire().error() == TryAcquireError::kNoPermits);
    sem.add_permits(1);
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(sem.available_permits(), 3u);
}

TEST(SemaphoreTest, CloseFailsWaitersAndLaterAcquires) {
  Semaphore sem(1);
  Runtime rt = MakeRuntime(1);
  auto waiter = [&]() -> Task<bool> {
    absl::StatusOr<SemaphorePermit> p = co_await sem.acquire(2);
    co_return absl::IsFailedPrecondition(p.status());
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<bool> h = spawn(waiter());
    co_await LetOthersRun();
    EXPECT_EQ(sem.available_permits(), 0u);  // one permit assigned to it
    sem.close();
    EXPECT_TRUE(co_await h);
    EXPECT_TRUE(sem.is_closed());
    absl::StatusOr<SemaphorePermit> late = co_await sem.acquire();
    EXPECT_TRUE(absl::IsFailedPrecondition(late.status()));
    EXPECT_TRUE(sem.try_acquire().error() == TryAcquireError::kClosed);
  };
  rt.block_on(root());
  // The permit assigned to the failed waiter came back.
  EXPECT_EQ(sem.available_permits(), 1u);
}

TEST(SemaphoreTest, AbortedWaiterReturnsItsPartialPermits) {
  Semaphore sem(2);
  Runtime rt = MakeRuntime(1);
  auto greedy = [&]() -> Task<void> {
    absl::StatusOr<SemaphorePermit> p = co_await sem.acquire(5);
  };
  auto small = [&]() -> Task<size_t> {
    absl::StatusOr<SemaphorePermit> p = co_await sem.acquire(2);
    co_return p->num_permits();
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> g = spawn(greedy());
    co_await LetOthersRun();
    EXPECT_EQ(sem.available_permits(), 0u);
    JoinHandle<size_t> s = spawn(small());
    co_await LetOthersRun();
    EXPECT_FALSE(s.is_finished());
    g.abort();  // its two permits must reach the waiter behind it
    EXPECT_TRUE(co_await WasCancelled(g));
    const bool finished = co_await FinishesSoon(s);
    EXPECT_TRUE(finished);
    if (finished) {
      EXPECT_EQ(co_await s, 2u);
    }
  };
  rt.block_on(root());
  EXPECT_EQ(sem.available_permits(), 2u);
}

TEST(SemaphoreTest, WaiterAbortedAfterBeingGrantedPassesThePermitOn) {
  // The permit is assigned to the first waiter and its task is woken, but
  // it is aborted before it runs: the permit goes to the second waiter.
  Semaphore sem(0);
  Runtime rt = MakeRuntime(1);
  std::atomic<int> got{0};
  auto waiter = [&]() -> Task<void> {
    absl::StatusOr<SemaphorePermit> p = co_await sem.acquire();
    got.fetch_add(1);
  };
  auto root = [&]() -> Task<void> {
    JoinHandle<void> first = spawn(waiter());
    co_await LetOthersRun();
    JoinHandle<void> second = spawn(waiter());
    co_await LetOthersRun();
    sem.add_permits(1);
    first.abort();
    EXPECT_TRUE(co_await WasCancelled(first));
    EXPECT_TRUE(co_await FinishesSoon(second));
  };
  rt.block_on(root());
  EXPECT_EQ(got.load(), 1);
  EXPECT_EQ(sem.available_permits(), 1u);
}

TEST(SemaphoreTest, ShutdownDestroysWaitersCleanly) {
  // Tasks still queued when the runtime goes away are destroyed by the
  // shutdown sweep on this thread; their awaiters must leave the queue
  // (ASan reports a use-after-free or leak otherwise).
  Semaphore sem(0);
  std::atomic<int> frames{0};
  {
    Runtime rt = MakeRuntime(2);
    auto waiter = [&]() -> Task<void> {
      testing::Live live(&frames);
      absl::StatusOr<SemaphorePermit> p = co_await sem.acquire();
    };
    auto root = [&]() -> Task<void> {
      for (int i = 0; i < 20; ++i) spawn(waiter()).detach();
      co_return;
    };
    rt.block_on(root());
    while (frames.load() < 20) std::this_thread::yield();
  }
  EXPECT_EQ(frames.load(), 0);
  sem.add_permits(1);  // nobody is queued any more
  EXPECT_EQ(sem.available_permits(), 1u);
}

TEST(SemaphoreTest, AwaitOutsideATaskThrows) {
  Semaphore sem(0);
  Semaphore::Acquire a = sem.acquire();
  EXPECT_FALSE(a.await_ready());
  EXPECT_THROW(a.await_suspend(std::noop_coroutine()), std::logic_error);
}

// Many tasks take random numbers of permits and hold them across yields;
// some are aborted mid-wait. The number of permits held at once never
// exceeds the total, and every permit comes back.
TEST(SemaphoreTest, StressWithAborts) {
  constexpr size_t kPermits = 5;
  Semaphore sem(kPermits);
  Runtime rt = MakeRuntime(2);
  std::atomic<long> held{0};
  std::atomic<bool> over{false};
  auto worker = [&](uint32_t seed, int rounds) -> Task<void> {
    std::minstd_rand rng(seed);
    for (int i = 0; i < rounds; ++i) {
      const size_t n = 1 + rng() % kPermits;
      absl::StatusOr<SemaphorePermit> p = co_await sem.acquire(n);
      // Counts the permits as held for exactly as long as `p` holds them,
      // including when the task is aborted while holding them.
      struct Held {
        std::atomic<long>& held;
        size_t n;
        ~Held() { held.fetch_sub(n); }
      } counted{held, n};
      if (held.fetch_add(n) + n > kPermits) over.store(true);
      for (uint32_t y = rng() % 3; y > 0; --y) co_await yield_now();
    }
  };
  auto root = [&]() -> Task<void> {
    std::minstd_rand rng(7);
    for (int round = 0; round < 400 * testing::Scale(); ++round) {
      std::vector<JoinHandle<void>> hs;
      for (int t = 0; t < 32; ++t) hs.push_back(spawn(worker(rng(), 20)));
      // Aborts some while they run, hold or wait.
      for (int y = rng() % 20; y > 0; --y) co_await yield_now();
      for (int t = 0; t < 32; t += 4) hs[t].abort();
      for (auto& h : hs) co_await WasCancelled(h);
    }
  };
  rt.block_on(root());
  EXPECT_FALSE(over.load());
  EXPECT_EQ(held.load(), 0);
  EXPECT_EQ(sem.available_permits(), kPermits);
}

}  // namespace
}  // namespace tidepool
