#ifndef TIDEPOOL_RUNTIME_INTERNAL_FUTEX_H_
#define TIDEPOOL_RUNTIME_INTERNAL_FUTEX_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace tidepool::internal {

// A thread sleeping on a 32-bit atomic word, woken by address: what a
// one-shot wake-up needs when the waker must not touch the waiter's memory
// after handing over (a mutex and condition variable would have to be
// signalled under the mutex for that, and the woken thread then blocks on
// the mutex the signaller still holds). Process-private futexes.

// Sleeps while `*word == expected`, until FutexWake on the word, `deadline`
// (steady_clock) or a spurious wake-up; callers re-check their condition.
void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
               std::optional<std::chrono::steady_clock::time_point> deadline =
                   std::nullopt);

// Wakes one thread sleeping on `word`. Touches no memory, only the address:
// the word may already be gone, and whoever sleeps on that address later
// takes a spurious wake-up, which every futex waiter tolerates.
void FutexWake(const std::atomic<uint32_t>* word);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_FUTEX_H_
