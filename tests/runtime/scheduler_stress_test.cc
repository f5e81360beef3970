// Stress tests for the scheduler: lost wake-ups, double resumes,
// use-after-free of frames and leaks show up here as wrong counts, hangs
// (the test's timeout), or sanitizer reports under --config=tsan/asan.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "runtime/sync/oneshot.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using ::tidepool::testing::StressScale;

using namespace std::chrono_literals;

Runtime MakeRuntime(size_t workers = 2) {
  auto rt = Builder().worker_threads(workers).build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return std::move(*rt);
}

// Each poll of a task counts here; a double resume would run a step twice.
struct Counters {
  std::atomic<long> steps{0};
  std::atomic<long> frames{0};  // live frames; must return to zero
};

Task<long> Leaf(long i, uint32_t seed, Counters* c) {
  struct Live {
    Counters* c;
    explicit Live(Counters* c) : c(c) { c->frames.fetch_add(1); }
    ~Live() { c->frames.fetch_sub(1); }
  } live(c);
  const int yields = seed % 4;
  for (int y = 0; y < yields; ++y) {
    c->steps.fetch_add(1);
    co_await yield_now();
  }
  co_return i;
}

Task<long> Fanout(long base, int n, uint32_t seed, Counters* c) {
  std::vector<JoinHandle<long>> hs;
  hs.reserve(n);
  std::minstd_rand rng(seed);
  for (int i = 0; i < n; ++i) hs.push_back(spawn(Leaf(base + i, rng(), c)));
  long sum = 0;
  // Joins in a shuffled order so wake-ups cross workers at random.
  std::shuffle(hs.begin(), hs.end(), rng);
  for (auto& h : hs) sum += co_await h;
  co_return sum;
}

TEST(SchedulerStressTest, MillionTasksSpawnedAndJoined) {
  Runtime rt = MakeRuntime();
  Counters c;
  constexpr int kRoots = 1000;
  constexpr int kLeaves = 1000;  // 1,000,000 leaf tasks per round
  for (int round = 0; round < StressScale(); ++round) {
    auto root = [&]() -> Task<long> {
      std::vector<JoinHandle<long>> roots;
      for (int r = 0; r < kRoots; ++r) {
        roots.push_back(spawn(Fanout(long{r} * kLeaves, kLeaves, r + 1, &c)));
      }
      long sum = 0;
      for (auto& h : roots) sum += co_await h;
      co_return sum;
    };
    const long n = long{kRoots} * kLeaves;
    EXPECT_EQ(rt.block_on(root()), n * (n - 1) / 2);
  }
  EXPECT_EQ(c.frames.load(), 0);
  EXPECT_EQ(rt.metrics().alive_tasks, 0u);
}

TEST(SchedulerStressTest, RemoteSpawnersAndIdleWorkersLoseNoWakeup) {
  // Workers park between bursts; every remote spawn must wake one. A lost
  // wake-up hangs block_on and the test times out.
  Runtime rt = MakeRuntime();
  Counters c;
  std::vector<std::thread> spawners;
  std::atomic<long> total{0};
  for (int t = 0; t < 3; ++t) {
    spawners.emplace_back([&, t] {
      std::minstd_rand rng(t + 7);
      for (int i = 0; i < 2000 * StressScale(); ++i) {
        if (rng() % 8 == 0) std::this_thread::sleep_for(50us);
        total += rt.block_on(Leaf(i, rng(), &c));
      }
    });
  }
  for (auto& s : spawners) s.join();
  EXPECT_EQ(total.load(),
            3L * (2000L * StressScale()) * (2000L * StressScale() - 1) / 2);
  EXPECT_EQ(c.frames.load(), 0);
}

TEST(SchedulerStressTest, ExceptionsThroughJoinHandles) {
  Runtime rt = MakeRuntime();
  auto maybe_throw = [](int i) -> Task<int> {
    co_await yield_now();
    if (i % 3 == 0) throw std::runtime_error("multiple of three");
    co_return i;
  };
  auto root = [&]() -> Task<int> {
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 30000 * StressScale(); ++i)
      hs.push_back(spawn(maybe_throw(i)));
    int thrown = 0;
    for (auto& h : hs) {
      try {
        co_await h;
      } catch (const std::runtime_error&) {
        ++thrown;
      }
    }
    co_return thrown;
  };
  EXPECT_EQ(rt.block_on(root()), 10000 * StressScale());
}

TEST(SchedulerStressTest, AbortRacesWithCompletion) {
  Runtime rt = MakeRuntime();
  Counters c;
  for (int round = 0; round < 20 * StressScale(); ++round) {
    std::vector<JoinHandle<long>> hs;
    std::minstd_rand rng(round);
    for (int i = 0; i < 2000; ++i) hs.push_back(rt.spawn(Leaf(i, rng(), &c)));
    // Abort from another thread while the tasks run, complete and get
    // joined.
    std::thread aborter([&] {
      for (size_t i = 0; i < hs.size(); i += 2) hs[i].abort();
    });
    aborter.join();
    auto join = [](std::vector<JoinHandle<long>>& hs) -> Task<int> {
      int outcomes = 0;
      for (auto& h : hs) {
        try {
          co_await h;
        } catch (const TaskCancelled&) {
        }
        ++outcomes;
      }
      co_return outcomes;
    };
    ASSERT_EQ(rt.block_on(join(hs)), 2000);
  }
  EXPECT_EQ(c.frames.load(), 0);
}

// A result that counts its destruction: it dies with its task cell, so the
// count says how many cells were freed.
class CellGone {
 public:
  explicit CellGone(std::atomic<long>* n) : n_(n) {}
  CellGone(CellGone&& other) noexcept : n_(std::exchange(other.n_, nullptr)) {}
  CellGone& operator=(CellGone&&) = delete;
  ~CellGone() {
    if (n_ != nullptr) n_->fetch_add(1);
  }

