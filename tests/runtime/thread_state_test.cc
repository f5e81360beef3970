// internal::ThreadAsleep and the parse of a /proc stat line.
#include "runtime/internal/thread_state.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

char Letter(const char* line) { return StatStateLetter(line, strlen(line)); }

TEST(ThreadStateTest, FindsTheLetterAfterTheLastParenthesis) {
  EXPECT_EQ(Letter("42 (tidepool-b0) S 1 2 3"), 'S');
  // A name may hold spaces and parentheses of its own.
  EXPECT_EQ(Letter("42 (a) R (b) D 1 2"), 'D');
  EXPECT_EQ(Letter("42 (x) R"), 'R');
  EXPECT_EQ(Letter("42 (x)"), '\0');
  EXPECT_EQ(Letter("42 x R"), '\0');
  EXPECT_EQ(Letter(""), '\0');
}

TEST(ThreadStateTest, TheCallingThreadIsNotAsleep) {
  EXPECT_FALSE(ThreadAsleep(gettid()));
}

TEST(ThreadStateTest, ASleepingThreadIsAndAnEndedOneIsNot) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<pid_t> tid{0};
  std::thread sleeper([&] {
    // relaxed: the main thread only polls for a nonzero id.
    tid.store(gettid(), std::memory_order_relaxed);
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  });
  while (tid.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
  const pid_t id = tid.load(std::memory_order_relaxed);
  // It is runnable until it reaches the wait; then asleep for good.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool asleep = false;
  while (!asleep && std::chrono::steady_clock::now() < deadline) {
    asleep = ThreadAsleep(id);
    if (!asleep) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(asleep) << "thread " << id << " never seen asleep";
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_one();
  sleeper.join();
  EXPECT_FALSE(ThreadAsleep(id)) << "an ended thread has no state to act on";
}

}  // namespace
}  // namespace tidepool::internal
