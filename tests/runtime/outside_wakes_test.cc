// OutsideWakeScope and WaitForOutsideWakes: a wait returns only after every
// scope begun before it has ended, and it is not held off by scopes that
// keep beginning while it waits; a runtime's destruction waits for them. The
// race the scopes close, wakes against a runtime's destruction, is
// exercised in scheduler_stress_test.cc.
#include "runtime/internal/outside_wakes.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

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

TEST(OutsideWakesTest, TheWaitCoversTheSlotItLooksAtSecond) {
  // A scope that read the epoch before some waiter moved it can count
  // itself in the slot a later wait looks at second. One begun after this
  // wait's first move lands there too, and the wait cannot tell the two
  // apart, so it must wait for it as well.
  std::optional<OutsideWakeScope> first;
  first.emplace();
  Waiter w;
  std::this_thread::sleep_for(50ms);  // the wait has moved the epoch once
  std::optional<OutsideWakeScope> second;
  second.emplace();
  first.reset();
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(w.returned());
  second.reset();
  EXPECT_TRUE(w.ReturnsWithin(10s));
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
  Waiter w;
  const bool returned = w.ReturnsWithin(10s);
  // Stopped before the Waiter is joined, so a wait that never ends fails
  // here instead of hanging.
  stop.store(true);
  for (auto& t : wakers) t.join();
  EXPECT_TRUE(returned);
}

TEST(OutsideWakesTest, ARuntimeIsNotFreedDuringAWake) {
  // A wake in progress on this thread (the scope a Wake() from outside the
  // runtime holds): destroying the runtime on another thread must wait for
  // it, and finish once it ends.
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  std::optional<OutsideWakeScope> wake;
  wake.emplace();
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    { Runtime gone = *std::move(rt); }
    destroyed.store(true);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(destroyed.load());
  wake.reset();
  destroyer.join();
  EXPECT_TRUE(destroyed.load());
}

}  // namespace
}  // namespace tidepool::internal
