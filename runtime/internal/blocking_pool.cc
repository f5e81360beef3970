#include "runtime/internal/blocking_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <system_error>
#include <utility>

#include "alloc/alloc.h"
#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/signal_mask.h"
#include "runtime/internal/spin.h"
#include "runtime/internal/thread_state.h"

namespace tidepool::internal {
namespace {

// now + d, saturating: Builder accepts any positive thread_keep_alive.
std::chrono::steady_clock::time_point DeadlineAfter(
    std::chrono::nanoseconds d) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now = Clock::now();
  return d < Clock::time_point::max() - now ? now + d
                                            : Clock::time_point::max();
}

// Handed to an idle thread in place of a call: "take the watch".
// Only its address is used.
alignas(TaskHeader) char watch_marker;
TaskHeader* WatchMarker() {
  return reinterpret_cast<TaskHeader*>(&watch_marker);
}

}  // namespace

BlockingPool::BlockingPool(const RuntimeConfig& config, Scheduler* scheduler)
    : max_threads_(config.max_blocking_threads),
      parallelism_(config.blocking_parallelism.value_or(
          2 * static_cast<size_t>(scheduler->usable_cpus()))),
      keep_alive_(config.thread_keep_alive),
      thread_name_(config.thread_name),
      on_thread_start_(config.on_thread_start),
      on_thread_stop_(config.on_thread_stop),
      trim_(config.allocator.trim),
      scheduler_(scheduler),
      budget_(config.memory_budget == 0
                  ? nullptr
                  : std::make_unique<BudgetAdmission>(
                        config.memory_budget, config.memory_in_use(),
                        static_cast<size_t>(scheduler->usable_cpus()))),
      permits_(config.memory_budget == 0
                   ? nullptr
                   : std::make_unique<BudgetPermits>(
                         config.memory_budget, budget_->Metrics().in_use,
                         static_cast<size_t>(scheduler->usable_cpus()),
                         config.permit_share_eighths)),
      in_use_source_(config.memory_in_use) {}

BlockingPool::Ran BlockingPool::RunOne(TaskHeader* task) {
  Ran ran;
  ran.counted = !task->IsCancelRequested();
  if (!ran.counted) {
    task->CancelNow();
  } else {
    const auto start = std::chrono::steady_clock::now();
    task->Poll();
    ran.took = std::chrono::steady_clock::now() - start;
    // Completing wakes the caller, which often calls spawn_blocking again
    // before this thread is back on the idle stack. Counting it as returning
    // lets that call wait for it instead of starting yet another thread.
    // relaxed: a count; the wake-up in Complete() orders it before that
    // caller's relaxed read in QueueOrStart(); taken back under mu_.
    returning_.fetch_add(1, std::memory_order_relaxed);
    task->Complete();
  }
  task->Unref();
  return ran;
}

void BlockingPool::Spawn(TaskHeader* task) {
  JoinFinished();
  Idler* to_wake = nullptr;
  {
    MutexLock lock(&mu_);
    if (!shutdown_) {
      to_wake = budget_ == nullptr ? Admit(task) : AdmitOrWait(task);
      if (to_wake == nullptr) return;
    }
  }
  if (to_wake == nullptr) {  // after shutdown
    task->CancelNow();
    task->Unref();
    return;
  }
  to_wake->wake.Notify();
}

BlockingPool::Idler* BlockingPool::Dispatch(TaskHeader* task) {
  if (idle_.empty()) {
    QueueOrStart(task);
    return nullptr;
  }
  // No spinner meets a call here: one spins only while every thread idles,
  // so none is being woken, and it is the newest idler until handed a call.
  if (waking_ > 0 && call_ewma_ < kShortCall) {
    // Short calls: a thread finishing its call often takes this one with no
    // wake-up at all, and the pool wakes one thread at a time instead of
    // one per call (class comment).
    waiting_.push_back(task);
    ++chained_handoffs_;
    return nullptr;
  }
  Idler* idler = idle_.back();
  idle_.pop_back();
  // release: pairs with the acquire load in SpinForCall(), which reads it
  // without mu_ (though the spinner retakes mu_ before using the task).
  idler->task.store(task, std::memory_order_release);
  if (idler == spinner_) {
    ++spinning_handoffs_;
    return nullptr;
  }
  ++waking_;
  return idler;
}

