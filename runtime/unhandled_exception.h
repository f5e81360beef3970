#ifndef TIDEPOOL_RUNTIME_UNHANDLED_EXCEPTION_H_
#define TIDEPOOL_RUNTIME_UNHANDLED_EXCEPTION_H_

// Exceptions nobody will see: a task (spawn) or blocking call
// (spawn_blocking) that ended with an exception whose JoinHandle was
// dropped or detached without awaiting it. tidepool never loses one
// silently: it hands each to the runtime's handler exactly once, and counts
// it in RuntimeMetrics::unhandled_exceptions.
//
// The default handler, ReportUnhandledException, prints the exception's
// what() and the task's id on stderr. Builder::on_unhandled_exception(f)
// replaces it; AbortOnUnhandledException stops the process instead (tokio's
// "shutdown on unhandled panic", stricter).
//
//   auto rt = tidepool::Builder()
//                 .on_unhandled_exception(tidepool::AbortOnUnhandledException)
//                 .build();
//
// When: as soon as the exception can no longer be awaited, on the thread
// that lets go of the task last (a worker finishing a detached task, or the
// thread dropping the JoinHandle of a finished one). A handler must be
// quick, must not block, and may be called from several threads at once;
// an exception escaping it is reported on stderr and dropped. Cancellation
// (abort(), shutdown) is never reported. Once the Runtime is destroyed,
// what is left goes to ReportUnhandledException.

#include <cstdint>
#include <exception>

namespace tidepool {

struct UnhandledException {
  std::exception_ptr exception;
  // JoinHandle::id() of the task; unique in the process.
  uint64_t task_id = 0;
  // True for a spawn_blocking call, false for a spawned task.
  bool blocking = false;
};

// The default: one line on stderr,
//   tidepool: task 17 ended with an unhandled exception: <what()>
void ReportUnhandledException(const UnhandledException& e);

// Reports as above, then std::abort().
[[noreturn]] void AbortOnUnhandledException(const UnhandledException& e);

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_UNHANDLED_EXCEPTION_H_
