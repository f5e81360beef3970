// Builder::memory_budget: spawn_blocking calls wait for admission while the
// allocator's in-use bytes are over the budget, in FIFO order, and are
// admitted as memory is released or into an empty pool; tasks wait for
// budget_permit() as the memory of permits held says; workers keep
// running; metrics move; settings are checked. The in-use bytes come from a
// counter the test drives (internal::ScopedInUseSourceForTesting), which is
// also what lets these tests run under the sanitizers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "alloc/sanitizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/internal/budget_admission.h"
#include "runtime/internal/cpus.h"
#include "runtime/runtime.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr size_t kBudget = 1 << 20;

// The in-use bytes every runtime built by a test samples.
class FakeMemory {
 public:
  FakeMemory() : hook_([this] { return bytes_.load(); }) {}
  void Set(int64_t b) { bytes_.store(b); }
  void Add(int64_t b) { bytes_.fetch_add(b); }

 private:
  std::atomic<int64_t> bytes_{0};
  internal::ScopedInUseSourceForTesting hook_;
};

Runtime Build(size_t budget, size_t workers = 2, size_t max_blocking = 8) {
  auto rt = Builder()
                .worker_threads(workers)
                .max_blocking_threads(max_blocking)
                .memory_budget(budget)
                .build();
  if (!rt.ok()) {
    ADD_FAILURE() << rt.status();
    std::abort();
  }
  return *std::move(rt);
}

// Calls running at once, and the most seen.
struct Concurrency {
  std::atomic<int> now{0};
  std::atomic<int> peak{0};
  void Enter() {
    const int n = now.fetch_add(1) + 1;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
  }
  void Leave() { now.fetch_sub(1); }
};

// Polls `done` for up to 10 s; whether it came true.
template <typename Pred>
bool Eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

TEST(MemoryBudgetTest, OverBudgetCallsRunOneAtATimeInSpawnOrder) {
  FakeMemory memory;
  memory.Set(2 * kBudget);
  Runtime rt = Build(kBudget);
  Concurrency c;
  std::mutex mu;
  std::vector<int> order;
  constexpr int kCalls = 40;
  // The first call runs until every call is spawned, so all the others
  // find it unfinished and wait.
  std::atomic<bool> all_spawned{false};
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < kCalls; ++i) {
      hs.push_back(spawn_blocking([&, i] {
        while (i == 0 && !all_spawned.load()) {
          std::this_thread::sleep_for(100us);
        }
        c.Enter();
        {
          std::lock_guard<std::mutex> lock(mu);
          order.push_back(i);
        }
        std::this_thread::sleep_for(100us);
        c.Leave();
      }));
    }
    all_spawned.store(true);
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  std::vector<int> expected(kCalls);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(c.peak.load(), 1);
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.budget, kBudget);
  EXPECT_EQ(m.waiting, 0u);
  EXPECT_EQ(m.limit, 0u);
  EXPECT_DOUBLE_EQ(m.pressure, 2.0);
  EXPECT_EQ(m.in_use, static_cast<int64_t>(2 * kBudget));
  // Only the first call found the pool empty; every other one waited.
  EXPECT_EQ(m.waited, kCalls - 1u);
  EXPECT_GT(m.wait_ns, 0u);
  EXPECT_GE(m.samples, 1u);
}