BlockingPool::Idler* BlockingPool::AdmitOrWait(TaskHeader* task) {
  if (budget_->TryAdmit(task)) return Admit(task);
  return CallWatcher();
}

BlockingPool::Idler* BlockingPool::Admit(TaskHeader* task) {
  if (PassGate()) return Dispatch(task);
  Hold(task);
  return CallWatcher();
}

void BlockingPool::Hold(TaskHeader* task) {
  // The stall grace counts from the first call held, not from a call that
  // finished before a lull.
  if (held_.empty()) last_progress_ = std::chrono::steady_clock::now();
  held_.push_back(task);
  ++held_total_;
}

void BlockingPool::AdmitForThisThread(TaskHeader* task) {
  if (PassGate()) {
    queue_.push_back(task);
  } else {
    Hold(task);
  }
}

bool BlockingPool::AdmitHeld(size_t newly_blocked) {
  if (held_.empty() || shutdown_) return false;
  const uint64_t admitted_before = held_total_ - held_.size();
  const auto now = std::chrono::steady_clock::now();
  // Calls that all take long finish rarely anyway: the grace grows with
  // them, or the limit would leak a call every kStallGrace.
  const std::chrono::nanoseconds grace =
      std::max<std::chrono::nanoseconds>(kStallGrace, kStallCalls * call_ewma_);
  if (!GateOpen() && now - last_progress_ >= grace) {
    // Counted in flight like any other call, so the gate stays shut until
    // calls finish.
    last_progress_ = now;
    ++stall_admits_;
    StartOldestHeld();
  }
  while (!held_.empty() && !shutdown_ && GateOpen()) StartOldestHeld();
  // Past the gate: until seen blocked in turn, these count as computing,
  // so the gate stays shut by as many; at most as many calls compute beyond
  // `parallelism` as were just seen waiting.
  for (; newly_blocked > 0 && !held_.empty() && !shutdown_; --newly_blocked) {
    ++burst_admits_;
    StartOldestHeld();
  }
  return held_total_ - held_.size() != admitted_before;
}

void BlockingPool::StartOldestHeld() {
  if (Idler* idler = Dispatch(TakeOldestHeld())) {
    // As in Spawn: woken without mu_, which it takes at once.
    MutexUnlock unlock(&mu_);
    idler->wake.Notify();
  }
}

BlockingPool::RunnerSample BlockingPool::SampleRunners() {
  RunnerSample result;
  sample_.clear();
  for (Idler* r : runners_) {
    // relaxed: a hint (Idler::call).
    const uint64_t call = r->call.load(std::memory_order_relaxed);
    if (call != 0 && !r->blocked) sample_.emplace_back(r, call);
  }
  if (sample_.empty()) return result;
  sample_asleep_.resize(sample_.size());
  sampling_ = true;
  {
    // Runners stay listed meanwhile: an ending thread waits for
    // sample_done_ before it leaves runners_ (ThreadMain).
    MutexUnlock unlock(&mu_);
    for (size_t i = 0; i < sample_.size(); ++i) {
      sample_asleep_[i] = ThreadAsleep(sample_[i].first->tid);
    }
  }
  sampling_ = false;
  sample_done_.SignalAll();
  for (size_t i = 0; i < sample_.size(); ++i) {
    Idler* r = sample_[i].first;
    const uint64_t call = sample_[i].second;
    // relaxed: a hint, as above; a call that ended meanwhile is not judged.
    if (r->blocked || r->call.load(std::memory_order_relaxed) != call) {
      continue;
    }
    if (!sample_asleep_[i]) {
      r->asleep_call = 0;
      continue;
    }
    result.seen_asleep = true;
    if (r->asleep_call != call) {
      // Once may be a page fault or a moment on a lock.
      r->asleep_call = call;
    } else {
      r->blocked = true;
      ++blocked_;
      ++blocked_seen_;
      ++result.newly_blocked;
    }
  }
  return result;
}

