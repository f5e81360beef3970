#ifndef TIDEPOOL_ALLOC_STATS_H_
#define TIDEPOOL_ALLOC_STATS_H_

// Stats: how much memory the program uses and how much the allocator keeps
// around it. Read with tidepool::alloc::stats(); costs a walk of the
// allocator's arenas (glibc: malloc_info; jemalloc: an epoch refresh), so it
// is for reports and benchmarks, not hot paths.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "alloc/backend.h"

namespace tidepool::alloc {

struct Stats {
  Backend backend = Backend::kUnknown;
  // Bytes in blocks the program holds. -1 where the backend does not count
  // it (mimalloc release builds).
  int64_t allocated = -1;
  // Bytes the allocator holds from the system in arenas/pages, live or free.
  int64_t arena = -1;
  // Free bytes kept inside the allocator.
  int64_t free_held = -1;
  // Of free_held, what a trim could give back to the system (an estimate
  // for glibc: free chunks spanning whole pages).
  int64_t releasable = -1;
  // Large blocks mapped on their own (glibc mmapped chunks).
  int64_t mmap_regions = -1;
  int64_t mmap_bytes = -1;
  // Free chunks inside arenas (glibc).
  int64_t free_chunks = -1;
  // The process's resident set (VmRSS).
  int64_t resident = -1;
  // allocated / arena, in [0, 1]; -1 when unknown.
  double utilization = -1;
  // trim() calls in this process so far (TrimCoalesced's included), and the
  // resident bytes they gave back (the sum of their TrimResult::released).
  // Counted by tidepool for every backend, kUnknown included.
  uint64_t trims = 0;
  int64_t trim_released = 0;
  // Backend-specific figures, in the backend's own names.
  std::vector<std::pair<std::string, int64_t>> detail;
};

// The seed report's "Arena Info" block, one line each, with the two warnings
// (low utilization; much free but little releasable) when they apply. Each
// line starts with `prefix`.
std::string FormatArenaInfo(const Stats& stats, const std::string& prefix = "");

}  // namespace tidepool::alloc

#endif  // TIDEPOOL_ALLOC_STATS_H_
