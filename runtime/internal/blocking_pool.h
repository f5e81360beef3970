#ifndef TIDEPOOL_RUNTIME_INTERNAL_BLOCKING_POOL_H_
#define TIDEPOOL_RUNTIME_INTERNAL_BLOCKING_POOL_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alloc/policy.h"
#include "runtime/internal/budget_admission.h"
#include "runtime/internal/budget_permits.h"
#include "runtime/internal/futex.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/runtime_config.h"
#include "runtime/internal/spin.h"
#include "runtime/internal/task_header.h"
#include "runtime/metrics.h"

namespace tidepool::internal {

class Scheduler;

// Threads for blocking calls, created on demand up to max_blocking_threads.
//
// New work goes to the most recently idle thread (a LIFO stack of idle
// threads), so under a steady trickle the same few threads stay busy and the
// surplus really reaches thread_keep_alive and exits. Work beyond the cap
// waits in a FIFO queue.
//
// Handing a call to a sleeping thread costs a wake-up, and so does handing
// the result back to a worker that went to sleep meanwhile; on a VM each is
// tens of microseconds. So the last thread to go idle spins for up to 50 us
// before it sleeps, if the process may use two CPUs or more and a worker is
// asleep (so a CPU is likely free): a caller that awaits its call and calls
// again finds it awake. Spins that find nothing become rarer (1 in 2, 4, ...
// 64 idles) until one finds a call.
//
// Short calls (under kShortCall, as an average of recent ones) are not worth
// a wake-up each: while a woken thread is still on its way, a new call waits
// in line rather than waking a second thread. A thread finishing a call
// takes a waiting one before it idles, with no wake-up at all, and the
// woken thread passes the oldest waiting call on to the next idle thread
// (or starts one) before it runs its own, so normally one wake-up is in
// flight while calls wait. (When the average crosses the threshold, new
// calls wake threads directly and may overtake waiting ones.) Long calls
// never wait this way: each would hold its arguments (a request's payload)
// in flight longer, which raised the main job's peak memory by 5 to 11 MB
// when every call waited (docs/results/history.md).
//
// Calls that compute share the CPUs, so running more of them at once than
// the process has CPUs finishes none sooner; each one in flight holds its
// arguments and working memory, and each thread that runs one keeps
// allocator caches (an arena, a thread cache, a heap). So at most
// `parallelism` calls (RuntimeConfig::blocking_parallelism) go past the
// gate at once, plus one for each running call whose thread is blocked:
// the rest wait in `held_`, in FIFO order, and each call that finishes lets
// the oldest in. While calls are held the watcher (below) samples, every
// kParallelismPeriod, the kernel's state of each thread running a call: a
// thread seen asleep twice in a row (on I/O, a lock, a timer) counts as
// blocked and lets another call in, so calls that wait rather than compute
// still all run at once, as max_blocking_threads allows. It lets one more
// in ahead of the gate, too: the calls held behind a waiting call likely
// wait as well, so a burst of them gets in in steps that grow by
// `parallelism` each (4, 8, 12, 16, ... at the default on 2 CPUs), and at
// most as many calls compute beyond the limit as were just found waiting. A
// thread that wants a CPU but never finishes (a long computation) could hold
// the rest back indefinitely: when no call has finished for kStallGrace, or
// four average calls if longer, one more goes in. With `parallelism` 0 there is
// no gate.
//
// Under a memory budget (RuntimeConfig::memory_budget) new calls pass
// BudgetAdmission first, and those it holds back wait there, in FIFO order,
// before they reach any of the above. They are admitted when a call
// finishes, or by the watcher: one pool thread that, instead of idling
// while calls wait for admission, samples the allocator every
// BudgetAdmission::kWatchPeriod and admits what the budget lets in. A spawn
// that makes a call wait hands the watch to an idle thread when nobody
// holds it. The budget's permits (BudgetPermits) live here too, under the
// same lock and samples: the watcher also runs while tasks wait for one.
// Without a budget this costs one predictable branch in Spawn and one in
// NextCall; the gate costs a few compares per call and, while calls are
// held, a clock read per finished call.
//
// Threads hold a shared_ptr to the pool and to the scheduler: if
// shutdown_timeout expires with calls still running, those threads are
// detached and finish on their own, and whatever they call meets a
// scheduler that is shut down but not freed.
class BlockingPool : public std::enable_shared_from_this<BlockingPool> {
 public:
  BlockingPool(const RuntimeConfig& config, Scheduler* scheduler);