void BlockingPool::CallFinished(Idler& idler) {
  --in_flight_;
  idler.asleep_call = 0;
  if (idler.blocked) {
    idler.blocked = false;
    --blocked_;
  }
  // Read only while calls are held: Hold() starts the count afresh.
  if (!held_.empty()) last_progress_ = std::chrono::steady_clock::now();
}

void BlockingPool::AfterBudgetedCall() {
  // Queued for this thread, which is about to look for work: behind the
  // calls admitted before it, and without a wake-up.
  if (TaskHeader* next = budget_->Finished()) AdmitForThisThread(next);
  const auto now = BudgetAdmission::Clock::now();
  if (budget_->SampleDue(now)) {
    budget_->BeginSample(now);
    SampleBudget();
    DispatchAdmitted();
  }
  // The last waiting call may have gone, which holds permits back.
  GrantPermits();
}

void BlockingPool::SampleBudget() {
  int64_t in_use;
  std::chrono::nanoseconds took;
  {
    // The source takes microseconds or more (it locks the allocator's
    // arenas) and a trim milliseconds: spawns and finishing threads go on
    // meanwhile.
    MutexUnlock unlock(&mu_);
    const auto start = BudgetAdmission::Clock::now();
    in_use = in_use_source_();
    took = BudgetAdmission::Clock::now() - start;
  }
  budget_->OnSample(in_use, took);
  permits_->OnSample(in_use);
  if (budget_->UnderPressure()) {
    bool trimmed;
    {
      MutexUnlock unlock(&mu_);
      trimmed = alloc::TrimCoalesced(BudgetAdmission::kPressureTrimInterval);
    }
    if (trimmed) budget_->CountTrim();
  }
}

void BlockingPool::DispatchAdmitted() {
  while (!shutdown_) {
    TaskHeader* task = budget_->AdmitWaiting();
    if (task == nullptr) return;
    if (Idler* idler = Admit(task)) {
      // As in Spawn: woken without mu_, which it takes at once.
      MutexUnlock unlock(&mu_);
      idler->wake.Notify();
    }
  }
}

void BlockingPool::GrantPermits() {
  if (!permits_->HasWaiting()) return;
  BudgetPermits::Granted granted;
  permits_->Grant(budget_->HasWaiting(), &granted);
  if (granted.empty()) return;
  // As a WakeList does: a woken task may run at once on another worker and
  // release a permit, which takes mu_.
  MutexUnlock unlock(&mu_);
  for (TaskHeader* task : granted) {
    task->Wake();
    task->Unref();
  }
}

bool BlockingPool::AcquirePermit(PermitWaiter* w, TaskHeader* task) {
  Idler* to_wake = nullptr;
  {
    MutexLock lock(&mu_);
    if (permits_->Acquire(w, task, budget_->HasWaiting())) return true;
    task->Ref();
    // While tasks wait the watcher samples, so that the limit follows
    // memory (and pressure trims run) though no call may be finishing. No
    // thread starts after shutdown; permits given back still grant.
    if (!shutdown_) to_wake = CallWatcher();
  }
  if (to_wake != nullptr) to_wake->wake.Notify();
  return false;
}

void BlockingPool::WithdrawPermit(PermitWaiter* w) {
  TaskHeader* drop;
  {
    MutexLock lock(&mu_);
    drop = permits_->Withdraw(w);
    GrantPermits();
  }
  if (drop != nullptr) drop->Unref();
}

