#ifndef TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_PARKER_H_

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
