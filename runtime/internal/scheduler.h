#ifndef TIDEPOOL_RUNTIME_INTERNAL_SCHEDULER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_SCHEDULER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "runtime/internal/blocking_pool.h"
#include "runtime/internal/idle.h"
#include "runtime/internal/inject_queue.h"
#include "runtime/internal/io/io_driver.h"
#include "runtime/internal/monitor.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/owned_tasks.h"
#include "runtime/internal/parker.h"
#include "runtime/internal/runtime_config.h"
#include "runtime/internal/task_cell.h"
#include "runtime/internal/task_end_listeners.h"
#include "runtime/internal/timer_driver.h"
#include "runtime/internal/unhandled_sink.h"
#include "runtime/metrics.h"
#include "runtime/task.h"
#include "runtime/task_info.h"

namespace tidepool::internal {

// The work-stealing executor behind a Runtime: N worker threads, each with a
// LocalQueue and a LIFO slot, one InjectQueue, the Idle bookkeeping for
// parking, the OwnedTasks list, and the BlockingPool. See
// docs/architecture.md for the invariants.
//
// Owned through shared_ptr: by its Runtime, and by every blocking-pool
// thread while it runs, so that a call outliving shutdown_timeout still
// finds the scheduler (shut down, refusing work) instead of freed memory.
class Scheduler : public std::enable_shared_from_this<Scheduler> {
 public:
  Scheduler(RuntimeConfig config, std::unique_ptr<IoDriver> io);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the worker threads (none for a current_thread runtime).
  absl::Status Start();

  // A current_thread runtime: its one worker runs only inside DriveUntil.
  bool current_thread() const { return config_.current_thread; }
  // current_thread runtimes only; not from a thread of this runtime. Runs
  // the worker's loop on the calling thread until `done()` is true (checked
  // after every task poll and wake-up; a task of this runtime must make it
  // true and wake the loop, as a completing root task does) or the runtime
  // shuts down. One thread drives at a time; another caller waits for it
  // to stop driving, then drives itself if its `done()` is still false.
  void DriveUntil(absl::FunctionRef<bool()> done);

  // Stops the workers, destroys every task that has not finished (their
  // JoinHandles report TaskCancelled), then shuts the blocking pool down
  // with `blocking_timeout`. Idempotent. Not from a worker thread.
  void Shutdown(std::chrono::nanoseconds blocking_timeout);
  // Shutdown with the configured shutdown_timeout.
  void Shutdown() { Shutdown(config_.shutdown_timeout); }

  // Any thread. The returned cell carries the JoinHandle's reference.
  // Once Drain() has begun, work from outside the runtime's threads is
  // refused: the cell comes back cancelled.
  template <typename T>
  JoinState<T>* Spawn(Task<T> task) {
    return Launch(CoroTask<T>::Create(this, sink_id_, std::move(task)));
  }
  // Spawn, giving the task `name` (task_names.h) before it can run; an
  // empty name leaves it unnamed.
  template <typename T>
  JoinState<T>* SpawnNamed(Task<T> task, std::string name) {
    auto* cell = CoroTask<T>::Create(this, sink_id_, std::move(task));
    if (!name.empty()) {
      try {
        NameTask(cell, std::move(name));
      } catch (...) {
        Abandon(cell);
        throw;
      }
    }
    return Launch(cell);
  }

  // Spawn, with `listener` told when the task's frame ends
  // (task_end_listeners.h).
  template <typename T>
  JoinState<T>* SpawnTracked(Task<T> task,
                             std::shared_ptr<TaskEndListener> listener) {
    auto* cell = CoroTask<T>::Create(this, sink_id_, std::move(task));
    TaskEndListener* const told = listener.get();
    try {
      ListenForTaskEnd(cell, std::move(listener));
    } catch (...) {
      // Not registered, so the frame's end will not tell it: a spawn that
      // throws has told its listener either way.
      Abandon(cell);
      told->TaskEnded();
      throw;
    }
    return Launch(cell);
  }

  template <typename F>
  JoinState<std::invoke_result_t<std::decay_t<F>&>>* SpawnBlocking(F&& f) {
    auto* cell =
        new BlockingTask<std::decay_t<F>>(sink_id_, std::forward<F>(f));
    if (RefusesOutsideWork()) {
      Refuse(cell);
      return cell;
    }
    blocking_->Spawn(cell);
    return cell;
  }

  // Any thread; the pool lives as long as the scheduler.
  const std::shared_ptr<BlockingPool>& blocking_pool() const {
    return blocking_;
  }

  // Whether Shutdown() has begun. Any thread. relaxed: a Handle's check for
  // a clear error; spawning into a runtime shutting down is refused anyway.
  bool IsShutDown() const { return shutdown_.load(std::memory_order_relaxed); }

