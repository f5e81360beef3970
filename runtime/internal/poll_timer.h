#ifndef TIDEPOOL_RUNTIME_INTERNAL_POLL_TIMER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_POLL_TIMER_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "runtime/metrics.h"

namespace tidepool::internal {

// Samples one worker's poll times for the poll-time histogram (metrics.h):
// about one poll in `mean_sample_interval` is timed on the steady clock, as
// a precise clock read (10 to 20 ns here) costs as much as a whole poll of
// a task that yields. Also counts the worker's slow polls, which the
// runtime's monitor finds (monitor.h, slow_poll.h) without timing any.
//
// The worker calls ShouldSample() before each poll and Record() after a
// sampled one; the counters may be read from any thread.
class PollTimer {
 public:
  // `enabled` false: samples nothing.
  explicit PollTimer(bool enabled, uint32_t mean_sample_interval = 64);
  PollTimer(const PollTimer&) = delete;
  PollTimer& operator=(const PollTimer&) = delete;

  // The worker, before a poll: whether to time it.
  bool ShouldSample() { return enabled_ && --until_sample_ == 0; }

  // The worker, after a poll that ShouldSample() picked: counts it in its
  // bucket and picks the next poll to sample.
  void Record(std::chrono::nanoseconds ran);

  // The worker, for each slow poll reported.
  void CountSlowPoll() { Count(slow_polls_); }

  // Any thread. relaxed: statistics, written by the worker alone.
  uint64_t slow_polls() const {
    return slow_polls_.load(std::memory_order_relaxed);
  }
  PollTimeHistogram Histogram() const;

  // The bucket of PollTimeHistogram that a poll of `ns` falls in.
  static size_t BucketOf(int64_t ns);

 private:
  static void Count(std::atomic<uint64_t>& counter) {
    // relaxed: one writer, so a load and a store need no read-modify-write.
    counter.store(counter.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  }

  const bool enabled_;
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
