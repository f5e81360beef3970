// Monitor: scans while a worker is awake, goes to sleep once every worker
// has slept for the linger and then stays asleep, a Wake() that races its
// decision to sleep is never lost, and Stop() ends it awake or asleep.
#include "runtime/internal/monitor.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

// A scan that counts its calls and reports `awake`.
struct FakeWorkers {
  std::atomic<bool> awake{true};
  std::atomic<uint64_t> scans{0};
  Monitor MakeMonitor(std::chrono::nanoseconds linger) {
    return Monitor(1ms, linger, [this](Monitor::Clock::time_point) {
      scans.fetch_add(1);
      // seq_cst: the scan's side of Monitor::Wake()'s handshake.
      return awake.load(std::memory_order_seq_cst);
    });
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
  // Waits (up to 10 s) until no scan ran for two windows of 50 ms.
  bool WaitUntilAsleep() {
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
  ASSERT_TRUE(workers.WaitUntilAsleep()) << "the monitor never slept";
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

TEST(MonitorTest, StopEndsAnAsleepMonitor) {
  FakeWorkers workers;
  workers.awake.store(false);
  Monitor monitor = workers.MakeMonitor(0ns);
  ASSERT_TRUE(monitor.Start("test").ok());
  ASSERT_TRUE(workers.WaitUntilAsleep());
  monitor.Stop();
  const uint64_t stopped = workers.scans.load();
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(workers.scans.load(), stopped);
}

}  // namespace
}  // namespace tidepool::internal
