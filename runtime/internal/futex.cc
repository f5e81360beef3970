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

bool WakeWord::Wait(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  while (true) {
    // acquire: pairs with the release exchange in Notify().
    uint32_t w = word_.load(std::memory_order_acquire);
    if (w == kNotified) {
      // relaxed: the notifier is done with the word; only the owner writes.
      word_.store(kIdle, std::memory_order_relaxed);
      return true;
    }
    // A failed CAS (a Notify, or a spurious failure) just looks again.
    // acquire: more than needed, as the load above re-reads with acquire
    // after a failure, and a success reads our own kIdle.
    if (w == kIdle &&
        !word_.compare_exchange_weak(w, kSleeping, std::memory_order_acquire)) {
      continue;
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      return false;
    }
    FutexWait(&word_, kSleeping, deadline);
  }
}

}  // namespace tidepool::internal
