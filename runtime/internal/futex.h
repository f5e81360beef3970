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

// A wake-up for one sleeping thread, on a futex word: a notifier's one
// exchange, plus one FUTEX_WAKE only if the owner already sleeps. The
// exchange is the notifier's last access to the object, so the owner may
// destroy it as soon as Wait() (or Notified()) has seen the notification.
// Reusable: each Wait() that returns true consumes one Notify().
class WakeWord {
 public:
  // Any thread, once per round. release: what the notifier wrote before is
  // visible to the owner that sees the notification; pairs with the acquire
  // loads in Notified() and Wait(). The old value only picks the syscall.
  void Notify() {
    if (word_.exchange(kNotified, std::memory_order_release) == kSleeping) {
      FutexWake(&word_);
    }
  }

  // The owner, polling: whether Notify() came (not consumed).
  bool Notified() const {
    // acquire: pairs with the release exchange in Notify().
    return word_.load(std::memory_order_acquire) == kNotified;
  }

  // The owner. Sleeps until Notify() (returns true, consuming it) or
  // `deadline` (false).
  bool Wait(std::optional<std::chrono::steady_clock::time_point> deadline =
                std::nullopt);

 private:
  static constexpr uint32_t kIdle = 0;
  static constexpr uint32_t kSleeping = 1;  // in FutexWait, or about to be
  static constexpr uint32_t kNotified = 2;

  std::atomic<uint32_t> word_{kIdle};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_FUTEX_H_