void BlockingPool::ReleasePermit() {
  MutexLock lock(&mu_);
  permits_->Release();
  GrantPermits();
}

BlockingPool::Idler* BlockingPool::CallWatcher() {
  if (watching_) return nullptr;
  if (idle_.empty()) {
    // Every thread runs a call: start one to watch, if the cap allows.
    // Otherwise the next thread to finish a call watches.
    if (active_ < max_threads_ && StartThread(WatchMarker())) watching_ = true;
    return nullptr;
  }
  watching_ = true;
  Idler* idler = idle_.back();
  idle_.pop_back();
  // release: as for a call in Dispatch(); pairs with SpinForCall()'s load.
  idler->task.store(WatchMarker(), std::memory_order_release);
  if (idler == spinner_) return nullptr;
  ++waking_;
  return idler;
}

TaskHeader* BlockingPool::Watch(Idler*& to_wake) {
  watching_ = true;
  if (to_wake != nullptr) {
    MutexUnlock unlock(&mu_);
    std::exchange(to_wake, nullptr)->wake.Notify();
  }
  TaskHeader* task = nullptr;
  // The budget is sampled at its own pace (BudgetAdmission::WatchPeriod),
  // and only while something waits for it; the runners every
  // kParallelismPeriod while calls are held.
  auto next_budget_sample = BudgetAdmission::Clock::now();
  bool recheck = false;
  while (task == nullptr && !shutdown_ && AnyoneWaiting()) {
    const auto now = BudgetAdmission::Clock::now();
    if (budget_ != nullptr &&
        (budget_->HasWaiting() || permits_->HasWaiting()) &&
        now >= next_budget_sample) {
      budget_->BeginSample(now);
      SampleBudget();
      // The first call admitted is this thread's, behind any admitted
      // before it; the rest go to other threads.
      if (TaskHeader* own = budget_->AdmitWaiting()) AdmitForThisThread(own);
      DispatchAdmitted();
      GrantPermits();
      next_budget_sample = now + budget_->WatchPeriod();
    }
    if (!held_.empty()) {
      const RunnerSample sample = SampleRunners();
      const bool admitted = AdmitHeld(sample.newly_blocked);
      recheck = sample.seen_asleep || admitted;
    }
    task = TakeQueued();
    if (task == nullptr && !shutdown_ && AnyoneWaiting()) {
      watch_cv_.WaitFor(&mu_, held_.empty() ? budget_->WatchPeriod()
                              : recheck     ? kParallelismRecheck
                                            : kParallelismPeriod);
    }
  }
  watching_ = false;
  // Leaving with calls or permits still waiting: an idle thread takes the
  // watch over.
  if (!shutdown_ && AnyoneWaiting()) {
    if (Idler* idler = CallWatcher()) {
      MutexUnlock unlock(&mu_);
      idler->wake.Notify();
    }
  }
  return task;
}

BlockingPool::Idler* BlockingPool::WokenWithCall() {
  --waking_;
  // waiting_ holds calls only while a wake-up is in flight, or they would
  // wait for a running call to end, which may be the very call that waits
  // for them: pass them on, each as Spawn would have, until one wakes a
  // thread whose own arrival carries the rest on.
  Idler* to_wake = nullptr;
  while (to_wake == nullptr && waking_ == 0 && !waiting_.empty()) {
    TaskHeader* next = waiting_.front();
    waiting_.pop_front();
    to_wake = Dispatch(next);
  }
  return to_wake;
}

TaskHeader* BlockingPool::TakeQueued() {
  std::deque<TaskHeader*>* from = !queue_.empty()     ? &queue_
                                  : !waiting_.empty() ? &waiting_
                                                      : nullptr;
  if (from == nullptr) return nullptr;
  TaskHeader* task = from->front();
  from->pop_front();
  return task;
}

