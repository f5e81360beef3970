// OutsideWakeScope and WaitForOutsideWakes: a wait returns only after every
// scope begun before it has ended, and it is not held off by scopes that
// keep beginning while it waits. What the scopes protect (wakes racing a
// runtime's destruction) is tested in scheduler_stress_test.cc.
#include "runtime/internal/outside_wakes.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

// Starts WaitForOutsideWakes on a thread of its own; returned() says
// whether it has come back.
class Waiter {
 public:
  Waiter()
      : thread_([this] {
          WaitForOutsideWakes();
          returned_.store(true);
        }) {}
  ~Waiter() { thread_.join(); }
  bool returned() const { return returned_.load(); }
  bool ReturnsWithin(std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!returned() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return returned();
  }

 private:
  std::atomic<bool> returned_{false};
  std::thread thread_;
};

TEST(OutsideWakesTest, WithNoScopeTheWaitReturns) {
  WaitForOutsideWakes();
  Waiter w;
  EXPECT_TRUE(w.ReturnsWithin(10s));
}

TEST(OutsideWakesTest, TheWaitOutlastsAScopeBegunBeforeIt) {
  for (int round = 0; round < 2; ++round) {
    std::optional<OutsideWakeScope> scope;
    scope.emplace();
    Waiter w;
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(w.returned()) << "round " << round;
    scope.reset();
    EXPECT_TRUE(w.ReturnsWithin(10s)) << "round " << round;
  }
}

TEST(OutsideWakesTest, ScopesThatKeepBeginningDoNotHoldTheWaitOff) {
  // Threads that always hold a scope, each beginning the next before ending
  // the last: a slot they count in is never empty, and the wait must end
  // anyway.
  std::atomic<bool> stop{false};
  std::vector<std::thread> wakers;
  for (int i = 0; i < 3; ++i) {
    wakers.emplace_back([&stop] {
      std::optional<OutsideWakeScope> scopes[2];
      int held = 0;
      scopes[held].emplace();
      while (!stop.load()) {
        scopes[1 - held].emplace();
        scopes[held].reset();
        held = 1 - held;
      }
    });
  }
  std::this_thread::sleep_for(5ms);
  {
    Waiter w;
    EXPECT_TRUE(w.ReturnsWithin(10s));
  }
  stop.store(true);
  for (auto& t : wakers) t.join();
}

}  // namespace
}  // namespace tidepool::internal
