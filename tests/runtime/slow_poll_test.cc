// Slow polls: a poll past slow_poll_threshold is reported once, with the
// task's id and name, and counted on its worker; quick polls are not; a
// poll that blocks its thread counts as much as one that computes; zero
// turns timing off; the default handler prints one line; a handler that
// throws is survived; the poll-time histogram fills with sampled polls.
#include "runtime/slow_poll.h"

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

void Spin(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

Task<void> Hog(std::chrono::nanoseconds d) {
  Spin(d);
  co_return;
}

Task<void> Quick(int yields) {
  for (int i = 0; i < yields; ++i) co_await yield_now();
}

// A copy of what a handler was given (the name's view ends with the call).
struct Seen {
  uint64_t id;
  std::string name;
  std::chrono::nanoseconds duration;
  std::chrono::nanoseconds threshold;
  size_t worker;
};

struct Recorder {
  std::mutex mu;
  std::vector<Seen> seen;
  std::function<void(const SlowPoll&)> Handler() {
    return [this](const SlowPoll& p) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(Seen{p.task.id, std::string(p.task.name), p.duration,
                          p.threshold, p.worker});
    };
  }
  std::vector<Seen> Take() {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  }
};

uint64_t SlowPolls(const Runtime& rt) {
  uint64_t n = 0;
  for (const WorkerMetrics& w : rt.metrics().per_worker) n += w.slow_polls;
  return n;
}

TEST(SlowPollTest, ASlowPollIsReportedOnceWithItsName) {
  Recorder r;
  auto rt = Builder()
                .worker_threads(1)
                .slow_poll_threshold(50ms)
                .on_slow_poll(r.Handler())
                .build();
  ASSERT_TRUE(rt.ok());
  // Thresholds and hogs are long enough that a quick poll the system
  // preempted is not mistaken for a slow one.
  const uint64_t hog_id = rt->block_on([]() -> Task<uint64_t> {
    JoinHandle<void> hog = TaskBuilder().name("hog").spawn(Hog(150ms));
    JoinHandle<void> quick = TaskBuilder().name("quick").spawn(Quick(20));
    co_await hog;
    co_await quick;
    co_return hog.id();
  }());
  const std::vector<Seen> seen = r.Take();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].id, hog_id);
  EXPECT_EQ(seen[0].name, "hog");
  EXPECT_GT(seen[0].duration, 50ms);
  EXPECT_EQ(seen[0].threshold, 50ms);
  EXPECT_EQ(seen[0].worker, 0u);
  EXPECT_EQ(rt->metrics().per_worker[0].slow_polls, 1u);
}

TEST(SlowPollTest, EachSlowPollOfATaskIsReported) {
  Recorder r;
  auto rt = Builder()
                .worker_threads(2)
                .slow_poll_threshold(30ms)
                .on_slow_poll(r.Handler())
                .build();
  ASSERT_TRUE(rt.ok());
  rt->block_on([]() -> Task<void> {
    co_await TaskBuilder().name("twice").spawn([]() -> Task<void> {
      Spin(80ms);
      co_await yield_now();
      Spin(80ms);
    }());
  }());
  const std::vector<Seen> seen = r.Take();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].name, "twice");
  EXPECT_EQ(seen[1].name, "twice");
  EXPECT_EQ(SlowPolls(*rt), 2u);
}

TEST(SlowPollTest, APollThatBlocksItsThreadCounts) {
  Recorder r;
  auto rt = Builder()
                .worker_threads(1)
                .slow_poll_threshold(30ms)
                .on_slow_poll(r.Handler())
                .build();
  ASSERT_TRUE(rt.ok());
  rt->block_on([]() -> Task<void> {
    std::this_thread::sleep_for(80ms);
    co_return;
  }());
  EXPECT_EQ(r.Take().size(), 1u);
}