void BlockingPool::QueueOrStart(TaskHeader* task) {
  // A thread that just finished a call takes queued work before it idles;
  // queue for it rather than start a new thread.
  // relaxed: a count that only picks queueing over a new thread; see
  // RunOne() for the increment this caller must see.
  if (queue_.size() < returning_.load(std::memory_order_relaxed)) {
    queue_.push_back(task);
    return;
  }
  if (active_ < max_threads_ && StartThread(task)) return;
  // At the cap, or the system refused a thread: the call waits for one of
  // the running threads. (With none running it waits for the next
  // spawn_blocking to start one.)
  queue_.push_back(task);
}

bool BlockingPool::StartThread(TaskHeader* task) {
  const size_t index = next_index_++;
  auto self = threads_.emplace(threads_.end());
  // The thread inherits this mask: see signal_mask.h.
  ScopedBlockListenableSignals block;
  try {
    *self = std::thread([pool = shared_from_this(),
                         runtime = scheduler_->shared_from_this(), self, index,
                         task]() mutable {
      pool->ThreadMain(self, index, task, std::move(runtime));
    });
  } catch (const std::system_error&) {
    threads_.erase(self);
    ++spawn_failures_;
    return false;
  }
  ++active_;
  ++spawned_total_;
  return true;
}

void BlockingPool::ThreadMain(ThreadList::iterator self, size_t index,
                              TaskHeader* task,
                              std::shared_ptr<Scheduler> runtime) {
  NameThisThread(thread_name_, 'b', index);
  alloc::BindThread(alloc::ThreadRole::kBlocking);
  Idler idler;
  idler.tid = gettid();
  {
    MutexLock lock(&mu_);
    runners_.push_back(&idler);
  }
  SetCurrentScheduler(scheduler_);
  if (on_thread_start_) on_thread_start_();
  // A thread this one handed a call to, to wake once mu_ is released.
  Idler* to_wake = nullptr;
  // Started to take the watch (CallWatcher) rather than a call.
  if (task == WatchMarker()) task = FirstWatch(idler, to_wake);
  uint64_t calls = 0;
  while (task != nullptr) {
    if (to_wake != nullptr) std::exchange(to_wake, nullptr)->wake.Notify();
    // relaxed, both: a hint to the watcher (Idler::call).
    idler.call.store(++calls, std::memory_order_relaxed);
    const Ran ran = RunOne(task);
    idler.call.store(0, std::memory_order_relaxed);
    task = NextCall(ran, idler, to_wake);
  }
  if (on_thread_stop_) on_thread_stop_();
  SetCurrentScheduler(nullptr);
  // A straggler may hold the last reference: the scheduler is then freed
  // here, while this thread's allocator binding still stands.
  runtime.reset();
  alloc::ThreadExit(alloc::ThreadRole::kBlocking);
  // What this thread's arena or heap held is now free; give it back, but
  // once for a wave of threads expiring together.
  if (trim_.on_thread_exit) {
    alloc::TrimCoalesced(std::chrono::milliseconds(100));
  }
  MutexLock lock(&mu_);
  while (sampling_) sample_done_.Wait(&mu_);
  std::erase(runners_, &idler);
  finished_.splice(finished_.end(), threads_, self);
  thread_finished_.SignalAll();
}

TaskHeader* BlockingPool::NextCall(const Ran& ran, Idler& idler,
                                   Idler*& to_wake) {
  MutexLock lock(&mu_);
  if (ran.counted) {
    // Counted as returning until here, so spawns meanwhile queued for it.
    // relaxed: a count, read only to choose between queueing and starting
    // a thread (QueueOrStart); it publishes no data. Takes back the
    // increment in RunOne().
    returning_.fetch_sub(1, std::memory_order_relaxed);
    call_ewma_ += (ran.took - call_ewma_) / 8;
  }
  CallFinished(idler);
  // The oldest held call is this thread's next, behind what is queued.
  if (!held_.empty() && GateOpen() && !shutdown_) {
    queue_.push_back(TakeOldestHeld());
  }
  if (budget_ != nullptr) AfterBudgetedCall();
  TaskHeader* task = TakeQueued();
  if (!watching_ && !shutdown_ && AnyoneWaiting()) {
    // Calls held or waiting for admission need a watcher: this thread, if
    // it has nothing to run, else an idle or new one.
    if (task == nullptr) {
      task = Watch(to_wake);
    } else {
      to_wake = CallWatcher();
    }
  }
  return task != nullptr ? task : WaitOrExit(idler, to_wake);
}

