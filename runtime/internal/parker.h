#ifndef TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>

#include "runtime/internal/io/io_driver.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/spin.h"

namespace tidepool::internal {

// Sleep and wake-up for one worker thread. Two channels:
// - a token (Unpark), the Idle protocol's "you have been counted awake":
//   never lost, consumed by exactly one park;
// - an interrupt (Interrupt), "re-check your deadline": also sticky until
//   the next ParkUntil, but carries no token.
// Park/ParkUntil are for the owning thread only; Unpark/Interrupt for any.
// Each costs one lock, plus a futex wake when the owner sleeps (or an
// eventfd write when it sleeps in the I/O driver), made after the lock is
// released (WakeOwner).
class Parker {
 public:
  enum class Woken { kToken, kTimeout, kInterrupted, kIo };

  // Waits for a token only.
  void Park() {
    MutexLock lock(&mu_);
    while (!token_) cv_.Wait(&mu_);
    token_ = false;
    // relaxed: a hint for the owner's next spin, written under mu_ like
    // every store to it, and re-checked under mu_ (TakeSignal).
    signalled_.store(interrupted_, std::memory_order_relaxed);
  }

  // Waits for a token, an interrupt, or `deadline` (none: no timeout). With
  // a `driver`, sleeps inside it instead, so I/O completions also end the
  // wait (kIo: completions were reaped, the deadline passed, or a stale
  // wake-up ended it early); only one
  // thread at a time may pass the driver. With `spin`, and no driver or one
  // that allows it (IoWaiter::SpinsBeforeWait: a worker's own ring, whose
  // completions show without a syscall; epoll, whose look is one poll(2)),
  // first polls for a signal (or the driver's Ready()) for up to 50 us
  // (SpinBackoff makes that rarer after misses): a signal that comes
  // meanwhile costs neither side a sleep or a wake-up. A syscall per look
  // makes the spin's slices coarser (SpinUntil reads the clock every 32
  // looks), so it can end up to about 30 us after a deadline inside it.
  Woken ParkUntil(std::optional<std::chrono::steady_clock::time_point> deadline,
                  IoWaiter* driver = nullptr, bool spin = false) {
    MutexLock lock(&mu_);
    spun_to_signal_ = false;
    if (spin && (driver == nullptr || driver->SpinsBeforeWait()) && !token_ &&
        !interrupted_) {
      const std::chrono::nanoseconds limit =
          deadline ? std::min<std::chrono::nanoseconds>(
                         kSpinBeforeSleep,
                         *deadline - std::chrono::steady_clock::now())
                   : kSpinBeforeSleep;
      if (limit.count() > 0 && spin_backoff_.ShouldSpin()) {
        mu_.Unlock();
        // acquire: pairs with the release store in Signal(); more than
        // needed, as the owner retakes mu_ before it reads token_.
        spun_to_signal_ = SpinUntil(limit, [this, driver] {
          return signalled_.load(std::memory_order_acquire) ||
                 (driver != nullptr && driver->Ready());
        });
        spin_backoff_.Record(spun_to_signal_);
        mu_.Lock();
      }
    }
    while (true) {
      if (std::optional<Woken> w = TakeSignal()) return *w;
      if (driver != nullptr) {
        driver_ = driver;
        const uint64_t unparks = driver->unparks();
        mu_.Unlock();
        // A token or interrupt sent from here on reaches the driver's
        // Unpark(), which Wait() cannot miss (see IoDriver::Wait).
        driver->Wait(deadline, unparks);
        mu_.Lock();
        driver_ = nullptr;
        return TakeSignal().value_or(Woken::kIo);
      }
      if (!deadline) {
        cv_.Wait(&mu_);
        continue;
      }
      const auto left = *deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return Woken::kTimeout;
      cv_.WaitFor(&mu_, left);
    }
  }

  // The owner, after ParkUntil: whether its spin ended on a signal or on the
  // driver's Ready(), instead of running out. Ready() may show an event that
  // wakes no task (an edge on a socket nobody waits on, or one a busy
  // worker's Poll() reaps first), so for a driver it is a likely catch, not
  // a sure one.
  bool spun_to_signal() const { return spun_to_signal_; }

  void Unpark() {
    IoWaiter* driver;
    {
      MutexLock lock(&mu_);
      token_ = true;
      driver = Signal();
    }
    WakeOwner(driver);
  }

  void Interrupt() {
    IoWaiter* driver;
    {
      MutexLock lock(&mu_);
      interrupted_ = true;
      driver = Signal();
    }
    WakeOwner(driver);
  }

 private:
  Mutex mu_;
  // token_ || interrupted_, readable without mu_ by the spinning owner.
  std::atomic<bool> signalled_{false};
  // The owner's only.
  SpinBackoff spin_backoff_;
  bool spun_to_signal_ = false;
  CondVar cv_;
  bool token_ ABSL_GUARDED_BY(mu_) = false;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  // The driver the owner sleeps in, or null when it sleeps on cv_.
  IoWaiter* driver_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Consumes a pending token (first) or interrupt.
  std::optional<Woken> TakeSignal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::optional<Woken> w;
    if (token_) {
      token_ = false;
      w = Woken::kToken;
    } else if (interrupted_) {
      interrupted_ = false;
      w = Woken::kInterrupted;
    }
    // relaxed: only read as a hint by the spinning owner (ParkUntil), who
    // re-checks under mu_.
    signalled_.store(token_ || interrupted_, std::memory_order_relaxed);
    return w;
  }

  // Publishes a signal set under mu_; returns the driver the owner sleeps
  // in, or null when it sleeps on cv_ (or does not sleep).
  IoWaiter* Signal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // release: pairs with the spin's acquire load in ParkUntil(); the owner
    // takes mu_ after seeing it anyway, so the lock orders the rest.
    signalled_.store(true, std::memory_order_release);
    return driver_;
  }

  // After mu_ is released: a woken owner takes mu_ at once, and finding it
  // held by its waker, still inside the wake-up's syscall, would sleep
  // again on the mutex. Nothing is lost by waking late: the signal is
  // already set under mu_, a driver's Unpark() is sticky (a Wait() that
  // has not begun returns at once), and an owner on cv_ checks the signal
  // under mu_ before it waits. A late wake-up can at most end the next
  // sleep in that driver early (whichever worker sleeps there: the shared
  // drivers' watcher changes) or the owner's next sleep on cv_, which the
  // caller treats as a spurious wake-up.
  void WakeOwner(IoWaiter* driver) {
    if (driver != nullptr) {
      driver->Unpark();
    } else {
      cv_.Signal();
    }
  }
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