  // Not from a thread of this runtime. Refuses new work from outside the
  // runtime's threads from now on, then waits until no task is alive and
  // no blocking call runs or waits, or until `timeout`. Tasks and blocking
  // calls may still spawn more meanwhile; that work is waited for too.
  absl::Status Drain(std::chrono::nanoseconds timeout);

  // Queues a task that a Wake() or Abort() moved to kScheduled; takes over
  // its queue reference. From a worker of this scheduler the task goes to
  // that worker's LIFO slot, otherwise to the inject queue.
  void Schedule(TaskHeader* task);

  // True on a worker thread of this scheduler.
  bool OnWorkerThread() const { return IsWorkerOf(this); }
  // Whether the calling thread is one of `s`'s workers (or drives it, for a
  // current_thread runtime). Compares addresses only, so `s` may be a
  // runtime already freed.
  static bool IsWorkerOf(const Scheduler* s);
  // The calling thread's worker index in this scheduler, or
  // OwnedTasks::kNotAWorker.
  int CurrentWorker() const;

  // The CPUs the building thread could use (cpus.h), read once at build.
  int usable_cpus() const { return cpus_; }
  // Whether threads waiting for this runtime may spin before sleeping: two
  // CPUs or more. On one CPU a spinner holds the CPU that the thread it
  // waits for needs, and under a quota of one CPU it spends the quota that
  // thread needs.
  bool may_spin() const { return cpus_ >= 2; }
  // Whether some worker sleeps, so a CPU may be free; a hint (Idle::AnyParked).
  bool AnyWorkerParked() const { return idle_.AnyParked(); }

  OwnedTasks& owned() { return owned_; }
  // TaskHeader::Complete()'s last step: OwnedTasks::Release (dropping
  // `caller_refs` more), plus waking the owner when its returned cells pile
  // up.
  void ReleaseOwned(TaskHeader* task, int worker, uint32_t caller_refs);

  // Timers of this runtime (sleep, timeout, interval). Any thread.
  TimerDriver& timers() { return timers_; }
  // Files a timer whose waker holds a reference, waking the watching worker
  // if it is now the earliest.
  void RegisterTimer(TimerEntry* e);
  // See TimerDriver::Cancel.
  bool CancelTimer(TimerEntry* e);
  // The runtime's I/O driver. Any thread; lives as long as the Scheduler.
  IoDriver& io() { return *io_; }
  RuntimeMetrics Metrics() const;
  // Runtime::dump(): every live task, ordered by id. Any thread.
  std::vector<TaskInfo> Dump();

  // TaskHeader::Complete(), first: calls on_task_terminate (task_hooks.h)
  // if it is set. Inline, so that without the hook a completion pays one
  // branch.
  void TaskTerminating(const TaskHeader& task) const {
    if (config_.on_task_terminate) TerminateHook(task);
  }

  // One worker thread's state; defined in scheduler.cc.
  struct Worker;

