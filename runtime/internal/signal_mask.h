#ifndef TIDEPOOL_RUNTIME_INTERNAL_SIGNAL_MASK_H_
#define TIDEPOOL_RUNTIME_INTERNAL_SIGNAL_MASK_H_

#include <pthread.h>
#include <signal.h>

namespace tidepool::internal {

// The signals Signal::listen accepts (runtime/signal/signal.h).
inline constexpr int kListenableSignals[] = {SIGHUP, SIGINT, SIGTERM, SIGUSR1,
                                             SIGUSR2};

inline sigset_t ListenableSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kListenableSignals) sigaddset(&set, s);
  return set;
}

// Blocks the listenable signals in the calling thread for its lifetime, then
// restores the mask. Runtime threads are started inside one: a thread
// inherits its creator's mask, so those signals are never delivered to a
// runtime thread and stay pending for the signalfd of Signal (a process
// whose main thread does not block them still gets their default action
// until something listens).
class ScopedBlockListenableSignals {
 public:
  ScopedBlockListenableSignals() {
    const sigset_t set = ListenableSignalSet();
    pthread_sigmask(SIG_BLOCK, &set, &saved_);
  }
  ~ScopedBlockListenableSignals() {
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  ScopedBlockListenableSignals(const ScopedBlockListenableSignals&) = delete;
  ScopedBlockListenableSignals& operator=(const ScopedBlockListenableSignals&) =
      delete;

 private:
  sigset_t saved_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_SIGNAL_MASK_H_
