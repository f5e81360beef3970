#ifndef TIDEPOOL_RUNTIME_INTERNAL_POLL_TIMER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_POLL_TIMER_H_

#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "runtime/metrics.h"

namespace tidepool::internal {

// Times one worker's polls: every poll on the kernel's coarse clock, to find
// the slow ones (slow_poll.h), and about one in `mean_sample_interval` also
// on the steady clock, for the poll-time histogram (metrics.h).
//
// Why two clocks: a precise clock read (clock_gettime, or rdtsc) costs 10
// to 20 ns on these machines, as much as a whole poll of a task that
// yields, while CLOCK_MONOTONIC_COARSE returns the time the kernel stored at
// its last tick, a few loads from the vDSO page that overlap with the
// poll's own work. It is precise only to a tick (1 to 10 ms), which is
// enough to tell a poll of a hundred milliseconds, not to draw a histogram.
//
// The worker calls Begin() and End() around each poll; the counters may be
// read from any thread.
class PollTimer {
 public:
  // `slow_threshold` zero: times nothing (Begin and End return at once).
  explicit PollTimer(std::chrono::nanoseconds slow_threshold,
                     uint32_t mean_sample_interval = 64);
  PollTimer(const PollTimer&) = delete;
  PollTimer& operator=(const PollTimer&) = delete;

  struct Start {
    int64_t coarse_ns = 0;
    int64_t fine_ns = kNotSampled;  // steady clock, for a sampled poll
  };

  // The worker, before a poll.
  Start Begin() {
    Start start;
    if (!enabled_) return start;
    start.coarse_ns = CoarseNowNs();
    if (--until_sample_ == 0) start.fine_ns = FineNowNs();
    return start;
  }

  // The worker, after the poll that Begin() started. Returns how long the
  // poll ran if it surely ran longer than the threshold (and counts it),
  // else zero.
  std::chrono::nanoseconds End(const Start& start) {
    if (!enabled_) return std::chrono::nanoseconds::zero();
    if (start.fine_ns != kNotSampled) Sample(FineNowNs() - start.fine_ns);
    const int64_t ran = CoarseNowNs() - start.coarse_ns;
    if (ran < slow_after_ns_) return std::chrono::nanoseconds::zero();
    Count(slow_polls_);
    return std::chrono::nanoseconds(ran);
  }

  // Any thread. relaxed: statistics, written by the worker alone.
  uint64_t slow_polls() const {
    return slow_polls_.load(std::memory_order_relaxed);
  }
  PollTimeHistogram Histogram() const;

  // The bucket of PollTimeHistogram that a poll of `ns` falls in.
  static size_t BucketOf(int64_t ns);

 private:
  static constexpr int64_t kNotSampled = -1;

  static int64_t CoarseNowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
  static int64_t FineNowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  // Counts a sampled poll and picks the next one.
  void Sample(int64_t ns);
  static void Count(std::atomic<uint64_t>& counter) {
    // relaxed: one writer, so a load and a store need no read-modify-write.
    counter.store(counter.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  }

  const bool enabled_;
  // A poll counts as slow when the coarse clock advanced by this much: the
  // threshold plus a tick, since each reading lags the true time by up to a
  // tick, so that a poll is never reported before it ran the threshold.
  const int64_t slow_after_ns_;
  const uint32_t mean_sample_interval_;
  // Worker only: polls left until the next sampled one, drawn at random so
  // that a worker alternating between a few tasks samples them all.
  uint32_t until_sample_;
  uint32_t rng_ = 0x9E3779B9;
  std::atomic<uint64_t> slow_polls_{0};
  std::array<std::atomic<uint64_t>, PollTimeHistogram::kBuckets> buckets_{};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_POLL_TIMER_H_