TEST(MemoryBudgetTest, WaitingCallsAreAdmittedOnceMemoryIsReleased) {
  // A long call holds the pool while the budget is exceeded; when memory
  // drops (freed elsewhere, as workers do), the watcher's next sample
  // admits the waiting calls without waiting for the long call to end.
  FakeMemory memory;
  memory.Set(2 * kBudget);
  Runtime rt = Build(kBudget);
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  JoinHandle<void> hold = rt.spawn_blocking([&] {
    while (!release.load()) std::this_thread::sleep_for(100us);
  });
  std::vector<JoinHandle<void>> waiting;
  for (int i = 0; i < 6; ++i) {
    waiting.push_back(rt.spawn_blocking([&] { started.fetch_add(1); }));
  }
  ASSERT_TRUE(
      Eventually([&] { return rt.metrics().blocking.budget.waiting == 6; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(started.load(), 0) << "admitted while over the budget";
  memory.Set(kBudget / 4);
  EXPECT_TRUE(Eventually([&] { return started.load() == 6; }));
  EXPECT_FALSE(hold.is_finished());
  release.store(true);
  auto join = [&]() -> Task<void> {
    co_await hold;
    for (auto& h : waiting) co_await h;
  };
  rt.block_on(join());
  EXPECT_EQ(rt.metrics().blocking.budget.waited, 6u);
}

TEST(MemoryBudgetTest, ACallBiggerThanTheBudgetRunsAndLaterCallsWaitForIt) {
  FakeMemory memory;
  Runtime rt = Build(kBudget);
  std::atomic<bool> big_running{false}, release{false}, big_done{false};
  std::atomic<int> small_early{0}, small_done{0};
  JoinHandle<int> big = rt.spawn_blocking([&] {
    memory.Add(10 * kBudget);
    big_running.store(true);
    while (!release.load()) std::this_thread::sleep_for(100us);
    memory.Add(-10 * static_cast<int64_t>(kBudget));
    big_done.store(true);
    return 7;
  });
  ASSERT_TRUE(Eventually([&] { return big_running.load(); }));
  // Admission follows the last sample, taken before the big call grew:
  // a call that ends makes the pool sample again (one that waits makes
  // the watcher sample), and from then on the pool is over its budget.
  std::this_thread::sleep_for(2 * internal::BudgetAdmission::kBusySamplePeriod);
  JoinHandle<void> probe = rt.spawn_blocking([] {});
  ASSERT_TRUE(
      Eventually([&] { return rt.metrics().blocking.budget.pressure >= 10; }));
  std::vector<JoinHandle<void>> small;
  for (int i = 0; i < 5; ++i) {
    small.push_back(rt.spawn_blocking([&] {
      if (!big_done.load()) small_early.fetch_add(1);
      small_done.fetch_add(1);
    }));
  }
  ASSERT_TRUE(
      Eventually([&] { return rt.metrics().blocking.budget.waiting >= 5; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(small_done.load(), 0);
  release.store(true);
  auto join = [&]() -> Task<int> {
    const int v = co_await big;
    co_await probe;
    for (auto& h : small) co_await h;
    co_return v;
  };
  EXPECT_EQ(rt.block_on(join()), 7);
  EXPECT_EQ(small_done.load(), 5);
  EXPECT_EQ(small_early.load(), 0);
}

TEST(MemoryBudgetTest, TinyBudgetNeverDeadlocks) {
  // One byte: every sample is over, so calls run one at a time, including
  // calls spawned from blocking calls, which wait behind their parent.
  FakeMemory memory;
  memory.Set(4096);
  Runtime rt = Build(1, 2, 4);
  Concurrency c;
  std::atomic<int> ran{0};
  auto loop = [&]() -> Task<void> {
    for (int i = 0; i < 30; ++i) {
      JoinHandle<int> inner = co_await spawn_blocking([&] {
        c.Enter();
        ran.fetch_add(1);
        c.Leave();
        return spawn_blocking([&] {
          c.Enter();
          ran.fetch_add(1);
          c.Leave();
          return 1;
        });
      });
      EXPECT_EQ(co_await inner, 1);
    }
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 8; ++i) hs.push_back(spawn(loop()));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(ran.load(), 8 * 30 * 2);
  EXPECT_EQ(c.peak.load(), 1);
}

TEST(MemoryBudgetTest, WorkerTasksKeepRunningWhileCallsWait) {
  // One worker: if waiting for admission blocked it, nothing else would
  // run. The awaiting task stays suspended; the others go on.
  FakeMemory memory;
  memory.Set(2 * kBudget);
  Runtime rt = Build(kBudget, 1);
  std::atomic<bool> release{false};
  auto root = [&]() -> Task<int> {
    JoinHandle<void> hold = spawn_blocking([&] {
      while (!release.load()) std::this_thread::sleep_for(100us);
    });
    auto waiter = [&]() -> Task<int> {
      co_return co_await spawn_blocking([] { return 5; });
    };
    std::vector<JoinHandle<int>> waiters;
    for (int i = 0; i < 4; ++i) waiters.push_back(spawn(waiter()));
    int ticks = 0;
    while (rt.metrics().blocking.budget.waiting < 4 || ticks < 100) {
      co_await yield_now();
      ++ticks;
    }
    EXPECT_EQ(rt.metrics().blocking.budget.waiting, 4u);
    for (auto& w : waiters) EXPECT_FALSE(w.is_finished());
    release.store(true);
    co_await hold;
    int sum = 0;
    for (auto& w : waiters) sum += co_await w;
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(root()), 20);
}

TEST(MemoryBudgetTest, ShutdownCancelsCallsStillWaiting) {
  FakeMemory memory;
  memory.Set(2 * kBudget);
  Runtime rt = Build(kBudget);
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  JoinHandle<void> hold = rt.spawn_blocking([&] {
    while (!release.load()) std::this_thread::sleep_for(100us);
  });
  std::vector<JoinHandle<void>> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.push_back(rt.spawn_blocking([&] { ran.fetch_add(1); }));
  }
  ASSERT_TRUE(
      Eventually([&] { return rt.metrics().blocking.budget.waiting == 3; }));
  // Drain counts them as blocking calls left.
  const absl::Status drained = rt.drain(5ms);
  EXPECT_TRUE(absl::IsDeadlineExceeded(drained)) << drained;
  EXPECT_THAT(std::string(drained.message()),
              HasSubstr("4 blocking calls running or queued"));
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    release.store(true);
  });
  rt.shutdown_timeout(10s);
  releaser.join();
  EXPECT_EQ(ran.load(), 0);
  for (auto& h : waiting) EXPECT_TRUE(h.is_finished());
  EXPECT_TRUE(hold.is_finished());
}

TEST(MemoryBudgetTest, WithoutABudgetNothingWaits) {
  FakeMemory memory;
  memory.Set(int64_t{1} << 40);
  Runtime rt = Build(0);
  Concurrency c;
  std::atomic<bool> release{false};
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(rt.spawn_blocking([&] {
      c.Enter();
      while (!release.load()) std::this_thread::sleep_for(100us);
      c.Leave();
    }));
  }
  EXPECT_TRUE(Eventually([&] { return c.now.load() == 4; }));
  release.store(true);
  auto join = [&]() -> Task<void> {
    for (auto& h : hs) co_await h;
  };
  rt.block_on(join());
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.budget, 0u);
  EXPECT_EQ(m.samples, 0u);
  EXPECT_EQ(m.waited, 0u);
}

TEST(MemoryBudgetTest, AdmissionOpensUpFarBelowTheBudget) {
  // Far below the budget each sample lets twice as many calls in as were
  // running (plus one), so a burst is admitted in a few watch periods, not
  // all at once.
  const size_t cpus = static_cast<size_t>(internal::UsableCpus());
  if (cpus >= 16) GTEST_SKIP() << "a burst of 32 is paced for fewer CPUs";
  FakeMemory memory;
  Runtime rt = Build(kBudget, 2, 64);
  std::atomic<bool> release{false};
  Concurrency c;
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 32; ++i) {
    hs.push_back(rt.spawn_blocking([&] {
      c.Enter();
      while (!release.load()) std::this_thread::sleep_for(100us);
      c.Leave();
    }));
  }
  EXPECT_TRUE(Eventually([&] { return c.now.load() == 32; }));
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.waiting, 0u);
  EXPECT_GE(m.limit, 32u);
  // With c CPUs the limits are at most max(1, c), then max(2l + 1, c)
  // (1, 3, 7, 15, 31, 63 on one CPU): the first sample and as many more as
  // that takes to reach 32, however the spawns and samples interleave.
  // (Calls spawned after a sample raised the limit go in without waiting,
  // so how many waited depends on that interleaving.)
  uint64_t samples = 1;
  for (size_t limit = std::max<size_t>(1, cpus); limit < 32; ++samples) {
    limit = std::max(2 * limit + 1, cpus);
  }
  EXPECT_GE(m.samples, samples);
  EXPECT_GE(m.waited, 1u);
  release.store(true);
  auto join = [&]() -> Task<void> {
    for (auto& h : hs) co_await h;
  };
  rt.block_on(join());
}

