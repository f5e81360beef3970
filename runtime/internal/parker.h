#ifndef TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_

#include <chrono>

#include "runtime/internal/mutex.h"

namespace tidepool::internal {

// A one-token sleep/wake-up for one thread. Unpark() before Park() is not
// lost: the token stays until the next Park() consumes it. Park() is for the
// owning thread only; Unpark() for any thread. Each costs one lock, plus a
// futex wake when the owner sleeps.
class Parker {
 public:
  void Park() {
    MutexLock lock(&mu_);
    while (!token_) cv_.Wait(&mu_);
    token_ = false;
  }
  // Like Park(), but gives up after `timeout`. Returns whether a token was
  // consumed.
  bool ParkFor(std::chrono::nanoseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(&mu_);
    while (!token_) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return false;
      cv_.WaitFor(&mu_, left);
    }
    token_ = false;
    return true;
  }
  void Unpark() {
    MutexLock lock(&mu_);
    token_ = true;
    cv_.Signal();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool token_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
