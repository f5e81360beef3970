#include "runtime/internal/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace tidepool::internal {

void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
               std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!deadline) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
    return;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is
  // steady_clock's clock in libstdc++.
  const auto since_epoch = deadline->time_since_epoch();
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec at;
  at.tv_sec = secs.count();
  at.tv_nsec =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs)
          .count();
  syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, &at, nullptr,
          FUTEX_BITSET_MATCH_ANY);
}

void FutexWake(const std::atomic<uint32_t>* word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace tidepool::internal