TEST(SlowPollTest, ZeroThresholdTurnsTimingOff) {
  Recorder r;
  auto rt = Builder()
                .worker_threads(1)
                .slow_poll_threshold(0ns)
                .on_slow_poll(r.Handler())
                .build();
  ASSERT_TRUE(rt.ok());
  rt->block_on(Hog(40ms));
  rt->block_on(Quick(500));
  EXPECT_TRUE(r.Take().empty());
  const WorkerMetrics w = rt->metrics().per_worker[0];
  EXPECT_EQ(w.slow_polls, 0u);
  for (uint64_t c : w.poll_times.counts) EXPECT_EQ(c, 0u);
}

TEST(SlowPollTest, DefaultHandlerPrintsOneLineWithTheName) {
  auto rt = Builder().worker_threads(1).slow_poll_threshold(10ms).build();
  ASSERT_TRUE(rt.ok());
  ::testing::internal::CaptureStderr();
  // The monitor finds a slow poll by looking at the worker twice, at least
  // the threshold apart, within it; a loaded machine can keep the monitor
  // off the CPU for much of a poll, so hog again (a few times at most)
  // until one is reported.
  uint64_t id = 0;
  for (int i = 0; i < 5 && rt->metrics().per_worker[0].slow_polls == 0; ++i) {
    id = rt->block_on([]() -> Task<uint64_t> {
      JoinHandle<void> h = TaskBuilder().name("printed").spawn(Hog(100ms));
      co_await h;
      co_return h.id();
    }());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("tidepool: slow poll: task " + std::to_string(id) +
                             " \"printed\" ran "));
  EXPECT_THAT(err, HasSubstr(" ms without suspending on worker 0 "
                             "(slow_poll_threshold 10 ms)\n"));
}

TEST(SlowPollTest, DefaultThresholdIsAHundredMilliseconds) {
  Recorder r;
  auto rt = Builder().worker_threads(1).on_slow_poll(r.Handler()).build();
  ASSERT_TRUE(rt.ok());
  rt->block_on(Hog(30ms));
  EXPECT_TRUE(r.Take().empty());
  // As above: a loaded machine may keep the monitor away for much of one
  // 250 ms poll, not of three.
  std::vector<Seen> seen;
  for (int i = 0; i < 3 && seen.empty(); ++i) {
    rt->block_on(Hog(250ms));
    seen = r.Take();
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].threshold, 100ms);
}

TEST(SlowPollTest, AHandlerThatThrowsIsReportedAndSurvived) {
  auto rt = Builder()
                .worker_threads(1)
                .slow_poll_threshold(10ms)
                .on_slow_poll([](const SlowPoll&) {
                  throw std::runtime_error("handler failed");
                })
                .build();
  ASSERT_TRUE(rt.ok());
  ::testing::internal::CaptureStderr();
  rt->block_on(Hog(100ms));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("tidepool: on_slow_poll threw: handler failed"));
  EXPECT_EQ(rt->block_on([]() -> Task<int> { co_return 7; }()), 7);
}

TEST(SlowPollTest, PollTimesFillTheHistogram) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  const int polls = 1500;
  rt->block_on([]() -> Task<void> {
    for (int i = 0; i < polls; ++i) {
      Spin(100us);
      co_await yield_now();
    }
  }());
  const WorkerMetrics w = rt->metrics().per_worker[0];
  uint64_t sampled = 0;
  for (uint64_t c : w.poll_times.counts) sampled += c;
  // About one poll in 64: 23 expected.
  EXPECT_GT(sampled, 8u);
  EXPECT_LT(sampled, 70u);
  // Every poll but the last spun 100 us, in [64, 256) us, or longer if the
  // system preempted it.
  EXPECT_LE(w.poll_times.counts[0] + w.poll_times.counts[1] +
                w.poll_times.counts[2] + w.poll_times.counts[3],
            1u);
  EXPECT_GE(w.poll_times.counts[4], sampled / 2);
}

}  // namespace
}  // namespace tidepool
