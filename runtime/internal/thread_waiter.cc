#include "runtime/internal/thread_waiter.h"

#include "runtime/internal/spin.h"

namespace tidepool::internal {

void ThreadWaiter::Wait(bool spin) {
  // Per thread: a bridge or test calling block_on in a loop keeps spinning,
  // a main thread waiting out a server's lifetime misses once. While
  // nobody sleeps on the word, Notify makes no syscall.
  thread_local SpinBackoff backoff;
  if (spin && backoff.ShouldSpin()) {
    const bool done =
        SpinUntil(kBlockOnSpin, [this] { return done_.Notified(); });
    backoff.Record(done);
    if (done) return;
  }
  done_.Wait();
}

}  // namespace tidepool::internal
