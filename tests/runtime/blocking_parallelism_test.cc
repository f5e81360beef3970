// The blocking pool's parallelism limit (Builder::blocking_parallelism):
// computing calls beyond it wait, calls that sleep do not count, a
// computation that never ends holds nothing back for long, shutdown cancels
// held calls, and 0 lifts the limit.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/internal/cpus.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

// Keeps the CPU busy for `d` without a system call, so the kernel reports
// the thread runnable throughout.
void Compute(std::chrono::nanoseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// Records how many calls run at once.
struct Overlap {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  void Enter() {
    // relaxed: counts; nothing else rides on them.
    const int now = running.fetch_add(1, std::memory_order_relaxed) + 1;
    int p = peak.load(std::memory_order_relaxed);
    while (now > p &&
           !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
  }
  void Leave() { running.fetch_sub(1, std::memory_order_relaxed); }
};

enum class Wait { kSleep, kSpin };

// Runs `calls` blocking calls at once, each returning only when all have
// started (false after 20 s), waiting by sleeping or by spinning on the
// CPU; returns how many saw all start.
int CallsThatMeet(Runtime& rt, int calls, Wait wait) {
  std::atomic<int> started{0};
  std::vector<JoinHandle<bool>> hs;
  for (int i = 0; i < calls; ++i) {
    hs.push_back(rt.spawn_blocking([&started, calls, wait] {
      // relaxed: a count.
      started.fetch_add(1, std::memory_order_relaxed);
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (started.load(std::memory_order_relaxed) < calls) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        if (wait == Wait::kSleep) {
          std::this_thread::sleep_for(200us);
        } else {
          std::this_thread::yield();
        }
      }
      return true;
    }));
  }
  return rt.block_on([&]() -> Task<int> {
    int n = 0;
    for (auto& h : hs) n += co_await h ? 1 : 0;
    co_return n;
  }());
}

TEST(BlockingParallelismTest, DefaultsToTwiceTheCpus) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(rt->metrics().blocking.parallelism,
            2u * static_cast<size_t>(internal::UsableCpus()));
}

TEST(BlockingParallelismTest, ComputingCallsBeyondTheLimitWait) {
  constexpr size_t kLimit = 2;
  auto rt = Builder().worker_threads(1).blocking_parallelism(kLimit).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  Overlap overlap;
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 24; ++i) {
    hs.push_back(rt->spawn_blocking([&overlap] {
      overlap.Enter();
      Compute(2ms);
      overlap.Leave();
    }));
  }
  rt->block_on([&]() -> Task<void> {
    for (auto& h : hs) co_await h;
  }());
  const BlockingMetrics m = rt->metrics().blocking;
  EXPECT_GT(m.held_calls, 0u);
  // Each call let in beyond the limit is accounted for: a thread seen
  // asleep (preempted threads stay runnable, so this stays rare), with the
  // call let in behind it, or a stall on a loaded host.
  EXPECT_LE(overlap.peak.load(),
            static_cast<int>(kLimit + m.blocked_calls + m.burst_admits +
                             m.stall_admits))
      << "held " << m.held_calls;
}

TEST(BlockingParallelismTest, CallsThatSleepDoNotCount) {
  // With a limit of 1, eight calls that each wait for all eight to start
  // can only meet if sleeping calls stop counting.
  constexpr int kCalls = 8;
  auto rt = Builder().worker_threads(1).blocking_parallelism(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(CallsThatMeet(*rt, kCalls, Wait::kSleep), kCalls);
  const BlockingMetrics m = rt->metrics().blocking;
  EXPECT_GT(m.held_calls, 0u);
  EXPECT_GE(m.blocked_calls, 1u) << "no sleeping call was noticed; "
                                 << m.stall_admits << " let in by stalls";
}

TEST(BlockingParallelismTest, ABurstOfWaitingCallsGetsInAheadOfTheGate) {
  // The first call is found blocked while the others are held: besides the
  // call its blocking lets in, at least one more goes in with it.
  constexpr int kCalls = 32;
  auto rt = Builder().worker_threads(1).blocking_parallelism(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(CallsThatMeet(*rt, kCalls, Wait::kSleep), kCalls);
  const BlockingMetrics m = rt->metrics().blocking;
  EXPECT_GE(m.burst_admits, 1u) << m.blocked_calls << " found blocked, "
                                << m.stall_admits << " let in by stalls";
  // Accounting: as no call finishes before all have started, each call
  // past the first went in for a blocked call, behind one, or by a stall.
  EXPECT_GE(m.blocked_calls + m.burst_admits + m.stall_admits,
            static_cast<uint64_t>(kCalls - 1));
}

TEST(BlockingParallelismTest, AComputationThatNeverEndsHoldsNothingBack) {
  auto rt = Builder().worker_threads(1).blocking_parallelism(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  std::atomic<bool> release{false};
  JoinHandle<bool> spinner = rt->spawn_blocking([&release] {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    // acquire: pairs with the release store below.
    while (!release.load(std::memory_order_acquire)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
    }
    return true;
  });
  JoinHandle<int> quick = rt->spawn_blocking([] { return 7; });
  const bool released = rt->block_on([&]() -> Task<bool> {
    const int v = co_await quick;
    // release: pairs with the spinner's acquire load.
    release.store(true, std::memory_order_release);
    co_return v == 7 && co_await spinner;
  }());
  EXPECT_TRUE(released) << "the quick call waited for the spinner to give up";
  EXPECT_GE(rt->metrics().blocking.stall_admits, 1u);
}

TEST(BlockingParallelismTest, ShutdownCancelsHeldCalls) {
  std::vector<JoinHandle<void>> held;
  JoinHandle<void> running;
  std::atomic<int> ran{0};
  {
    auto rt = Builder().worker_threads(1).blocking_parallelism(1).build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    running = rt->spawn_blocking([] { Compute(30ms); });
    for (int i = 0; i < 40; ++i) {
      held.push_back(rt->spawn_blocking([&ran] {
        ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
        Compute(30ms);
      }));
    }
    EXPECT_GT(rt->metrics().blocking.held_calls, 0u);
  }
  auto rt2 = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt2.ok());
  const int cancelled = rt2->block_on([&]() -> Task<int> {
    int n = 0;
    for (auto& h : held) {
      try {
        co_await h;
      } catch (const TaskCancelled&) {
        ++n;
      }
    }
    co_await running;  // ran to its end: must not throw
    co_return n;
  }());
  EXPECT_EQ(cancelled + ran.load(), 40);
  EXPECT_GT(cancelled, 0);
}

TEST(BlockingParallelismTest, ZeroLiftsTheLimit) {
  // Sixteen computing calls that each wait, spinning, for all sixteen to
  // start: with no limit they all start at once and nothing is held.
  constexpr int kCalls = 16;
  auto rt = Builder().worker_threads(1).blocking_parallelism(0).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(CallsThatMeet(*rt, kCalls, Wait::kSpin), kCalls);
  const BlockingMetrics m = rt->metrics().blocking;
  EXPECT_EQ(m.parallelism, 0u);
  EXPECT_EQ(m.held_calls, 0u);
}

}  // namespace
}  // namespace tidepool
