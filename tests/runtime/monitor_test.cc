// Monitor: scans while a worker is awake, at the fast pace while a scan
// asks for a watch and then relaxes, is hurried back by Hurry(), goes to
// sleep once every worker has slept for the linger and then stays asleep;
// a Wake() or Hurry() that races the monitor's change of pace is never
// lost, and Stop() ends it at any pace.
#include "runtime/internal/monitor.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/internal/asymmetric_fence.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

// A scan that counts its calls and reports `awake` and `watching`.
struct FakeWorkers {
  std::atomic<bool> awake{true};
  std::atomic<bool> watching{false};
  std::atomic<uint64_t> scans{0};
  Monitor MakeMonitor(std::chrono::nanoseconds linger,
                      std::chrono::nanoseconds relaxed = 1ms) {
    return Monitor(1ms, relaxed, linger, HeavyFenceAvailable(),
                   [this](Monitor::Clock::time_point) {
                     scans.fetch_add(1);
                     // seq_cst: the scan's side of Monitor::Wake()'s handshake;
                     // relaxed: its side of Hurry()'s, after the monitor's
                     // HeavyFence().
                     return Monitor::Look{
                         awake.load(std::memory_order_seq_cst),
                         watching.load(std::memory_order_relaxed)};
                   });
  }
  // What a worker does when it puts a task in its LIFO slot inside a poll.
  void Watch(Monitor& monitor) {
    watching.store(true, std::memory_order_relaxed);
    LightFence();
    monitor.Hurry();
  }
  // Waits (up to 10 s) until `n` more scans ran.
  bool WaitForScans(uint64_t n) {
    const uint64_t target = scans.load() + n;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (scans.load() < target) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(100us);
    }
    return true;
  }
  // Waits (up to 10 s) until no scan ran for two windows of 50 ms: the
  // monitor sleeps, or waits out a long relaxed period.
  bool WaitUntilScansStop() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    int quiet = 0;
    uint64_t last = scans.load();
    while (quiet < 2) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(50ms);
      const uint64_t now = scans.load();
      quiet = now == last ? quiet + 1 : 0;
      last = now;
    }
    return true;
  }
};

TEST(MonitorTest, ScansWhileAWorkerIsAwake) {
  FakeWorkers workers;
  Monitor monitor = workers.MakeMonitor(1s);
  ASSERT_TRUE(monitor.Start("test").ok());
  EXPECT_TRUE(workers.WaitForScans(20));
  monitor.Stop();
}

TEST(MonitorTest, SleepsAfterTheLingerUntilWoken) {
  FakeWorkers workers;
  workers.awake.store(false);
  Monitor monitor = workers.MakeMonitor(5ms);
  ASSERT_TRUE(monitor.Start("test").ok());
  ASSERT_TRUE(workers.WaitUntilScansStop()) << "the monitor never slept";
  const uint64_t asleep = workers.scans.load();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(workers.scans.load(), asleep);
  workers.awake.store(true, std::memory_order_seq_cst);
  monitor.Wake();
  EXPECT_TRUE(workers.WaitForScans(5));
  monitor.Stop();
}

// A worker that wakes just as the monitor decides to sleep: either the
// monitor's second look sees it awake, or its Wake() reaches the sleep.
// A lost wake-up leaves the monitor asleep with a worker awake: no scan.
TEST(MonitorTest, AWakeThatRacesTheSleepIsNeverLost) {
  FakeWorkers workers;
  workers.awake.store(false);
  Monitor monitor = workers.MakeMonitor(0ns);
  ASSERT_TRUE(monitor.Start("test").ok());
  for (int round = 0; round < 300; ++round) {
    workers.awake.store(true, std::memory_order_seq_cst);
    monitor.Wake();
    ASSERT_TRUE(workers.WaitForScans(2)) << "round " << round;
    workers.awake.store(false, std::memory_order_seq_cst);
    // Sometimes while it still scans, sometimes as it goes to sleep.
    std::this_thread::sleep_for(std::chrono::microseconds(round % 7 * 150));
  }
  monitor.Stop();
}

// With nothing to watch, a few fast scans, then one per relaxed period
// (here a minute: none in the window).
TEST(MonitorTest, RelaxesWhenNothingIsWatched) {
  FakeWorkers workers;
  Monitor monitor = workers.MakeMonitor(1s, 60s);
  ASSERT_TRUE(monitor.Start("test").ok());
  EXPECT_TRUE(workers.WaitUntilScansStop()) << "the monitor never relaxed";
  monitor.Stop();
}

// A scan that asks for a watch keeps the fast pace (a relaxed one would
// take 20 minutes for 20 scans).
TEST(MonitorTest, StaysFastWhileAScanWatches) {
  FakeWorkers workers;
  workers.watching.store(true);
  Monitor monitor = workers.MakeMonitor(1s, 60s);
  ASSERT_TRUE(monitor.Start("test").ok());
  EXPECT_TRUE(workers.WaitForScans(20));
  monitor.Stop();
}