  // Any thread. Takes over the task's queue reference. After shutdown the
  // task is cancelled at once.
  void Spawn(TaskHeader* task);

  // Stops taking work, cancels queued calls that never started, and waits up
  // to `timeout` for running ones. Returns false (after detaching the
  // stragglers and saying so on stderr) when the timeout expired.
  bool Shutdown(std::chrono::nanoseconds timeout);

  BlockingMetrics Metrics() const;
  // Calls running or waiting for a thread. Any thread.
  size_t Busy() const;

  // The memory budget's permits (tidepool::budget_permit), from the thread
  // running `task`; only when HasBudget(). AcquirePermit: true when granted
  // at once; false when `w` waits, holding a reference on `task`, until a
  // grant wakes the task. WithdrawPermit: for the awaiter of a task
  // destroyed while it waited (BudgetPermits::Withdraw). ReleasePermit: any
  // thread.
  bool HasBudget() const { return budget_ != nullptr; }
  bool AcquirePermit(PermitWaiter* w, TaskHeader* task)
      ABSL_LOCKS_EXCLUDED(mu_);
  void WithdrawPermit(PermitWaiter* w) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleasePermit() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One idle thread's slot. A giver unlinks it from idle_ and stores the
  // call under mu_, then wakes it after unlocking, so the woken thread does
  // not block at once on the mu_ its waker still holds. The thread waits
  // for that wake-up before it may run the call, idle again, and
  // eventually exit and destroy this slot.
  //
  // The same record, listed in runners_ for the thread's whole life, is
  // what the watcher samples while calls are held at the gate.
  struct Idler {
    // Written under the pool's mu_, read under it (relaxed) or by the idler
    // spinning without it (release in Dispatch, acquire in SpinForCall).
    std::atomic<TaskHeader*> task{nullptr};
    WakeWord wake;
    pid_t tid = 0;
    // Nonzero while the thread runs a call: a number of its own per call.
    // relaxed: written by the thread around each call, read by the watcher,
    // which only takes a hint from it (a stale read misjudges one call).
    std::atomic<uint64_t> call{0};
    // Which call the watcher last saw asleep; counted in blocked_ once seen
    // asleep twice. Both under mu_.
    uint64_t asleep_call = 0;
    bool blocked = false;
  };
  using ThreadList = std::list<std::thread>;
  struct Ran {
    bool counted = false;  // ran, and counted in returning_; not cancelled
    std::chrono::nanoseconds took{0};
  };
  // What one SampleRunners() found.
  struct RunnerSample {
    bool seen_asleep = false;  // a running call's thread was asleep
    size_t newly_blocked = 0;  // calls counted blocked by this sample
  };

  // Calls shorter than this on average wait for a wake-up in flight rather
  // than wake another thread: about what one wake-up takes on a busy VM.
  static constexpr std::chrono::nanoseconds kShortCall =
      std::chrono::microseconds(20);
  // How often the watcher samples running threads while calls are held at
  // the gate: a few microseconds a thread, against calls that take
  // milliseconds.
  static constexpr std::chrono::nanoseconds kParallelismPeriod =
      std::chrono::milliseconds(1);
  // The next sample's delay after one that found a running thread asleep
  // or after calls were let in: a burst of calls that wait is let in a step
  // per sample, and a thread seen asleep once is confirmed (or not) sooner.
  static constexpr std::chrono::nanoseconds kParallelismRecheck =
      std::chrono::microseconds(200);
  // With calls held and none finishing for this long, or kStallCalls times
  // the average call if that is longer, one more goes in.
  static constexpr std::chrono::nanoseconds kStallGrace =
      std::chrono::milliseconds(10);
  static constexpr int kStallCalls = 4;