TEST(MemoryBudgetTest, StressChurnCompletesEveryCall) {
  // Calls and worker tasks raise and lower the in-use bytes around the
  // budget, some calls spawn more, some are aborted while they wait; every
  // call that is not aborted completes, and nothing waits at the end.
  FakeMemory memory;
  Runtime rt = Build(kBudget, 2, 6);
  const int rounds = 200 * testing::StressScale();
  std::atomic<int> ran{0};
  auto loop = [&](int seed) -> Task<int> {
    std::mt19937 rng(seed);
    int ok = 0;
    for (int i = 0; i < rounds; ++i) {
      const int64_t worker_bytes = rng() % (kBudget / 4);
      memory.Add(worker_bytes);
      const int64_t call_bytes = rng() % (kBudget / 2);
      auto call = [&, call_bytes] {
        memory.Add(call_bytes);
        std::this_thread::sleep_for(std::chrono::microseconds(call_bytes % 50));
        memory.Add(-call_bytes);
        ran.fetch_add(1);
        return 1;
      };
      if (rng() % 8 == 0) {
        JoinHandle<int> doomed = spawn_blocking(call);
        doomed.abort();
        try {
          (void)co_await doomed;
        } catch (const TaskCancelled&) {
        }
      } else if (rng() % 8 == 0) {
        JoinHandle<int> inner =
            co_await spawn_blocking([call] { return spawn_blocking(call); });
        ok += co_await inner;
      } else {
        ok += co_await spawn_blocking(call);
      }
      memory.Add(-worker_bytes);
      if (rng() % 4 == 0) co_await yield_now();
    }
    co_return ok;
  };
  auto root = [&]() -> Task<int> {
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 12; ++i) hs.push_back(spawn(loop(i)));
    int ok = 0;
    for (auto& h : hs) ok += co_await h;
    co_return ok;
  };
  const int ok = rt.block_on(root());
  EXPECT_GE(ran.load(), ok);
  EXPECT_GT(ok, 0);
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.waiting, 0u);
  EXPECT_GT(m.waited, 0u);
  EXPECT_EQ(rt.metrics().blocking.queue_depth, 0u);
}

