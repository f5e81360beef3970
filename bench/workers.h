#ifndef TIDEPOOL_BENCH_WORKERS_H_
#define TIDEPOOL_BENCH_WORKERS_H_

#include <cstdlib>

namespace tidepool::bench {

// Worker threads of the runtimes the scheduler benchmarks build:
// TIDEPOOL_BENCH_WORKERS if set to a positive number, else 2 (the reference
// machine has 2 cores). bench/compare sets it to the peers' --workers.
inline int Workers() {
  const char* env = std::getenv("TIDEPOOL_BENCH_WORKERS");
  if (env == nullptr) return 2;
  const int n = std::atoi(env);
  return n > 0 ? n : 2;
}

}  // namespace tidepool::bench

#endif  // TIDEPOOL_BENCH_WORKERS_H_
