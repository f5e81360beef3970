#ifndef TIDEPOOL_RUNTIME_SYNC_CANCELLATION_TOKEN_H_
#define TIDEPOOL_RUNTIME_SYNC_CANCELLATION_TOKEN_H_

// CancellationToken: a shared "stop now" flag that tasks can wait for.
//
// Copies of a token share one state: cancel() on any copy cancels them all,
// wakes every task awaiting cancelled(), and cancels every token made from
// it by child_token(), at any depth. Cancelling a child does not cancel its
// parent. A child made from a token already cancelled starts cancelled.
// cancel() is idempotent.
//
// Any thread may call cancel, is_cancelled and child_token; co_await
// cancelled() only inside a tidepool task. cancelled() is a Task, so it
// composes with select() and timeout():
//
//   tidepool::CancellationToken stop;
//   tidepool::spawn(Serve(stop.child_token())).detach();
//   ...
//   stop.cancel();  // on SIGTERM, say
//
//   tidepool::Task<void> Serve(tidepool::CancellationToken stop) {
//     while (!stop.is_cancelled()) {
//       auto r = co_await tidepool::select(Accept(), stop.cancelled());
//       if (r.index() == 1) break;  // cancelled
//     }
//   }
//
// Cost: a token is one shared_ptr (copying it is one atomic increment); a
// child allocates its state and takes its parent's lock once; cancel()
// takes each state's lock once and wakes its waiters; is_cancelled() is an
// atomic load; cancelled() allocates its coroutine frame.

#include <atomic>
#include <memory>
#include <vector>

#include "runtime/internal/mutex.h"
#include "runtime/sync/notify.h"
#include "runtime/task.h"

namespace tidepool {

class CancellationToken {
 public:
  // A new token, not cancelled, with no parent.
  CancellationToken();

  // Cancels this token and, after it, every child token. Any thread.
  void cancel();
  // Whether cancel() was called on this token or an ancestor. Any thread.
  bool is_cancelled() const;
  // Completes once the token is cancelled (at once if it already is).
  // Inside a tidepool task.
  Task<void> cancelled() const;
  // A token cancelled with this one, that can be cancelled on its own.
  CancellationToken child_token() const;

 private:
  struct State {
    // release in cancel() / acquire in is_cancelled(): whatever the
    // canceller wrote before cancel() is visible to a task that sees it.
    std::atomic<bool> cancelled{false};
    internal::Mutex mu;
    // Children are held weakly: a child nobody holds any more is pruned.
    std::vector<std::weak_ptr<State>> children ABSL_GUARDED_BY(mu);
    Notify notify;
  };

  explicit CancellationToken(std::shared_ptr<State> state)
      : state_(std::move(state)) {}
  static void Cancel(const std::shared_ptr<State>& state);
  static Task<void> Wait(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_CANCELLATION_TOKEN_H_
