// PollTimer: bucket bounds, a sampled poll lands in its bucket, sampling
// takes about one poll in the mean interval, slow polls are counted, and a
// disabled timer samples nothing.
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

// Times one poll as the worker does: only if the timer picks it.
void Poll(PollTimer& timer, std::chrono::nanoseconds d) {
  if (!timer.ShouldSample()) return;
  const auto start = std::chrono::steady_clock::now();
  Spin(d);
  timer.Record(std::chrono::steady_clock::now() - start);
}

TEST(PollTimerTest, SampledPollsLandInTheirBucket) {
  PollTimer timer(/*enabled=*/true, /*mean_sample_interval=*/1);
  for (int i = 0; i < 20; ++i) Poll(timer, 100us);
  const PollTimeHistogram h = timer.Histogram();
  EXPECT_EQ(Total(h), 20u);
  // 100 us is in [64, 256) us; a poll the system preempted may come out
  // longer, never shorter.
  EXPECT_EQ(h.counts[0] + h.counts[1] + h.counts[2] + h.counts[3], 0u);
  EXPECT_GE(h.counts[4], 10u);
}

TEST(PollTimerTest, SamplesAboutOnePollInTheMeanInterval) {
  PollTimer timer(/*enabled=*/true, /*mean_sample_interval=*/64);
  const int polls = 64 * 200;
  for (int i = 0; i < polls; ++i) Poll(timer, 0ns);
  const uint64_t sampled = Total(timer.Histogram());
  // 200 expected; the gaps are uniform in [1, 127], so the count varies by
  // a few percent.
  EXPECT_GT(sampled, 150u);
  EXPECT_LT(sampled, 270u);
}

TEST(PollTimerTest, CountsSlowPolls) {
  PollTimer timer(/*enabled=*/true);
  EXPECT_EQ(timer.slow_polls(), 0u);
  timer.CountSlowPoll();
  timer.CountSlowPoll();
  EXPECT_EQ(timer.slow_polls(), 2u);
}

TEST(PollTimerTest, DisabledSamplesNothing) {
  PollTimer timer(/*enabled=*/false, /*mean_sample_interval=*/1);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(timer.ShouldSample());
  EXPECT_EQ(Total(timer.Histogram()), 0u);
}

}  // namespace
}  // namespace tidepool::internal
