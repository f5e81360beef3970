#include "runtime/internal/poll_timer.h"

#include <algorithm>
#include <bit>

namespace tidepool::internal {

PollTimer::PollTimer(bool enabled, uint32_t mean_sample_interval)
    : enabled_(enabled),
      mean_sample_interval_(std::max<uint32_t>(mean_sample_interval, 1)),
      until_sample_(mean_sample_interval_) {}

size_t PollTimer::BucketOf(int64_t ns) {
  // Bucket i > 0 holds [4^(i-1), 4^i) us: the microseconds' bit width,
  // halved and rounded up.
  const uint64_t us = ns <= 0 ? 0 : static_cast<uint64_t>(ns) / 1000;
  const size_t bucket = (std::bit_width(us) + 1) / 2;
  return std::min(bucket, PollTimeHistogram::kBuckets - 1);
}

void PollTimer::Record(std::chrono::nanoseconds ran) {
  Count(buckets_[BucketOf(ran.count())]);
  // xorshift32; uniform in [1, 2 * mean - 1], whose average is the mean.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 17;
  rng_ ^= rng_ << 5;
  until_sample_ = 1 + rng_ % (2 * mean_sample_interval_ - 1);
}

PollTimeHistogram PollTimer::Histogram() const {
  PollTimeHistogram h;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    // relaxed: see slow_polls().
    h.counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return h;
}

}  // namespace tidepool::internal
