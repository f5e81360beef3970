#ifndef TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_

#include <chrono>
#include <optional>

#include "runtime/internal/mutex.h"
#include "runtime/io/io_driver.h"

namespace tidepool::internal {

// Sleep and wake-up for one worker thread. Two channels:
// - a token (Unpark), the Idle protocol's "you have been counted awake":
//   never lost, consumed by exactly one park;
// - an interrupt (Interrupt), "re-check your deadline": also sticky until
//   the next ParkUntil, but carries no token.
// Park/ParkUntil are for the owning thread only; Unpark/Interrupt for any.
// Each costs one lock, plus a futex wake when the owner sleeps (or an
// eventfd write when it sleeps in the I/O driver).
class Parker {
 public:
  enum class Woken { kToken, kTimeout, kInterrupted, kIo };

  // Waits for a token only.
  void Park() {
    MutexLock lock(&mu_);
    while (!token_) cv_.Wait(&mu_);
    token_ = false;
  }

  // Waits for a token, an interrupt, or `deadline` (none: no timeout). With
  // a `driver`, sleeps inside it instead, so I/O completions also end the
  // wait (kIo: completions were reaped, or the deadline passed); only one
  // thread at a time may pass the driver.
  Woken ParkUntil(std::optional<std::chrono::steady_clock::time_point> deadline,
                  IoDriver* driver = nullptr) {
    MutexLock lock(&mu_);
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

  void Unpark() {
    MutexLock lock(&mu_);
    token_ = true;
    Signal();
  }

  void Interrupt() {
    MutexLock lock(&mu_);
    interrupted_ = true;
    Signal();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool token_ ABSL_GUARDED_BY(mu_) = false;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  // The driver the owner sleeps in, or null when it sleeps on cv_.
  IoDriver* driver_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Consumes a pending token (first) or interrupt.
  std::optional<Woken> TakeSignal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (token_) {
      token_ = false;
      return Woken::kToken;
    }
    if (interrupted_) {
      interrupted_ = false;
      return Woken::kInterrupted;
    }
    return std::nullopt;
  }

  void Signal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (driver_ != nullptr) {
      driver_->Unpark();
    } else {
      cv_.Signal();
    }
  }
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
