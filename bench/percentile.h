#ifndef TIDEPOOL_BENCH_PERCENTILE_H_
#define TIDEPOOL_BENCH_PERCENTILE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tidepool::bench {

// The nearest-rank `p`th percentile (0 < p <= 100) of `sorted` (ascending);
// 0 for no values. The echo clients report their round-trip times with it.
inline int64_t NearestRank(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * sorted.size()));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace tidepool::bench

#endif  // TIDEPOOL_BENCH_PERCENTILE_H_