TaskHeader* BlockingPool::FirstWatch(Idler& idler, Idler*& to_wake) {
  MutexLock lock(&mu_);
  TaskHeader* task = Watch(to_wake);
  return task != nullptr ? task : WaitOrExit(idler, to_wake);
}

TaskHeader* BlockingPool::WaitOrExit(Idler& idler, Idler*& to_wake) {
  TaskHeader* task = nullptr;
  while (task == nullptr && !shutdown_) {
    task = WaitForCall(idler, to_wake);
    if (task == nullptr) break;  // the keep-alive ran out
    // Handed the watch rather than a call.
    if (task == WatchMarker()) task = Watch(to_wake);
  }
  if (task == nullptr) {
    // From here on a spawn may start a replacement thread.
    --active_;
    ++exited_total_;
  }
  return task;
}

TaskHeader* BlockingPool::WaitForCall(Idler& idler, Idler*& to_wake) {
  idle_.push_back(&idler);
  if (ShouldSpin()) SpinForCall(idler);
  // A call is here already only if it came while spinning, without a
  // wake-up to wait for. relaxed, here and below: under mu_, which every
  // giver holds too.
  if (TaskHeader* task =
          idler.task.exchange(nullptr, std::memory_order_relaxed)) {
    return task;
  }
  if (shutdown_) {  // came while spinning; its wake-up is done
    std::erase(idle_, &idler);
    return nullptr;
  }
  SleepForCall(idler);
  if (TaskHeader* task =
          idler.task.exchange(nullptr, std::memory_order_relaxed)) {
    to_wake = WokenWithCall();
    return task;
  }
  // The keep-alive ran out, or shutdown woke us: still on idle_.
  std::erase(idle_, &idler);
  return nullptr;
}

void BlockingPool::SpinForCall(Idler& idler) {
  spinner_ = &idler;
  {
    MutexUnlock unlock(&mu_);
    SpinUntil(kSpinBeforeSleep, [&] {
      // acquire: pairs with the giver's release store in Dispatch(); the
      // task is used only after mu_ is retaken, which orders it as well.
      return idler.task.load(std::memory_order_acquire) != nullptr;
    });
  }
  spinner_ = nullptr;
  // A call handed after the spin gave up, before the lock was taken back,
  // counts as caught: its giver saw a spinner and sent no wake-up either.
  // relaxed: under mu_, which the giver held to store it.
  spin_backoff_.Record(idler.task.load(std::memory_order_relaxed) != nullptr);
}

void BlockingPool::SleepForCall(Idler& idler) {
  const auto deadline = DeadlineAfter(keep_alive_);
  bool woken;
  {
    MutexUnlock unlock(&mu_);
    // About to sleep: release what the allocator holds for this thread
    // (trim.on_blocking_idle) now, not after every call, as a call that
    // comes within the spin needs none of it released. Outside the lock:
    // flushing a thread cache or collecting a heap takes microseconds to
    // milliseconds; a call handed meanwhile finds this thread on idle_, and
    // its wake-up makes the wait below return at once.
    if (trim_.on_blocking_idle) alloc::ThreadIdle(alloc::ThreadRole::kBlocking);
    woken = idler.wake.Wait(deadline);
  }
  // relaxed: under mu_, which the giver held to store it.
  if (!woken && idler.task.load(std::memory_order_relaxed) != nullptr) {
    // A giver unlinked us as the keep-alive ran out; its wake-up must land
    // before the idler (on this thread's stack) may go.
    MutexUnlock unlock(&mu_);
    idler.wake.Wait();
  }
}

