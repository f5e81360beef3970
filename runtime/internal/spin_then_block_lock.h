#ifndef TIDEPOOL_RUNTIME_INTERNAL_SPIN_THEN_BLOCK_LOCK_H_
#define TIDEPOOL_RUNTIME_INTERNAL_SPIN_THEN_BLOCK_LOCK_H_

#include "absl/base/thread_annotations.h"
#include "runtime/internal/cpu_relax.h"
#include "runtime/internal/mutex.h"

namespace tidepool::internal {

// A scoped lock of a Mutex for the runtime's short, hot critical sections
// (the inject queue, the owned-task shards): if the mutex is taken, it
// retries for a moment before blocking. Two workers (or a worker and a
// thread spawning from outside) meet on these locks often, and a plain
// Mutex puts the loser to sleep in the kernel, a futex wait and a wake per
// collision, where the holder was about to release the lock a few
// instructions later.
class ABSL_SCOPED_LOCKABLE SpinThenBlockLock {
 public:
  explicit SpinThenBlockLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    for (int i = 0; i < kSpins; ++i) {
      if (mu_->TryLock()) return;
      CpuRelax();
    }
    mu_->Lock();
  }
  ~SpinThenBlockLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  SpinThenBlockLock(const SpinThenBlockLock&) = delete;
  SpinThenBlockLock& operator=(const SpinThenBlockLock&) = delete;

 private:
  // About a microsecond of pauses: longer than the critical sections it
  // waits out, short against a futex round trip.
  static constexpr int kSpins = 100;
  Mutex* const mu_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_SPIN_THEN_BLOCK_LOCK_H_
