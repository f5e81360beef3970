#ifndef TIDEPOOL_BENCH_CHECK_H_
#define TIDEPOOL_BENCH_CHECK_H_

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace tidepool::bench {

// Marks the benchmark as failed when a workload's result is wrong, so a lost
// or duplicated task shows up as an error instead of a skewed figure.
inline bool Check(benchmark::State& state, int64_t got, int64_t want) {
  if (got == want) return true;
  const std::string msg = "wrong result: got " + std::to_string(got) +
                          ", want " + std::to_string(want);
  state.SkipWithError(msg.c_str());
  return false;
}

}  // namespace tidepool::bench

#endif  // TIDEPOOL_BENCH_CHECK_H_
