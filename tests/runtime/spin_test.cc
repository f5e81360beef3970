// The spin-before-sleep helpers: SpinUntil's outcomes, SpinBackoff's
// schedule of attempts.
#include "runtime/internal/spin.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

TEST(SpinUntilTest, ReturnsAtOnceWhenReady) {
  int polls = 0;
  EXPECT_TRUE(SpinUntil(1h, [&] { return ++polls == 1; }));
  EXPECT_EQ(polls, 1);
}

TEST(SpinUntilTest, SeesAnotherThreadsStore) {
  std::atomic<bool> flag{false};
  std::thread setter([&] { flag.store(true, std::memory_order_release); });
  EXPECT_TRUE(
      SpinUntil(1h, [&] { return flag.load(std::memory_order_acquire); }));
  setter.join();
}

TEST(SpinUntilTest, GivesUpAfterTheLimit) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(SpinUntil(2ms, [] { return false; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 2ms);
}

// Which of `n` attempts ShouldSpin() allows, each spin recorded as `hit`.
std::vector<bool> Attempts(SpinBackoff* b, int n, bool hit) {
  std::vector<bool> spun;
  for (int i = 0; i < n; ++i) {
    spun.push_back(b->ShouldSpin());
    if (spun.back()) b->Record(hit);
  }
  return spun;
}

TEST(SpinBackoffTest, HitsKeepEveryAttempt) {
  SpinBackoff b;
  EXPECT_EQ(Attempts(&b, 5, true), std::vector<bool>(5, true));
}

TEST(SpinBackoffTest, MissesDoubleTheGapUpToOneIn64) {
  SpinBackoff b;
  // Spins at attempts 0, 2, 6, 14, 30, 62, then every 64th.
  std::vector<bool> spun = Attempts(&b, 62 + 64 * 3 + 1, false);
  std::vector<int> at;
  for (size_t i = 0; i < spun.size(); ++i) {
    if (spun[i]) at.push_back(static_cast<int>(i));
  }
  EXPECT_EQ(at, (std::vector<int>{0, 2, 6, 14, 30, 62, 126, 190, 254}));
}

TEST(SpinBackoffTest, OneHitRestoresEveryAttempt) {
  SpinBackoff b;
  Attempts(&b, 100, false);
  while (!b.ShouldSpin()) {
  }
  b.Record(true);
  EXPECT_EQ(Attempts(&b, 3, true), std::vector<bool>(3, true));
}

}  // namespace
}  // namespace tidepool::internal