 private:
  // A spawned cell that will never join a queue (the runtime refuses the
  // work): cancelled, which destroys the task's frame (and tells a listener
  // registered for it), and the queue's reference dropped. Its JoinHandle
  // then reports TaskCancelled.
  void Refuse(TaskHeader* cell) {
    cell->CancelNow();
    cell->Unref();  // the queue's, which it never joins
  }
  // A cell made for a spawn that then threw (out of memory naming it,
  // registering its listener or entering it in the owned-task list): it
  // never ran and gets no JoinHandle, so it is refused and the handle's
  // reference is dropped too.
  void Abandon(TaskHeader* cell) {
    Refuse(cell);
    cell->DropHandle();
  }
  // Spawn's common part: the spawn hook, then the queue.
  template <typename T>
  JoinState<T>* Launch(JoinState<T>* cell) {
    if (config_.on_task_spawn) SpawnHook(*cell);
    if (RefusesOutsideWork()) {
      Refuse(cell);
      return cell;
    }
    try {
      Submit(cell);
    } catch (...) {
      Abandon(cell);
      throw;
    }
    return cell;
  }
  void SpawnHook(const TaskHeader& task) const;
  void TerminateHook(const TaskHeader& task) const;
  void Submit(TaskHeader* task);
  // Drain() has begun and the caller is not one of this runtime's threads.
  bool RefusesOutsideWork() const;
  void WorkerMain(Worker* w);
  // One step of a worker's loop: runs a task, or parks until work may have
  // arrived.
  void Turn(Worker* w);
  // Drain() of a current_thread runtime: ends when no other task is alive
  // and no blocking call runs or waits, or at `deadline`, whichever first.
  static Task<void> WatchDrain(Scheduler* s,
                               std::chrono::steady_clock::time_point deadline);
  TaskHeader* NextTask(Worker* w);
  TaskHeader* PullFromInject(Worker* w);
  TaskHeader* Search(Worker* w);
  void RunTask(Worker* w, TaskHeader* task);
  // The calling worker claimed `task` to cancel it and holds the queue's
  // reference, which this drops. Destroys the frame, unless the task is
  // suspended in an I/O operation the driver still holds, or waits for
  // children that may borrow from its frame (child_tasks.h): then it asks
  // the driver to end the op, or aborts the children, and leaves the task
  // idle, for the completion to wake it and a later claim to destroy it, so
  // that no worker waits for the kernel, for another worker's ring or for
  // a child polled elsewhere.
  void CancelClaimed(TaskHeader* task);
  // CancelClaimed's look: whether the frame must wait, having asked for the
  // end of what it waits for and registered the task's wake-up.
  bool WaitsToBeCancelled(TaskHeader* task);
  // Polls `task` with the poll hooks and timing (slow polls, the poll-time
  // histogram); RunTask calls it instead of Poll() when any of them is on.
  // `timed`: this poll is one the poll-time histogram samples.
  bool ObservedPoll(Worker* w, TaskHeader* task, bool timed);
  // After a poll the monitor marked slow: counts it and calls on_slow_poll.
  void ReportSlowPoll(Worker* w, const TaskHeader& task);
  // The worker is awake again (after Park, or a current_thread runtime's
  // driver arrived); wakes the monitor if it slept.
  void MarkAwake(Worker* w);
  // The monitor's look at the workers (monitor.h), on its thread: marks
  // polls that ran past slow_poll_threshold for their worker to report, and
  // moves a task that waited kLifoStallAfter in the LIFO slot of a worker
  // stuck in one poll to the inject queue. Returns whether a worker is
  // awake, and whether a task waits in the LIFO slot of a worker inside a
  // poll (the monitor then keeps its fast pace).
  Monitor::Look Scan(Monitor::Clock::time_point now);
  // A searching worker that found a task stops searching.
  void StopSearching(Worker* w);
  // Sleeps until work arrives, in small steps: plan the sleep's deadline
  // and role, sleep, act on why it ended, rejoin the awake workers.
  void Park(Worker* w);
  using Clock = std::chrono::steady_clock;
  struct SleepPlan {
    std::optional<Clock::time_point> until;
    bool watching = false;       // this worker watches timers and I/O
    bool looking_again = false;  // `until` is the timed look beside a peer
    bool trim_due = false;       // `until` is the idle trim's moment
  };
  SleepPlan PlanSleep(Worker* w, bool last_awake);
  void AfterSleep(Worker* w, const SleepPlan& plan, Parker::Woken woken);
  void RejoinAfterSleep(Worker* w, Parker::Woken woken);
  // Returns whether the queue was full, so that `task` and half the queue
  // went to the inject queue.
  bool PushLocal(Worker* w, TaskHeader* task);
  // Back of `w`'s queue for a task `w` would have run anyway: one it just
  // polled (it yielded, or was woken during its own poll), or one displaced
  // from its LIFO slot by a newly scheduled task.
  void Requeue(Worker* w, TaskHeader* task);
  void NotifyParked();
  bool HasWork() const;
  size_t PollIo();

  const RuntimeConfig config_;
  // This runtime's unhandled exceptions; registered for the Scheduler's
  // lifetime, as task cells name it by id.
  const std::shared_ptr<UnhandledSink> sink_;
  const uint32_t sink_id_;
  std::vector<std::unique_ptr<Worker>> workers_;
  InjectQueue inject_;
  TimerDriver timers_;
  // Declared before owned_: the shutdown sweep destroys task frames whose
  // pending I/O operations are cancelled through it.
  std::unique_ptr<IoDriver> io_;
  // Index of the parked worker sleeping until the next timer, or -1.
  // seq_cst: the store-buffering handshake of PlanSleep() and
  // RegisterTimer() with TimerDriver's next deadline.
  std::atomic<int> timer_watcher_{-1};
  Idle idle_;
  OwnedTasks owned_;
  const int cpus_;
  // Whether the monitor may take tasks from LIFO slots: another worker can
  // run them, and HeavyFence() works here (lifo_slot.h).
  const bool lifo_steals_;
  // Null when there is nothing to watch: one worker and no slow-poll
  // threshold.
  std::unique_ptr<Monitor> monitor_;
  std::shared_ptr<BlockingPool> blocking_;
  // seq_cst: read by parking workers inside the store-buffering handshake
  // (Park()); WorkerMain's loop reads it with acquire.
  std::atomic<bool> shutdown_{false};
  // Set by Drain(). relaxed: Drain() reads the work left after setting it
  // with its own orderings; a spawn that misses the flag is waited for.
  std::atomic<bool> draining_{false};
  bool shut_down_ = false;  // only the Runtime owner calls Shutdown()
  // Held by the thread driving a current_thread runtime (DriveUntil).
  Mutex drive_mu_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_SCHEDULER_H_