TEST(MonitorTest, HurryEndsARelaxedWait) {
  if (!HeavyFenceAvailable()) GTEST_SKIP() << "no membarrier here";
  FakeWorkers workers;
  Monitor monitor = workers.MakeMonitor(1s, 60s);
  ASSERT_TRUE(monitor.Start("test").ok());
  ASSERT_TRUE(workers.WaitUntilScansStop()) << "the monitor never relaxed";
  workers.Watch(monitor);
  EXPECT_TRUE(workers.WaitForScans(20));
  monitor.Stop();
}

// A watch stored just as the monitor relaxes: either the monitor's second
// look sees it, or the worker's Hurry() sees the relaxed pace. A lost
// hurry leaves the monitor in a minute-long wait: no scan.
TEST(MonitorTest, AHurryThatRacesTheRelaxingIsNeverLost) {
  if (!HeavyFenceAvailable()) GTEST_SKIP() << "no membarrier here";
  FakeWorkers workers;
  Monitor monitor = workers.MakeMonitor(1s, 60s);
  ASSERT_TRUE(monitor.Start("test").ok());
  for (int round = 0; round < 300; ++round) {
    workers.Watch(monitor);
    ASSERT_TRUE(workers.WaitForScans(2)) << "round " << round;
    workers.watching.store(false, std::memory_order_relaxed);
    // Sometimes while it is still fast, sometimes as it relaxes (after 8
    // scans, about 8 ms), sometimes once it has.
    std::this_thread::sleep_for(std::chrono::microseconds(round % 13 * 900));
  }
  monitor.Stop();
}

// The worst cases of the race above, made certain: the scan number `at` of
// a streak without a watch stores one after it has looked, and hurries.
// At kQuietScans that is the scan that decides to relax, so the monitor is
// still fast and the hurry does nothing: only the monitor's second look,
// after it has announced the relaxed pace, can see the watch. At
// kQuietScans + 1 it is that second look itself, and only the hurry, which
// must find the relaxed pace already announced, can end the wait. Each scan
// that sees the watch clears it, so the streak starts over.
void ExpectWatchStoredAtScanIsSeen(int at) {
  std::atomic<bool> watching{false};
  std::atomic<uint64_t> scans{0};
  int quiet = 0;  // the monitor's thread only
  Monitor* self = nullptr;
  Monitor monitor(1ms, 60s, 1s, /*hurried=*/true,
                  [&](Monitor::Clock::time_point) {
                    scans.fetch_add(1);
                    const bool watched =
                        watching.exchange(false, std::memory_order_relaxed);
                    quiet = watched ? 0 : quiet + 1;
                    if (quiet == at) {
                      watching.store(true, std::memory_order_relaxed);
                      LightFence();
                      self->Hurry();
                    }
                    return Monitor::Look{true, watched};
                  });
  self = &monitor;
  ASSERT_TRUE(monitor.Start("test").ok());
  for (int round = 0; round < 5; ++round) {
    const uint64_t target = scans.load() + Monitor::kQuietScans + 3;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (scans.load() < target) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the monitor relaxed over a watch, round " << round;
      std::this_thread::sleep_for(1ms);
    }
  }
  monitor.Stop();
}

TEST(MonitorTest, AWatchStoredAsTheMonitorDecidesToRelaxIsSeen) {
  if (!HeavyFenceAvailable()) GTEST_SKIP() << "no membarrier here";
  ExpectWatchStoredAtScanIsSeen(Monitor::kQuietScans);
}

TEST(MonitorTest, AWatchStoredDuringTheSecondLookIsSeen) {
  if (!HeavyFenceAvailable()) GTEST_SKIP() << "no membarrier here";
  ExpectWatchStoredAtScanIsSeen(Monitor::kQuietScans + 1);
}

TEST(MonitorTest, StopEndsARelaxedMonitor) {
  FakeWorkers workers;
  Monitor monitor = workers.MakeMonitor(1s, 60s);
  ASSERT_TRUE(monitor.Start("test").ok());
  ASSERT_TRUE(workers.WaitUntilScansStop()) << "the monitor never relaxed";
  const auto start = std::chrono::steady_clock::now();
  monitor.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s)
      << "Stop() waited out the relaxed period";
}

TEST(MonitorTest, StopEndsAnAsleepMonitor) {
  FakeWorkers workers;
  workers.awake.store(false);
  Monitor monitor = workers.MakeMonitor(0ns);
  ASSERT_TRUE(monitor.Start("test").ok());
  ASSERT_TRUE(workers.WaitUntilScansStop());
  monitor.Stop();
  const uint64_t stopped = workers.scans.load();
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(workers.scans.load(), stopped);
}

}  // namespace
}  // namespace tidepool::internal