// budget_permit(): tasks waiting for a permit.
size_t PermitsWaiting(Runtime& rt) {
  return rt.metrics().blocking.budget.permits_waiting;
}

TEST(BudgetPermitTest, WithoutABudgetAPermitIsEmptyAndNothingWaits) {
  Runtime rt = Build(0);
  auto task = [&]() -> Task<int> {
    std::vector<BudgetPermit> permits;
    for (int i = 0; i < 100; ++i) permits.push_back(co_await budget_permit());
    int held = 0;
    for (const BudgetPermit& p : permits) held += p.held() ? 1 : 0;
    co_return held;
  };
  EXPECT_EQ(rt.block_on(task()), 0);
  EXPECT_EQ(rt.metrics().blocking.budget.permits_granted, 0u);
}

TEST(BudgetPermitTest, PermitsFollowTheMemoryTheirHoldersUse) {
  // Each holder uses half the budget and keeps its permit until a sample
  // has seen it: from the first release on, the estimate fits one permit
  // and the limit stays at its floor, two (one on a single CPU); before
  // it, as many as CPUs. One worker, so a wait that blocked the worker
  // would stop the holders too; every request completes.
  FakeMemory memory;
  Runtime rt = Build(kBudget, 1);
  const int cpus = std::max(internal::UsableCpus(), 1);
  Concurrency c;
  auto request = [&]() -> Task<void> {
    BudgetPermit permit = co_await budget_permit();
    EXPECT_TRUE(permit.held());
    c.Enter();
    memory.Add(kBudget / 2);
    // Lets the other requests arrive, then holds on until a sample has
    // seen this one (while tasks wait the watcher samples every
    // millisecond).
    const uint64_t seen = rt.metrics().blocking.budget.samples;
    co_await yield_now();
    while (rt.metrics().blocking.budget.samples == seen &&
           rt.metrics().blocking.budget.permits_waiting > 0) {
      co_await sleep(1ms);
    }
    memory.Add(-static_cast<int64_t>(kBudget / 2));
    c.Leave();
  };
  const int requests = 4 * cpus + 8;
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < requests; ++i) hs.push_back(spawn(request()));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_GE(c.peak.load(), 1);
  EXPECT_LE(c.peak.load(), cpus);
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.permits_granted, static_cast<uint64_t>(requests));
  EXPECT_GE(m.permits_waited, static_cast<uint64_t>(requests - cpus));
  EXPECT_EQ(m.permits_held, 0u);
  EXPECT_EQ(m.permits_waiting, 0u);
  EXPECT_EQ(m.permit_limit, std::min<size_t>(cpus, 2));
  EXPECT_GT(m.permit_wait_ns, 0u);
}

