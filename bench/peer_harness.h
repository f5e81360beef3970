#ifndef TIDEPOOL_BENCH_PEER_HARNESS_H_
#define TIDEPOOL_BENCH_PEER_HARNESS_H_

// The measuring loop and output line of the C++ scheduler peers
// (bench/peers/asio_rt, bench/peers/tbb_rt), the same as the tokio peer's
// (bench/peers/tokio_rt), so that bench/compare can read them alike:
//
//   case=<name> iters=<n> median_ns=<x> min_ns=<x> max_ns=<x> reps=<r>
//
// An iteration is one whole workload (say, 10,000 spawns). Each case runs
// for a warm-up time, then `reps` repetitions of at least min_time each;
// median/min/max are over the repetitions' mean time per iteration.
//
// Flags: --workers N (2), --reps R (5), --min-time-ms M (100),
// --warmup-ms W (50), --filter SUBSTRING (every case).

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace tidepool::bench {

struct PeerOptions {
  int workers = 2;
  int reps = 5;
  std::chrono::milliseconds min_time{100};
  std::chrono::milliseconds warmup{50};
  std::string filter;

  bool Selected(std::string_view name) const {
    return name.find(filter) != std::string_view::npos;
  }
};

[[noreturn]] inline void PeerUsage(const char* argv0, const char* bad) {
  std::fprintf(stderr,
               "%s: bad argument %s\nusage: %s [--workers N] [--reps R] "
               "[--min-time-ms M] [--warmup-ms W] [--filter SUBSTRING]\n",
               argv0, bad, argv0);
  std::exit(2);
}

inline PeerOptions ParsePeerOptions(int argc, char** argv) {
  PeerOptions opts;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) PeerUsage(argv[0], argv[i]);
    const char* value = argv[i + 1];
    if (flag == "--filter") {
      opts.filter = value;
      continue;
    }
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || n <= 0) PeerUsage(argv[0], value);
    if (flag == "--workers") {
      opts.workers = static_cast<int>(n);
    } else if (flag == "--reps") {
      opts.reps = static_cast<int>(n);
    } else if (flag == "--min-time-ms") {
      opts.min_time = std::chrono::milliseconds(n);
    } else if (flag == "--warmup-ms") {
      opts.warmup = std::chrono::milliseconds(n);
    } else {
      PeerUsage(argv[0], argv[i]);
    }
  }
  return opts;
}

// Runs `iteration` as described above and prints the case's line.
template <typename F>
void Measure(const PeerOptions& opts, std::string_view name, F&& iteration) {
  using Clock = std::chrono::steady_clock;
  const auto warmup_end = Clock::now() + opts.warmup;
  while (Clock::now() < warmup_end) iteration();
  std::vector<double> per_iter;
  int64_t total = 0;
  for (int r = 0; r < opts.reps; ++r) {
    const auto start = Clock::now();
    int64_t n = 0;
    Clock::duration elapsed;
    do {
      iteration();
      ++n;
      elapsed = Clock::now() - start;
    } while (elapsed < opts.min_time);
    per_iter.push_back(
        std::chrono::duration<double, std::nano>(elapsed).count() / n);
    total += n;
  }
  std::sort(per_iter.begin(), per_iter.end());
  const size_t m = per_iter.size();
  const double median = m % 2 == 1
                            ? per_iter[m / 2]
                            : (per_iter[m / 2 - 1] + per_iter[m / 2]) / 2;
  std::printf(
      "case=%.*s iters=%lld median_ns=%.0f min_ns=%.0f max_ns=%.0f reps=%zu\n",
      static_cast<int>(name.size()), name.data(), static_cast<long long>(total),
      median, per_iter.front(), per_iter.back(), m);
  std::fflush(stdout);
}

// Stops the program when a workload's result is wrong, so that a lost or
// duplicated task cannot pass as a fast one.
inline void CheckResult(std::string_view name, int64_t got, int64_t want) {
  if (got == want) return;
  std::fprintf(stderr, "case %.*s: wrong result: got %lld, want %lld\n",
               static_cast<int>(name.size()), name.data(),
               static_cast<long long>(got), static_cast<long long>(want));
  std::exit(1);
}

// The tasks of one iteration count down; the last one wakes the thread that
// waits outside the pool, as tokio's benchmarks signal a std channel. The
// waiter sleeps on a futex word, as tidepool's block_on does
// (internal::ThreadWaiter): the wake-up is one exchange and one FUTEX_WAKE,
// where a mutex and condition variable, signalled under the mutex, made the
// woken thread block on the mutex again.
class Countdown {
 public:
  // Before the tasks start; only the waiting thread calls it.
  void Arm(int64_t n) {
    // relaxed: the tasks that count down are created after this, and their
    // hand-off to the pool publishes both stores.
    remaining_.store(n, std::memory_order_relaxed);
    state_.store(kIdle, std::memory_order_relaxed);
  }

  void CountDown() {
    // acq_rel: the last decrement acquires every earlier one, so what the
    // other tasks did happens before the waiter wakes.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // release: pairs with Wait's acquire.
    if (state_.exchange(kDone, std::memory_order_release) == kSleeping) {
      // FUTEX_WAKE touches only the address, so it is harmless if the
      // waiter has already seen kDone and moved on.
      syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
  }

  // Waits for the last CountDown; returns what is left (0 unless tasks were
  // lost or ran twice).
  int64_t Wait() {
    uint32_t s = kIdle;
    // acquire: pairs with CountDown's release.
    if (state_.compare_exchange_strong(s, kSleeping, std::memory_order_acquire,
                                       std::memory_order_acquire)) {
      while (state_.load(std::memory_order_acquire) != kDone) {
        syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kSleeping, nullptr,
                nullptr, 0);
      }
    }
    // acquire: pairs with the decrements, see CountDown.
    return remaining_.load(std::memory_order_acquire);
  }

 private:
  static constexpr uint32_t kIdle = 0;
  static constexpr uint32_t kSleeping = 1;
  static constexpr uint32_t kDone = 2;

  std::atomic<int64_t> remaining_{0};
  std::atomic<uint32_t> state_{kIdle};
};

}  // namespace tidepool::bench

#endif  // TIDEPOOL_BENCH_PEER_HARNESS_H_
