#ifndef TIDEPOOL_RUNTIME_SIGNAL_SIGNAL_H_
#define TIDEPOOL_RUNTIME_SIGNAL_SIGNAL_H_

// Unix signals as awaitable events: SIGHUP, SIGINT, SIGTERM, SIGUSR1 and
// SIGUSR2.
//
//   int main() {
//     // Before any thread starts: see "Threads" below.
//     absl::StatusOr<tidepool::Signal> term =
//         tidepool::Signal::listen(SIGTERM);
//     if (!term.ok()) return 2;
//     auto rt = tidepool::Builder().build();
//     return rt->block_on([&]() -> tidepool::Task<int> {
//       (void)co_await term->recv();  // SIGTERM arrived
//       co_return 0;
//     }());
//   }
//
// Delivery: every listener of a signal gets every delivery, counted from
// its listen(): a signal that arrives after listen() and before the first
// recv() is kept, and recv() returns at once for it. The kernel merges
// instances of one signal sent while none has been read yet into one
// delivery (standard signals do not queue), so count events, not signals.
// A process-directed signal (kill(2), the terminal, systemd) reaches every
// listener; one directed at a single thread (raise(3), pthread_kill) only
// when that thread has it blocked and no other pending instance is read
// first, so send signals to the process.
//
// No code runs in signal context for a delivery: the signals are blocked
// and read from one signalfd, whose readiness comes through the runtime's
// I/O driver (io_uring or epoll). A task of the runtime that first calls
// recv() reads it for every listener of the process (one detached task,
// ended with its runtime; a later recv() on another runtime starts another).
//
// Threads: a blocked signal stays pending for the signalfd; a thread that
// does not block it would take it instead. So:
// - Every thread a Runtime starts (workers, blocking pool) blocks all five
//   signals from birth, whether or not anything listens.
// - listen() blocks its signal in the calling thread, and the block is
//   inherited by threads started afterwards. Call it in main() before
//   starting threads of your own (or block the signal in them) and the
//   signal never reaches a thread that does not block it.
// - As a safety net for threads that exist already with the signal
//   unblocked (main() sitting in block_on() while a task calls listen(), or
//   a thread of a library), listen() also installs a handler for the signal
//   that only blocks it in the interrupted thread and sends it to the
//   process again: two async-signal-safe calls, so the signal ends up
//   pending for the signalfd. That costs the thread one interrupted system
//   call (restarted: SA_RESTART). Under ThreadSanitizer, which defers
//   handlers, this hand-over can repeat without end: in sanitized builds,
//   listen before starting threads.
// Once listened for, a signal keeps this disposition for the life of the
// process: dropping every listener does not restore the default action.
// A delivery that finds no listener is dropped if a reader task is still
// waiting on the signalfd, and otherwise stays pending for the next
// listener of that signal.
//
// Who may call: listen() from any thread, inside a runtime or not; recv()
// awaited inside a task, one recv() per listener at a time. Dropping a
// listener while a task awaits its recv() is safe: that recv() completes
// with Cancelled. A Signal may be moved between threads and runtimes.
//
// Cost: listen() takes one process-wide lock and one pthread_sigmask; the
// first listen() of a signal also one sigaction and one signalfd(2). A
// recv() that finds a delivery counted returns without waiting; one that
// waits costs a Notify wait. A delivery costs one driver wake-up, one
// read(2) of the signalfd and one notify per listener of that signal.

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/task.h"

namespace tidepool {

namespace internal {
struct SignalListener;
}  // namespace internal

class Signal {
 public:
  // Starts counting deliveries of `signo` for a new listener (see the
  // header comment for what it does to the process's signal handling).
  // InvalidArgument for a signal other than SIGHUP, SIGINT, SIGTERM,
  // SIGUSR1 and SIGUSR2; an errno status if signalfd or sigaction fails.
  static absl::StatusOr<Signal> listen(int signo);

  Signal(Signal&&) noexcept = default;
  Signal& operator=(Signal&& other) noexcept;
  // Stops counting; a recv() in progress completes with Cancelled.
  ~Signal();

  // Completes with OK for the next delivery (at once if one was counted
  // and not yet received). Cancelled if the listener is dropped meanwhile;
  // FailedPrecondition on a moved-from Signal, outside a runtime, or while
  // another recv() of this listener is in progress; an errno status if the
  // signalfd cannot be read. Inside a tidepool task.
  Task<absl::Status> recv();

  // The signal this listener counts.
  int signo() const;

 private:
  explicit Signal(std::shared_ptr<internal::SignalListener> state)
      : state_(std::move(state)) {}
  void Drop();

  std::shared_ptr<internal::SignalListener> state_;
};

namespace signal {

// Completes with OK at the next SIGINT (Ctrl-C) delivered after the call
// starts running; an error as for Signal::listen or Signal::recv. Listens
// when first awaited, so a SIGINT before that is not seen by it: for a
// server, listen() in main() and keep the Signal.
Task<absl::Status> ctrl_c();

}  // namespace signal
}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SIGNAL_SIGNAL_H_