// Takes a permit and holds it until `release` is set. (A coroutine's
// parameters live in its frame; a capturing lambda's captures would not.)
Task<void> HoldPermit(std::atomic<bool>* release) {
  BudgetPermit permit = co_await budget_permit();
  while (!release->load()) co_await sleep(1ms);
}

// Takes a permit, then counts itself in `got`.
Task<void> TakePermit(std::atomic<int>* got) {
  BudgetPermit permit = co_await budget_permit();
  got->fetch_add(1);
}

// Holds `n` permits from tasks that give them back once `release` is set.
std::vector<JoinHandle<void>> HoldPermits(Runtime& rt, size_t n,
                                          std::atomic<bool>& release) {
  std::vector<JoinHandle<void>> hs;
  for (size_t i = 0; i < n; ++i) hs.push_back(rt.spawn(HoldPermit(&release)));
  return hs;
}

TEST(BudgetPermitTest, ATaskAbortedWhileItWaitsLeavesTheQueue) {
  FakeMemory memory;
  Runtime rt = Build(kBudget);
  const size_t cpus = std::max<size_t>(internal::UsableCpus(), 1);
  // The first limit is the CPU count: fill it, then over the budget.
  std::atomic<bool> release{false};
  std::vector<JoinHandle<void>> holders = HoldPermits(rt, cpus, release);
  ASSERT_TRUE(Eventually(
      [&] { return rt.metrics().blocking.budget.permits_held == cpus; }));
  memory.Set(2 * kBudget);
  std::atomic<int> got{0};
  JoinHandle<void> doomed = rt.spawn(TakePermit(&got));
  ASSERT_TRUE(Eventually([&] { return PermitsWaiting(rt) == 1; }));
  JoinHandle<void> next = rt.spawn(TakePermit(&got));
  ASSERT_TRUE(Eventually([&] { return PermitsWaiting(rt) == 2; }));
  doomed.abort();
  EXPECT_TRUE(Eventually([&] { return PermitsWaiting(rt) == 1; }));
  EXPECT_EQ(got.load(), 0);
  memory.Set(0);
  release.store(true);
  auto join = [&]() -> Task<bool> {
    for (auto& h : holders) co_await h;
    co_await next;
    try {
      co_await doomed;
    } catch (const TaskCancelled&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(join()));
  EXPECT_EQ(got.load(), 1);
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.permits_held, 0u);
  EXPECT_EQ(m.permits_waiting, 0u);
}

