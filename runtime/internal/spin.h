#ifndef TIDEPOOL_RUNTIME_INTERNAL_SPIN_H_
#define TIDEPOOL_RUNTIME_INTERNAL_SPIN_H_

#include <sched.h>

#include <algorithm>
#include <chrono>

#include "runtime/internal/cpu_relax.h"

namespace tidepool::internal {

// Spinning for a moment before sleeping, where a thread is about to sleep
// and a wake-up is likely soon: a blocking-pool thread between calls, a
// block_on caller waiting for its task, the last worker to park. On a VM a
// wake-up costs tens of microseconds when the woken thread's vCPU has
// halted; a spin that catches the event saves both the waker's syscall and
// that latency (docs/architecture.md, "Searching and parking" and "The
// blocking pool").

// How long a thread about to sleep spins first: a pool thread waiting for
// the next call, the last worker to park. Longer than a worker's wake-up
// here (about 20 us on a VM whose other vCPU halted), so a caller woken by
// a result can make its next call in time.
inline constexpr std::chrono::microseconds kSpinBeforeSleep{50};
// block_on's caller: a wake-up plus a short task's run.
inline constexpr std::chrono::microseconds kBlockOnSpin{100};

// Polls `ready` until it returns true (then returns true) or `limit`
// passes (false; after at least 32 polls). Pauses between polls and yields
// the CPU every 32 of them, a microsecond or two, so that a thread waiting
// for this CPU when threads outnumber CPUs is not held off for the whole
// limit.
template <typename Ready>
bool SpinUntil(std::chrono::nanoseconds limit, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  do {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
      CpuRelax();
    }
    sched_yield();
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// Makes spins rarer while they miss: after n misses in a row only one
// attempt in 2^n spins (at most one in 64), and a hit restores every
// attempt. So a waiter whose events come late costs next to nothing, and
// one whose events come soon spins every time. Not thread-safe: one owner,
// or a lock around it.
class SpinBackoff {
 public:
  // Whether this attempt spins.
  bool ShouldSpin() {
    if (skips_ == 0) return true;
    --skips_;
    return false;
  }
  // The outcome of a spin ShouldSpin() allowed.
  void Record(bool hit) {
    misses_ = hit ? 0 : std::min(misses_ + 1, kMaxMisses);
    skips_ = (1 << misses_) - 1;
  }

 private:
  static constexpr int kMaxMisses = 6;
  int misses_ = 0;
  int skips_ = 0;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_SPIN_H_
