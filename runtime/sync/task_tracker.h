#ifndef TIDEPOOL_RUNTIME_SYNC_TASK_TRACKER_H_
#define TIDEPOOL_RUNTIME_SYNC_TASK_TRACKER_H_

// TaskTracker: counts the tasks spawned through it, so that a shutdown can
// wait for them, joined or detached.
//
// spawn() spawns like tidepool::spawn and counts the task until it
// finishes (returns, throws, or is destroyed by abort() or its runtime's
// shutdown). close() says no more waiting is needed for new work; wait()
// completes once the tracker is closed and the count is zero, at once if
// that is already so. A closed tracker still spawns and counts tasks
// (close() is about wait(), not a gate), and reopen() undoes close().
// Copies of a tracker share one count.
//
// Any thread may call close, reopen, is_closed, len and is_empty; spawn
// from a worker or blocking thread of a runtime (as tidepool::spawn);
// co_await wait() only inside a tidepool task. A task awaiting wait()
// keeps the count alive, so it may outlive the tracker it came from.
//
// Cost: spawn() is tidepool::spawn plus one wrapper coroutine frame around
// the task and one lock at its start and at its end; wait() allocates its
// frame and takes the lock.
//
//   tidepool::TaskTracker tracker;
//   for (tidepool::TcpStream& c : connections) {
//     tracker.spawn(Serve(std::move(c))).detach();
//   }
//   tracker.close();
//   co_await tracker.wait();  // every Serve() has finished

#include <cstddef>
#include <memory>
#include <utility>

#include "runtime/internal/mutex.h"
#include "runtime/join_handle.h"
#include "runtime/spawn.h"
#include "runtime/sync/notify.h"
#include "runtime/task.h"

namespace tidepool {

class TaskTracker {
 public:
  TaskTracker();

  // Spawns `task` on the current runtime and counts it until it finishes.
  template <typename T>
  JoinHandle<T> spawn(Task<T> task) {
    return tidepool::spawn(Track(Token(state_), std::move(task)));
  }

  // Lets wait() complete once the count reaches zero.
  void close();
  // Undoes close(): wait() waits again for the next close().
  void reopen();
  bool is_closed() const;
  // Tracked tasks that have not finished.
  size_t len() const;
  bool is_empty() const { return len() == 0; }

  // Completes when the tracker is closed and no tracked task is left.
  Task<void> wait() const;

 private:
  struct State {
    internal::Mutex mu;
    size_t count ABSL_GUARDED_BY(mu) = 0;
    bool closed ABSL_GUARDED_BY(mu) = false;
    // notify_waiters() whenever closed && count == 0 becomes true.
    Notify done;
  };

  // Counts one task for as long as it lives (in the task's frame).
  class Token {
   public:
    explicit Token(std::shared_ptr<State> state);
    Token(Token&& other) noexcept : state_(std::move(other.state_)) {}
    Token& operator=(Token&&) = delete;
    ~Token();

   private:
    std::shared_ptr<State> state_;
  };

  template <typename T>
  static Task<T> Track([[maybe_unused]] Token token, Task<T> task) {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
    } else {
      co_return co_await std::move(task);
    }
  }
  static Task<void> Wait(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_TASK_TRACKER_H_