TEST(BudgetPermitTest, APermitIsGivenBackByResetOrMoveAssignment) {
  // One permit at a time: a task must not wait for a second one while it
  // holds one.
  FakeMemory memory;
  Runtime rt = Build(kBudget);
  auto held = [&] { return rt.metrics().blocking.budget.permits_held; };
  auto task = [&]() -> Task<void> {
    BudgetPermit a = co_await budget_permit();
    EXPECT_EQ(held(), 1u);
    a.reset();
    EXPECT_FALSE(a.held());
    EXPECT_EQ(held(), 0u);
    a = co_await budget_permit();
    BudgetPermit b = std::move(a);  // the permit moves; none is given back
    EXPECT_FALSE(a.held());
    EXPECT_TRUE(b.held());
    EXPECT_EQ(held(), 1u);
    a = std::move(b);
    EXPECT_EQ(held(), 1u);
    b = BudgetPermit();  // b held nothing
    EXPECT_EQ(held(), 1u);
    a = BudgetPermit();  // a's permit goes back
    EXPECT_EQ(held(), 0u);
  };
  rt.block_on(task());
  EXPECT_EQ(rt.metrics().blocking.budget.permits_granted, 2u);
}

TEST(BudgetPermitTest, ShutdownDestroysTasksStillWaitingForPermits) {
  FakeMemory memory;
  std::atomic<bool> never{false};
  std::atomic<int> got{0};
  {
    Runtime rt = Build(kBudget);
    const size_t cpus = std::max<size_t>(internal::UsableCpus(), 1);
    std::vector<JoinHandle<void>> holders = HoldPermits(rt, cpus, never);
    ASSERT_TRUE(Eventually(
        [&] { return rt.metrics().blocking.budget.permits_held == cpus; }));
    memory.Set(2 * kBudget);
    std::vector<JoinHandle<void>> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.push_back(rt.spawn(TakePermit(&got)));
    }
    ASSERT_TRUE(Eventually([&] { return PermitsWaiting(rt) == 3; }));
  }
  EXPECT_EQ(got.load(), 0);
}

TEST(BudgetPermitTest, StressEveryRequestCompletes) {
  // Requests take permits, use memory around the budget, make calls (which
  // pass admission too), and some are aborted while they wait: every one
  // not aborted completes and nothing is held or waits at the end.
  FakeMemory memory;
  Runtime rt = Build(kBudget, 2, 6);
  const int rounds = 100 * testing::StressScale();
  std::atomic<int> completed{0};
  auto request = [&](uint32_t seed) -> Task<void> {
    BudgetPermit permit = co_await budget_permit();
    const int64_t bytes = seed % (kBudget / 3);
    memory.Add(bytes);
    if (seed % 3 == 0) {
      co_await spawn_blocking([&memory, bytes] {
        memory.Add(bytes);
        std::this_thread::sleep_for(std::chrono::microseconds(bytes % 40));
        memory.Add(-bytes);
      });
    } else if (seed % 3 == 1) {
      co_await yield_now();
    }
    memory.Add(-bytes);
    completed.fetch_add(1);
  };
  auto loop = [&](int id) -> Task<int> {
    std::mt19937 rng(id);
    int expected = 0;
    for (int i = 0; i < rounds; ++i) {
      JoinHandle<void> h = spawn(request(rng()));
      if (rng() % 6 == 0) {
        h.abort();
        try {
          co_await h;
          ++expected;  // it finished before the abort
        } catch (const TaskCancelled&) {
        }
      } else {
        co_await h;
        ++expected;
      }
    }
    co_return expected;
  };
  auto root = [&]() -> Task<int> {
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 12; ++i) hs.push_back(spawn(loop(i)));
    int expected = 0;
    for (auto& h : hs) expected += co_await h;
    co_return expected;
  };
  const int expected = rt.block_on(root());
  EXPECT_EQ(completed.load(), expected);
  EXPECT_GT(expected, 0);
  const MemoryBudgetMetrics m = rt.metrics().blocking.budget;
  EXPECT_EQ(m.permits_held, 0u);
  EXPECT_EQ(m.permits_waiting, 0u);
  EXPECT_GT(m.permits_waited, 0u);
}

