#ifndef TIDEPOOL_RUNTIME_RUNTIME_CLASS_H_
#define TIDEPOOL_RUNTIME_RUNTIME_CLASS_H_

// Runtime: a work-stealing executor for Task coroutines plus a pool of
// threads for blocking calls. Builder (runtime/builder.h) makes one;
// runtime/runtime.h includes this header with the rest of the API.
//
//   tidepool::Task<int> Answer() { co_return 42; }
//   int main() {
//     auto rt = tidepool::Builder().worker_threads(2).build();
//     if (!rt.ok()) return 1;
//     return rt->block_on(Answer()) == 42 ? 0 : 1;
//   }
//
// A Runtime is move-only. Its methods may be called from any thread, except
// that block_on() and destruction must not happen inside one of its tasks.
// Destroying it shuts it down: workers stop, every unfinished task is
// destroyed (its JoinHandle reports TaskCancelled), blocking calls that never
// started are cancelled, and running ones get shutdown_timeout to finish.
//
// Every thread a Runtime starts blocks SIGHUP, SIGINT, SIGTERM, SIGUSR1 and
// SIGUSR2, so that they stay pending for Signal (runtime/signal/signal.h);
// with nothing listening, the thread that did not block them (main())
// still takes their default action.
//
// A blocking call still running when shutdown_timeout expires (a straggler)
// is left to finish on its own thread, and the runtime's internals stay
// allocated until it has: whatever it does meanwhile is defined. spawn() and
// spawn_blocking() return a JoinHandle that is already finished with
// TaskCancelled; a send to a task of the runtime finds the receiver gone;
// its own JoinHandle completes with its result.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "alloc/alloc.h"
#include "runtime/handle.h"
#include "runtime/internal/block_on.h"
#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/join_handle.h"
#include "runtime/metrics.h"
#include "runtime/task.h"
#include "runtime/task_info.h"

namespace tidepool {

class Runtime {
 public:
  Runtime(Runtime&&) noexcept = default;
  Runtime& operator=(Runtime&& other) noexcept {
    if (this != &other) {
      Close();
      scheduler_ = std::move(other.scheduler_);
    }
    return *this;
  }
  ~Runtime() { Close(); }

  // Runs `task` on the workers and blocks the calling thread until it
  // finishes; returns its value or rethrows its exception. Not from inside a
  // tidepool task (that would block a worker): throws std::logic_error.
  template <typename T>
  T block_on(Task<T> task) {
    return internal::BlockOn(Checked(), std::move(task), "Runtime::block_on");
  }

  // A copyable reference to this runtime for other threads (handle.h).
  Handle handle() const { return Handle(std::weak_ptr(scheduler_)); }

  // Any thread. Starts `task` on the workers; see JoinHandle.
  template <typename T>
  JoinHandle<T> spawn(Task<T> task) {
    return internal::JoinHandleAccess<T>::Make(
        Checked()->Spawn(std::move(task)));
  }

  // Any thread. Runs f() on a blocking-pool thread; the JoinHandle yields
  // its result or exception.
  template <typename F>
  auto spawn_blocking(F&& f) {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    return internal::JoinHandleAccess<R>::Make(
        Checked()->SpawnBlocking(std::forward<F>(f)));
  }

  // Drains the runtime before it goes: from now on spawn() and
  // spawn_blocking() called from outside the runtime's threads return a
  // JoinHandle already finished with TaskCancelled, while tasks and blocking
  // calls keep spawning as they please; then waits until no task is alive
  // and no blocking call runs or waits. Returns OK then, or
  // DeadlineExceeded (counting what is left) once `timeout` has passed;
  // the work left keeps running either way, until the Runtime is destroyed
  // (shutdown_timeout's hard stop). A server stops its accept loops first
  // (say through a CancellationToken), so that the tasks can end.
  // Not from a thread of this runtime (throws std::logic_error). Costs the
  // caller a sleep of up to 10 ms between looks; the tasks pay nothing.
  //
  //   cancel_accepting.cancel();
  //   absl::Status s = rt.drain(std::chrono::seconds(30));
  absl::Status drain(std::chrono::nanoseconds timeout) {
    return Checked()->Drain(timeout);
  }

  // Shuts down now, waiting at most `timeout` for running blocking calls
  // (threads still running then are detached and reported on stderr).
  void shutdown_timeout(std::chrono::nanoseconds timeout) {
    Checked()->Shutdown(timeout);
  }

  RuntimeMetrics metrics() const { return Checked()->Metrics(); }

  // Every live task of this runtime: id, name, state and, for a task
  // waiting at a co_await, that co_await's "file:line" (task_info.h), in
  // order of id.
  //
  // Any thread, at any time, a task of this runtime included; it reads
  // what each task's bookkeeping says (its state word, name and recorded
  // site) and never touches a coroutine frame, so it is safe against tasks
  // that run, finish or are destroyed meanwhile. It waits for each busy
  // worker to finish its current poll, or up to 61 of them, before it reads
  // that worker's tasks: a worker stuck in one endless poll holds it up (as
  // it holds up everything else on that worker). Do not call it while
  // holding a lock a task may wait for on a worker thread.
  //
  // Cost: it locks each worker's task table and each shard of tasks
  // spawned from outside in turn, and copies one TaskInfo per task; the
  // tasks pay one pointer store per co_await and one at each suspension,
  // whether or not anyone dumps.
  //
  //   for (const tidepool::TaskInfo& t : rt->dump())
  //     if (t.name == "accept-loop") std::cerr << t.location << "\n";
  std::vector<TaskInfo> dump() const { return Checked()->Dump(); }

  // dump() as text (FormatTaskDump in task_info.h): a count line, then one
  // line per task, `task <id> "<name>" <state>[ at <file>:<line>]`.
  std::string dump_text() const { return FormatTaskDump(dump()); }

 private:
  friend class Builder;
  explicit Runtime(std::shared_ptr<internal::Scheduler> scheduler)
      : scheduler_(std::move(scheduler)) {}

  // Shuts down with the configured shutdown_timeout. Stragglers hold their
  // own references to the scheduler, which outlives this Runtime until the
  // last of them ends.
  void Close() {
    if (!scheduler_) return;
    // Shutdown first: until the workers are joined, a task may still call
    // into this Runtime (metrics(), say) and read scheduler_.
    scheduler_->Shutdown();
    scheduler_.reset();
  }

  internal::Scheduler* Checked() const {
    if (!scheduler_)
      throw std::logic_error("tidepool: use of a moved-from Runtime");
    return scheduler_.get();
  }

  std::shared_ptr<internal::Scheduler> scheduler_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_RUNTIME_CLASS_H_