  // `runtime` keeps the scheduler alive while this thread may call into it
  // (spawn, spawn_blocking, wake-ups), shut down or not.
  void ThreadMain(ThreadList::iterator self, size_t index, TaskHeader* task,
                  std::shared_ptr<Scheduler> runtime);
  Ran RunOne(TaskHeader* task);
  // After a call: the next one for this thread (queued, or handed to it
  // while it idles for up to keep_alive), or nullptr when the thread is to
  // exit, which it then has left the pool's counts for. `to_wake` returns a
  // thread to wake once no lock is held.
  TaskHeader* NextCall(const Ran& ran, Idler& idler, Idler*& to_wake)
      ABSL_LOCKS_EXCLUDED(mu_);
  // For a thread started to watch (budget only): Watch, then as NextCall.
  TaskHeader* FirstWatch(Idler& idler, Idler*& to_wake)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for a call (or the watch) until keep_alive runs out; nullptr
  // when the thread is to exit, which it then has left the counts for.
  TaskHeader* WaitOrExit(Idler& idler, Idler*& to_wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lists this thread as idle and waits for a call: spins briefly if it is
  // the last to go idle, then sleeps until keep_alive runs out.
  TaskHeader* WaitForCall(Idler& idler, Idler*& to_wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SpinForCall(Idler& idler) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SleepForCall(Idler& idler) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Spawn under a budget: Admit(task) if the budget admits it, else
  // CallWatcher().
  Idler* AdmitOrWait(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The parallelism gate (class comment): Dispatch(task) if it may start
  // now, else holds it and returns CallWatcher().
  Idler* Admit(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // As Admit, for a pool thread about to look for work: a call let in is
  // queued for it, without a wake-up; a held one will find it watching.
  void AdmitForThisThread(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends to held_, starting the stall grace if it was empty.
  void Hold(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool GateOpen() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return parallelism_ == 0 || in_flight_ < parallelism_ + blocked_;
  }
  // Whether a new call may start now: none held before it (FIFO) and the
  // gate open. If so, it is counted in flight.
  bool PassGate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!held_.empty() || !GateOpen()) return false;
    ++in_flight_;
    return true;
  }
  // Takes the oldest held call past the gate, counted in flight.
  TaskHeader* TakeOldestHeld() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++in_flight_;
    TaskHeader* task = held_.front();
    held_.pop_front();
    return task;
  }
  // Lets held calls in while the gate is open, one more for each of
  // `newly_blocked` (calls a sample just found blocked: the held calls
  // behind them likely wait too, so a burst of waiting calls gets in in
  // steps that grow by `parallelism` each, rather than `parallelism` at a
  // time), and one more after the stall grace without a call finishing.
  // Returns whether calls left held_ meanwhile, by this or by threads that
  // took held calls while StartOldestHeld had mu_ released (then the
  // watcher only samples sooner).
  bool AdmitHeld(size_t newly_blocked) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the oldest held call past the gate and dispatches it.
  void StartOldestHeld() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the kernel's state of each thread running a call and not yet
  // counted blocked, without mu_ meanwhile, and counts those seen asleep
  // twice in a row for the same call.
  RunnerSample SampleRunners() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a call, on its thread: takes it out of the gate's counts.
  void CallFinished(Idler& idler) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After an admitted call finished (budget only): admits the next call,
  // queued for this thread, and samples the allocator when due.
  void AfterBudgetedCall() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Samples the in-use bytes without mu_, applies the sample, and trims
  // the allocator under pressure.
  void SampleBudget() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dispatches every waiting call the budget now admits.
  void DispatchAdmitted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Grants the permits BudgetPermits now allows and wakes their tasks, with
  // mu_ released meanwhile.
  void GrantPermits() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls wait at the gate or for admission, or tasks for permits: the
  // watcher's work.
  bool AnyoneWaiting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !held_.empty() || (budget_ != nullptr && (budget_->HasWaiting() ||
                                                     permits_->HasWaiting()));
  }
  // Hands the watch to the newest idle thread, or starts a thread for it
  // when none idles, unless someone holds it or the cap is reached. Returns
  // the thread to wake after mu_ is released.
  Idler* CallWatcher() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Watches while calls wait at the gate or for admission, or tasks for
  // permits: samples running threads every kParallelismPeriod and the
  // budget every kWatchPeriod, admits and grants. Returns a call for this
  // thread, or nullptr once none waits (or at shutdown). Wakes `to_wake`
  // first.
  TaskHeader* Watch(Idler*& to_wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finds `task` a thread: the newest idle one (returned, to be woken after
  // mu_ is released, unless it is the spinner), or a place in waiting_, or
  // QueueOrStart.
  Idler* Dispatch(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For a thread that was woken with a call: passes waiting calls on.
  // Returns a thread to wake after mu_ is released, or nullptr.
  Idler* WokenWithCall() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The oldest call in queue_, else in waiting_, or nullptr.
  TaskHeader* TakeQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For Spawn when no thread idles: queue for a returning thread, or start
  // one, or queue.
  void QueueOrStart(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a thread for `task`, or returns false.
  bool StartThread(TaskHeader* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void JoinFinished() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a thread going idle now spins before it sleeps (class comment).
  bool ShouldSpin() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_threads_;
  const size_t parallelism_;
  const std::chrono::nanoseconds keep_alive_;
  const std::string thread_name_;
  const std::function<void()> on_thread_start_;
  const std::function<void()> on_thread_stop_;
  const alloc::TrimPolicy trim_;
  Scheduler* const scheduler_;

  mutable Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<TaskHeader*> queue_ ABSL_GUARDED_BY(mu_);
  // Short calls waiting for a wake-up in flight; empty unless waking_ > 0.
  std::deque<TaskHeader*> waiting_ ABSL_GUARDED_BY(mu_);
  // Threads handed a call and woken, that have not yet taken mu_ again.
  size_t waking_ ABSL_GUARDED_BY(mu_) = 0;
  // Moving average (1/8 weight) of the calls' run times; starts long, so
  // calls wait behind a wake-up only once short ones have been seen.
  std::chrono::nanoseconds call_ewma_ ABSL_GUARDED_BY(mu_) = kShortCall;
  // Back is the most recently idle thread.
  std::vector<Idler*> idle_ ABSL_GUARDED_BY(mu_);
  // Threads that can still take work (not yet decided to exit).
  size_t active_ ABSL_GUARDED_BY(mu_) = 0;
  // Threads between finishing a call and re-taking mu_; incremented without
  // the lock (see RunOne), decremented under it.
  std::atomic<size_t> returning_{0};
  // Calls past the gate and not yet finished: queued, waiting or running.
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Running calls counted blocked (Idler::blocked).
  size_t blocked_ ABSL_GUARDED_BY(mu_) = 0;
  // Calls held at the gate, oldest first.
  std::deque<TaskHeader*> held_ ABSL_GUARDED_BY(mu_);
  // While calls are held: when the first was held, a call last finished,
  // or the stall rule last let one in, whichever is latest.
  std::chrono::steady_clock::time_point last_progress_ ABSL_GUARDED_BY(mu_);
  // Every thread's record, from its start to its end; the watcher samples
  // them, and an ending thread waits while a sample is under way, as the
  // sample reads its record without mu_.
  std::vector<Idler*> runners_ ABSL_GUARDED_BY(mu_);
  bool sampling_ ABSL_GUARDED_BY(mu_) = false;
  CondVar sample_done_;
  // The sample's scratch space, kept to allocate nothing per sample. Only
  // the thread holding the watch (watching_) uses it, partly without mu_.
  std::vector<std::pair<Idler*, uint64_t>> sample_;
  std::vector<char> sample_asleep_;
  uint64_t held_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t blocked_seen_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t burst_admits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t stall_admits_ ABSL_GUARDED_BY(mu_) = 0;
  // Threads not yet joined, and those that returned from their loop.
  ThreadList threads_ ABSL_GUARDED_BY(mu_);
  ThreadList finished_ ABSL_GUARDED_BY(mu_);
  CondVar thread_finished_;
  size_t next_index_ ABSL_GUARDED_BY(mu_) = 0;
  // The one idler spinning, if any: a giver handing it a call skips the
  // wake-up, as it polls `task`.
  Idler* spinner_ ABSL_GUARDED_BY(mu_) = nullptr;
  SpinBackoff spin_backoff_ ABSL_GUARDED_BY(mu_);
  // The memory budget's admission of calls and its permits; both null
  // without a budget.
  const std::unique_ptr<BudgetAdmission> budget_ ABSL_PT_GUARDED_BY(mu_);
  const std::unique_ptr<BudgetPermits> permits_ ABSL_PT_GUARDED_BY(mu_);
  // What the budget samples; called without mu_.
  const std::function<int64_t()> in_use_source_;
  // A thread watches for the budget, or has been handed the watch.
  bool watching_ ABSL_GUARDED_BY(mu_) = false;
  // The watcher sleeps on it between samples; shutdown signals it.
  CondVar watch_cv_;
  uint64_t spawned_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t exited_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t spawn_failures_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t spinning_handoffs_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t chained_handoffs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_BLOCKING_POOL_H_