TEST(MemoryBudgetSettingsTest, ParsesBytesAndBinarySuffixes) {
  EXPECT_EQ(*ParseMemoryBudget("0"), 0u);
  EXPECT_EQ(*ParseMemoryBudget("25165824"), 25165824u);
  EXPECT_EQ(*ParseMemoryBudget("512B"), 512u);
  EXPECT_EQ(*ParseMemoryBudget("64K"), 64u << 10);
  EXPECT_EQ(*ParseMemoryBudget("64KiB"), 64u << 10);
  EXPECT_EQ(*ParseMemoryBudget("24M"), 24u << 20);
  EXPECT_EQ(*ParseMemoryBudget("24MiB"), 24u << 20);
  EXPECT_EQ(*ParseMemoryBudget("3G"), size_t{3} << 30);
  EXPECT_EQ(*ParseMemoryBudget("262144GiB"), kMaxMemoryBudget);
  EXPECT_EQ(*ParseMemoryBudget("281474976710656"), kMaxMemoryBudget);
}

TEST(MemoryBudgetSettingsTest, RejectsEverythingElseNamingTheSetting) {
  for (const char* bad :
       {"", "M", "-1", "24X", "24m", "24 M", " 24M", "1.5G", "24MB", "0x10",
        "24Mi", "262145G", "281474976710657", "9999999999999999999999"}) {
    const absl::StatusOr<size_t> r = ParseMemoryBudget(bad, "SETTING");
    ASSERT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr(std::string("SETTING='") + bad +
                          "' is not valid: accepted values are 0 (no budget) "
                          "or a byte count up to 2^48"));
  }
}

TEST(MemoryBudgetSettingsTest, BuildRejectsABudgetOutOfRange) {
  FakeMemory memory;
  auto rt = Builder().memory_budget(kMaxMemoryBudget + 1).build();
  ASSERT_FALSE(rt.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(rt.status()));
  EXPECT_THAT(std::string(rt.status().message()),
              HasSubstr("memory_budget=281474976710657 is out of range: "
                        "accepted values are 0 (no budget) to "));
}

TEST(MemoryBudgetSettingsTest, BudgetNeedsAnAllocatorThatCountsInUseBytes) {
  // No test source: the allocator's own count. glibc has one; under the
  // sanitizers no tidepool backend serves malloc, and build() says so.
  auto rt = Builder().worker_threads(1).memory_budget(24 << 20).build();
#if TIDEPOOL_SANITIZER_BUILD
  ASSERT_FALSE(rt.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(rt.status())) << rt.status();
  EXPECT_THAT(std::string(rt.status().message()),
              HasSubstr("memory_budget=25165824 needs an allocator that "
                        "counts its in-use bytes"));
#else
  ASSERT_TRUE(rt.ok()) << rt.status();
  const MemoryBudgetMetrics m = rt->metrics().blocking.budget;
  EXPECT_EQ(m.budget, size_t{24} << 20);
  EXPECT_GT(m.in_use, 0);
  EXPECT_GE(m.samples, 1u);
#endif
}

class MemoryBudgetEnvTest : public ::testing::Test {
 protected:
  ~MemoryBudgetEnvTest() override { unsetenv("TIDEPOOL_MEMORY_BUDGET"); }
  FakeMemory memory_;
};

TEST_F(MemoryBudgetEnvTest, ReadsTheVariable) {
  setenv("TIDEPOOL_MEMORY_BUDGET", "24M", 1);
  auto b = Builder::from_env();
  ASSERT_TRUE(b.ok()) << b.status();
  auto rt = b->worker_threads(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(rt->metrics().blocking.budget.budget, size_t{24} << 20);
}

TEST_F(MemoryBudgetEnvTest, RejectsAMalformedValueNamingTheVariable) {
  for (const char* bad : {"", "lots", "24X", "-5"}) {
    setenv("TIDEPOOL_MEMORY_BUDGET", bad, 1);
    auto b = Builder::from_env();
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(b.status()));
    EXPECT_THAT(std::string(b.status().message()),
                HasSubstr(std::string("TIDEPOOL_MEMORY_BUDGET='") + bad +
                          "' is not valid: accepted values are 0 (no budget)"));
  }
}

}  // namespace
}  // namespace tidepool
