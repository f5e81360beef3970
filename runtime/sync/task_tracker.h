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
// Cost: spawn() is tidepool::spawn plus two locks (the tracker's and a
// process-wide table's, which holds about 40 bytes per tracked task) at its
// start and again at its end; the task itself is not wrapped, so a tracked
// task is as small as an untracked one. wait() allocates its frame and
// takes the lock.
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
#include "runtime/internal/task_end_listeners.h"
#include "runtime/join_handle.h"
#include "runtime/spawn.h"
#include "runtime/sync/notify.h"
#include "runtime/task.h"

namespace tidepool {

class TaskTracker {
 public:
  TaskTracker();

  // Spawns `task` on the current runtime and counts it until it finishes.
  // Out of memory the spawn throws std::bad_alloc and counts nothing.
  template <typename T>
  JoinHandle<T> spawn(Task<T> task) {
    internal::Scheduler* scheduler =
        internal::CurrentSchedulerOrThrow("TaskTracker::spawn");
    state_->Add();
    return internal::JoinHandleAccess<T>::Make(
        scheduler->SpawnTracked(std::move(task), state_));
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
  // Counts a task from Add(), before its spawn, to the end of its frame
  // (TaskEnded()).
  struct State final : internal::TaskEndListener {
    void Add();
    void TaskEnded() override;

    internal::Mutex mu;
    size_t count ABSL_GUARDED_BY(mu) = 0;
    bool closed ABSL_GUARDED_BY(mu) = false;
    // notify_waiters() whenever closed && count == 0 becomes true.
    Notify done;
  };

  static Task<void> Wait(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_TASK_TRACKER_H_
