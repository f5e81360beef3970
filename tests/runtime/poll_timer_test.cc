// PollTimer: bucket bounds, a sampled poll lands in its bucket, sampling
// takes about one poll in the mean interval, slow polls are reported only
// past the threshold, and a zero threshold times nothing.
#include "runtime/internal/poll_timer.h"

#include <chrono>
#include <cstdint>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

using namespace std::chrono_literals;

void Spin(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

uint64_t Total(const PollTimeHistogram& h) {
  uint64_t n = 0;
  for (uint64_t c : h.counts) n += c;
  return n;
}

TEST(PollTimerTest, BucketsArePowersOfFourMicroseconds) {
  EXPECT_EQ(PollTimer::BucketOf(0), 0u);
  EXPECT_EQ(PollTimer::BucketOf(999), 0u);
  EXPECT_EQ(PollTimer::BucketOf(1'000), 1u);
  EXPECT_EQ(PollTimer::BucketOf(3'999), 1u);
  EXPECT_EQ(PollTimer::BucketOf(4'000), 2u);
  EXPECT_EQ(PollTimer::BucketOf(100'000), 4u);
  EXPECT_EQ(PollTimer::BucketOf(65'535'999), 8u);
  EXPECT_EQ(PollTimer::BucketOf(65'536'000), 9u);
  EXPECT_EQ(PollTimer::BucketOf(int64_t{1} << 50), 9u);
  // The public bounds say the same.
  for (size_t i = 0; i + 1 < PollTimeHistogram::kBuckets; ++i) {
    const int64_t bound_ns =
        std::chrono::nanoseconds(PollTimeHistogram::upper_bound(i)).count();
    EXPECT_EQ(PollTimer::BucketOf(bound_ns - 1000), i) << i;
    EXPECT_EQ(PollTimer::BucketOf(bound_ns), i + 1) << i;
  }
}

TEST(PollTimerTest, SampledPollsLandInTheirBucket) {
  PollTimer timer(100ms, /*mean_sample_interval=*/1);
  for (int i = 0; i < 20; ++i) {
    PollTimer::Start start = timer.Begin();
    Spin(100us);
    EXPECT_EQ(timer.End(start), 0ns);
  }
  const PollTimeHistogram h = timer.Histogram();
  EXPECT_EQ(Total(h), 20u);
  // 100 us is in [64, 256) us; a poll the system preempted may come out
  // longer, never shorter.
  EXPECT_EQ(h.counts[0] + h.counts[1] + h.counts[2] + h.counts[3], 0u);
  EXPECT_GE(h.counts[4], 10u);
}

TEST(PollTimerTest, SamplesAboutOnePollInTheMeanInterval) {
  PollTimer timer(100ms, /*mean_sample_interval=*/64);
  const int polls = 64 * 200;
  for (int i = 0; i < polls; ++i) timer.End(timer.Begin());
  const uint64_t sampled = Total(timer.Histogram());
  // 200 expected; the gaps are uniform in [1, 127], so the count varies by
  // a few percent.
  EXPECT_GT(sampled, 150u);
  EXPECT_LT(sampled, 270u);
}

TEST(PollTimerTest, ReportsOnlyPollsPastTheThreshold) {
  PollTimer timer(10ms, /*mean_sample_interval=*/1);
  PollTimer::Start start = timer.Begin();
  Spin(1ms);
  EXPECT_EQ(timer.End(start), 0ns);
  EXPECT_EQ(timer.slow_polls(), 0u);
  // Sure to be reported past the threshold plus two coarse ticks (4 ms on
  // Debian's kernels; at most 10 ms on any common one).
  start = timer.Begin();
  Spin(40ms);
  const std::chrono::nanoseconds ran = timer.End(start);
  EXPECT_GT(ran, 10ms);
  EXPECT_EQ(timer.slow_polls(), 1u);
}

TEST(PollTimerTest, ZeroThresholdTimesNothing) {
  PollTimer timer(0ns, /*mean_sample_interval=*/1);
  PollTimer::Start start = timer.Begin();
  Spin(20ms);
  EXPECT_EQ(timer.End(start), 0ns);
  EXPECT_EQ(timer.slow_polls(), 0u);
  EXPECT_EQ(Total(timer.Histogram()), 0u);
}

}  // namespace
}  // namespace tidepool::internal