bool BlockingPool::ShouldSpin() {
  // Only the last thread to go idle spins: while another call runs, that
  // call's thread may need the CPU more than a spinner would. With one CPU
  // (Scheduler::may_spin) a spinner would hold the CPU the caller needs to
  // make its next call.
  if (!scheduler_->may_spin() || spinner_ != nullptr ||
      active_ != idle_.size()) {
    return false;
  }
  return scheduler_->AnyWorkerParked() && spin_backoff_.ShouldSpin();
}

void BlockingPool::JoinFinished() {
  ThreadList done;
  {
    MutexLock lock(&mu_);
    done.swap(finished_);
  }
  // Each has at most a few instructions of ThreadMain left.
  for (std::thread& t : done) {
    if (t.joinable()) t.join();
  }
}

bool BlockingPool::Shutdown(std::chrono::nanoseconds timeout) {
  std::deque<TaskHeader*> never_started;
  {
    MutexLock lock(&mu_);
    shutdown_ = true;
    never_started.swap(queue_);
    never_started.insert(never_started.end(), waiting_.begin(), waiting_.end());
    waiting_.clear();
    never_started.insert(never_started.end(), held_.begin(), held_.end());
    held_.clear();
    if (budget_ != nullptr) {
      const std::deque<TaskHeader*> held = budget_->TakeWaiting();
      never_started.insert(never_started.end(), held.begin(), held.end());
    }
    watch_cv_.SignalAll();
    // Under mu_: an idler leaves idle_ (and may exit) only under it.
    for (Idler* idler : idle_) idler->wake.Notify();
  }
  for (TaskHeader* task : never_started) {
    task->CancelNow();
    task->Unref();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t stragglers = 0;
  {
    MutexLock lock(&mu_);
    while (!threads_.empty()) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) break;
      thread_finished_.WaitFor(&mu_, left);
    }
    // A straggler keeps its list node (it splices it into finished_ when it
    // ends) and the pool alive through its shared_ptr.
    for (std::thread& t : threads_) t.detach();
    stragglers = threads_.size();
  }
  JoinFinished();
  if (stragglers == 0) return true;
  std::fprintf(stderr,
               "tidepool: %zu blocking thread(s) still running after "
               "shutdown_timeout; detached\n",
               stragglers);
  return false;
}

size_t BlockingPool::Busy() const {
  MutexLock lock(&mu_);
  // A thread neither idle nor watching runs a call (or is on its way to).
  const size_t running = active_ - idle_.size() - (watching_ ? 1 : 0);
  return running + queue_.size() + waiting_.size() + held_.size() +
         (budget_ != nullptr ? budget_->Waiting() : 0);
}

BlockingMetrics BlockingPool::Metrics() const {
  MutexLock lock(&mu_);
  BlockingMetrics m;
  m.threads_alive = active_;
  m.threads_idle = idle_.size();
  m.queue_depth = queue_.size() + waiting_.size() + held_.size();
  m.parallelism = parallelism_;
  m.held_calls = held_total_;
  m.blocked_calls = blocked_seen_;
  m.burst_admits = burst_admits_;
  m.stall_admits = stall_admits_;
  m.threads_spawned = spawned_total_;
  m.threads_exited = exited_total_;
  m.spawn_failures = spawn_failures_;
  m.spinning_handoffs = spinning_handoffs_;
  m.chained_handoffs = chained_handoffs_;
  if (budget_ != nullptr) {
    m.budget = budget_->Metrics();
    permits_->AddMetrics(&m.budget);
  }
  return m;
}

}  // namespace tidepool::internal