 private:
  std::atomic<long>* n_;
};

Task<CellGone> Finisher(uint32_t seed, std::atomic<long>* ran,
                        std::atomic<long>* gone) {
  for (uint32_t y = 0; y < seed % 3; ++y) co_await yield_now();
  ran->fetch_add(1);
  co_return CellGone(gone);
}

// Handles dropped from a thread outside the runtime while their tasks
// complete on the workers. The tasks are spawned by a task, so they live in
// the workers' own tables, where completion of a detached task publishes
// kComplete and drops its last references in one atomic; it reads the join
// word just as the drop marks it detached (a misread would call a waiter at
// a bogus address). Every cell is freed exactly once: one more and ASan
// reports it, one fewer and the count falls short.
TEST(SchedulerStressTest, HandlesDroppedWhileTheirTasksComplete) {
  std::atomic<long> ran{0};
  std::atomic<long> gone{0};
  constexpr int kTasks = 2000;
  const int rounds = 20 * StressScale();
  Runtime rt = MakeRuntime();
  for (int round = 0; round < rounds; ++round) {
    auto spawner =
        [](int round, std::atomic<long>* ran,
           std::atomic<long>* gone) -> Task<std::vector<JoinHandle<CellGone>>> {
      std::minstd_rand rng(round);
      std::vector<JoinHandle<CellGone>> hs;
      for (int i = 0; i < kTasks; ++i) {
        hs.push_back(spawn(Finisher(rng(), ran, gone)));
      }
      co_return hs;
    };
    std::vector<JoinHandle<CellGone>> hs =
        rt.block_on(spawner(round, &ran, &gone));
    // Dropped in order, as the workers finish them in a different one.
    std::thread dropper([&hs] { hs.clear(); });
    dropper.join();
  }
  // Every task ran to completion (a hang here is the test's timeout) ...
  while (ran.load() < long{kTasks} * rounds) std::this_thread::sleep_for(1ms);
  // ... but a worker that stays parked keeps up to 63 cells other workers
  // returned to it (owned_tasks.h); shutting down frees them.
  rt.shutdown_timeout(1s);
  EXPECT_EQ(gone.load(), long{kTasks} * rounds);
}

TEST(SchedulerStressTest, ShutdownWithPendingTasksAndRunningBlockingCalls) {
  for (int round = 0; round < 30 * StressScale(); ++round) {
    Counters c;
    std::atomic<int> blocking_done{0};
    {
      // The coroutine lambda's frames refer to the closure's captures, so
      // the closure must outlive the runtime that destroys those frames.
      auto busy = [&](int i) -> Task<long> {
        // Some tasks wait on blocking calls, some keep yielding, some spawn.
        if (i % 3 == 0) {
          co_await spawn_blocking([&] {
            std::this_thread::sleep_for(1ms);
            blocking_done++;
          });
        }
        if (i % 3 == 1) spawn(Leaf(i, i, &c)).detach();
        co_return co_await Leaf(i, i, &c);
      };
      Runtime rt = MakeRuntime();
      std::vector<JoinHandle<long>> hs;
      for (int i = 0; i < 3000; ++i) hs.push_back(rt.spawn(busy(i)));
      std::this_thread::sleep_for(std::chrono::microseconds(round * 100));
    }
    EXPECT_EQ(c.frames.load(), 0) << "round " << round;
  }
}

// A program thread wakes a task (a oneshot send) while the runtime is
// destroyed: the wake must either come too late and do nothing, or finish
// queueing the task before the runtime's memory goes. A wake that found the
// task alive and then touched the freed runtime shows up under ASan/TSan.
TEST(SchedulerStressTest, OutsideWakesRaceTheRuntimesDestruction) {
  for (int round = 0; round < 1000 * StressScale(); ++round) {
    std::vector<oneshot::Sender<int>> senders;
    std::atomic<int> waiting{0};
    std::thread waker;
    {
      Runtime rt = MakeRuntime();
      for (int i = 0; i < 8; ++i) {
        auto [tx, rx] = oneshot::channel<int>();
        senders.push_back(std::move(tx));
        rt.spawn([](oneshot::Receiver<int> rx,
                    std::atomic<int>* waiting) -> Task<void> {
            waiting->fetch_add(1);
            (void)co_await std::move(rx);
          }(std::move(rx), &waiting))
            .detach();
      }
      while (waiting.load() < 8) std::this_thread::yield();
      waker = std::thread([&senders, round] {
        // Staggered so that some sends land before the shutdown, some
        // during it and some after.
        std::this_thread::sleep_for(std::chrono::microseconds(round % 40));
        for (auto& tx : senders) (void)tx.send(1);
      });
      std::this_thread::sleep_for(std::chrono::microseconds(round % 37));
    }
    waker.join();
  }
}

TEST(SchedulerStressTest, PingPongAcrossWorkers) {
  // Two tasks take turns through join handles: each hop wakes a task that
  // may sit on the other worker, exercising the LIFO slot and notify paths.
  Runtime rt = MakeRuntime();
  auto hop = [](int left) -> Task<int> {
    struct Hop {
      static Task<int> Go(int left) {
        if (left == 0) co_return 0;
        co_return 1 + co_await spawn(Go(left - 1));
      }
    };
    co_return co_await Hop::Go(left);
  };
  for (int i = 0; i < 20 * StressScale(); ++i)
    ASSERT_EQ(rt.block_on(hop(1000)), 1000);
}

}  // namespace
}  // namespace tidepool
