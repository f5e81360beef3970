#include "runtime/internal/scheduler.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alloc/alloc.h"
#include "runtime/internal/asymmetric_fence.h"
#include "runtime/internal/child_tasks.h"
#include "runtime/internal/context.h"
#include "runtime/internal/cpus.h"
#include "runtime/internal/lifo_slot.h"
#include "runtime/internal/local_queue.h"
#include "runtime/internal/monitor.h"
#include "runtime/internal/outside_wakes.h"
#include "runtime/internal/parker.h"
#include "runtime/internal/poll_timer.h"
#include "runtime/internal/task_names.h"
#include "runtime/time/sleep.h"

namespace tidepool::internal {
namespace {

// A task woken by the task running before it goes into the LIFO slot and
// runs next (message passing stays in cache), but at most this many times in
// a row, so two tasks waking each other cannot starve the queue.
constexpr uint32_t kMaxLifoStreak = 3;
// Every this many ticks a worker looks at the inject queue before its own,
// so remote spawns are not starved by a busy local queue.
constexpr uint32_t kGlobalQueueInterval = 61;
// How long a worker that parked while a peer was counted awake sleeps
// before it looks at the queues again (Park): first the minimum, doubling
// after each timed look until a producer's wake-up resets it, so that many
// workers idling beside one busy peer do not wake a hundred times a second
// each.
constexpr std::chrono::milliseconds kLookAgainMin{10};
constexpr std::chrono::milliseconds kLookAgainMax{160};
// How long a task may wait in the LIFO slot of a worker stuck in one poll
// before the monitor moves it where another worker can run it, and how
// often the monitor looks while such a task waits (its fast pace): a child
// then starts within about 250 to 500 us of its spawn, whatever its
// parent's poll does. Otherwise the monitor looks every kMonitorRelaxed,
// or 1/20 of the slow-poll threshold if that is shorter, so that a slow
// poll is reported within two such periods past the threshold
// (slow_poll.h).
constexpr std::chrono::microseconds kMonitorFast{250};
constexpr std::chrono::microseconds kLifoStallAfter{250};
constexpr std::chrono::milliseconds kMonitorRelaxed{5};
// How long the monitor goes on looking once every worker sleeps (monitor.h).
constexpr std::chrono::milliseconds kMonitorLinger{20};

TaskMeta MetaOf(const TaskHeader& task) {
  return TaskMeta{task.id(), TaskName(task)};
}

// Calls a hook or handler of the Builder's; one that throws is reported
// and survived, as the worker must go on.
template <typename F, typename Arg>
void CallHandler(const F& f, const Arg& arg, const char* setting) noexcept {
  try {
    f(arg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tidepool: %s threw: %s\n", setting, e.what());
  } catch (...) {
    std::fprintf(stderr, "tidepool: %s threw\n", setting);
  }
}

}  // namespace

struct Scheduler::Worker {
  Worker(Scheduler* owner, size_t index, const RuntimeConfig& config)
      : owner(owner),
        index(index),
        poll_hooks(config.on_before_task_poll || config.on_after_task_poll),
        poll_timer(config.slow_poll_threshold.count() > 0),
        rng(0x9E3779B97F4A7C15ull * (index + 1)) {}

  Scheduler* const owner;
  const size_t index;
  // Whether a poll hook is set. Here rather than in the Scheduler, so that
  // RunTask's branch reads a line this worker owns.
  const bool poll_hooks;
  LocalQueue queue;
  // Put and taken by the owner; the monitor may take its task (lifo_slot.h).
  LifoSlot lifo;
  Parker parker;
  std::thread thread;
  // Owner thread times; any thread reads its counters.
  PollTimer poll_timer;

  // Owner thread only.
  bool searching = false;
  uint32_t tick = 0;
  uint32_t lifo_streak = 0;
  uint64_t rng;
  // Whether work ran since this worker's last idle trim.
  bool trim_armed = true;
  // Park's timed look beside an awake peer.
  std::chrono::milliseconds look_again = kLookAgainMin;

  // Odd while a poll runs: raised by one before each poll and after it, by
  // the owner; read by the monitor to tell a poll that goes on from one that
  // ended, and by Metrics() (polls run: half of it, rounded up). relaxed:
  // one writer, and the readers act on its value alone.
  std::atomic<uint64_t> poll_seq{0};
  // The poll_seq of a poll the monitor found slow, and when the monitor
  // first saw that poll (steady clock, ns). Written by the monitor
  // (started first, then seq with release), read by the owner after each
  // poll (seq with acquire, pairing with that release).
  std::atomic<uint64_t> slow_poll_seq{0};
  std::atomic<int64_t> slow_poll_seen_ns{0};

  // Written by the owner (lifo_steals by the monitor), read by Metrics();
  // relaxed: plain statistics, with one writer each (Count), so a load and
  // a store need no RMW.
  std::atomic<uint64_t> steals{0};
  std::atomic<uint64_t> parks{0};
  std::atomic<uint64_t> spin_wakeups{0};
  std::atomic<uint64_t> lifo_steals{0};
  // Set around the sleep in Park(), and while nobody drives a
  // current_thread runtime. Cleared with seq_cst before Monitor::Wake()
  // (pairs with the monitor's seq_cst load in Scan()); otherwise relaxed,
  // a snapshot for Metrics() and the monitor.
  std::atomic<bool> parked{false};

  // The monitor thread's own view of this worker (Scan()).
  struct MonitorView {
    uint64_t poll_seq = 0;
    Monitor::Clock::time_point poll_seen;  // when poll_seq last changed
    bool slow_marked = false;
    const void* lifo = nullptr;
    Monitor::Clock::time_point lifo_seen;  // when `lifo` last changed
  } view;

  uint64_t NextRandom() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }
  static void Count(std::atomic<uint64_t>& counter) {
    // relaxed: see the counters above.
    counter.store(counter.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  }
};

namespace {
thread_local Scheduler::Worker* tls_worker = nullptr;
}  // namespace

Scheduler::Scheduler(RuntimeConfig config, std::unique_ptr<IoDriver> io)
    : config_(std::move(config)),
      sink_(std::make_shared<UnhandledSink>(config_.on_unhandled_exception)),
      sink_id_(RegisterUnhandledSink(sink_)),
      io_(std::move(io)),
      idle_(config_.worker_threads),
      owned_(config_.worker_threads),
      cpus_(UsableCpus()),
      lifo_steals_(config_.worker_threads > 1 && !config_.current_thread &&
                   HeavyFenceAvailable()),
      blocking_(std::make_shared<BlockingPool>(config_, this)) {
  workers_.reserve(config_.worker_threads);
  for (size_t i = 0; i < config_.worker_threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(this, i, config_));
    // Nobody drives a current_thread runtime yet.
    if (config_.current_thread) {
      workers_.back()->parked.store(true, std::memory_order_relaxed);
    }
  }
  if (lifo_steals_ || config_.slow_poll_threshold.count() > 0) {
    std::chrono::nanoseconds relaxed = kMonitorRelaxed;
    if (config_.slow_poll_threshold.count() > 0) {
      relaxed = std::min(relaxed, config_.slow_poll_threshold / 20);
    }
    monitor_ = std::make_unique<Monitor>(
        kMonitorFast, relaxed, kMonitorLinger, /*hurried=*/lifo_steals_,
        [this](Monitor::Clock::time_point now) { return Scan(now); });
  }
}

Scheduler::~Scheduler() {
  Shutdown(config_.shutdown_timeout);
  UnregisterUnhandledSink(sink_id_);
}

absl::Status Scheduler::Start() {
  if (monitor_) {
    if (absl::Status s = monitor_->Start(config_.thread_name); !s.ok()) {
      return s;
    }
  }
  if (config_.current_thread) return absl::OkStatus();
  for (auto& w : workers_) {
    try {
      w->thread = std::thread([this, w = w.get()] { WorkerMain(w); });
    } catch (const std::system_error& e) {
      Shutdown(config_.shutdown_timeout);
      return absl::ResourceExhaustedError(
          absl::StrCat("tidepool: could not start worker thread ", w->index,
                       " of worker_threads=", workers_.size(), ": ", e.what()));
    }
  }
  return absl::OkStatus();
}

void Scheduler::Shutdown(std::chrono::nanoseconds blocking_timeout) {
  if (shut_down_) return;
  shut_down_ = true;
  if (OnWorkerThread()) {
    std::fprintf(stderr,
                 "tidepool: a Runtime was shut down from one of its own "
                 "worker threads\n");
    std::abort();
  }
  // No task leaves a LIFO slot behind the shutdown sweep's back.
  if (monitor_) monitor_->Stop();
  // seq_cst: read in Park()'s store-buffering look (pairs with its load
  // after the fence); the Unpark() tokens below, never lost, would do alone.
  shutdown_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) w->parker.Unpark();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  // A thread still driving a current_thread runtime sees shutdown_ and
  // stops; the sweep below must not start before it has.
  { MutexLock driver(&drive_mu_); }
  // No task runs any more: drop queue references, then destroy the tasks.
  inject_.CloseAndDrain();
  for (auto& w : workers_) {
    if (TaskHeader* t = w->lifo.Take()) t->Unref();
    while (TaskHeader* t = w->queue.Pop()) t->Unref();
  }
  owned_.CloseAndCancelAll();
  blocking_->Shutdown(blocking_timeout);
  // Every task is complete, so no wake from now on schedules one; a wake
  // from another thread that found one alive before may still be queueing
  // it, and this runtime may be freed as soon as Shutdown returns.
  WaitForOutsideWakes();
}

bool Scheduler::RefusesOutsideWork() const {
  return draining_.load(std::memory_order_relaxed) &&
         CurrentScheduler() != this;
}

absl::Status Scheduler::Drain(std::chrono::nanoseconds timeout) {
  if (CurrentScheduler() == this) {
    throw std::logic_error(
        "tidepool: Runtime::drain called from one of the runtime's threads");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (config_.current_thread) {
    // Nothing runs a current_thread runtime's tasks unless a thread drives
    // it: the caller does, with a task that ends when the work is done or
    // the time is up (spawned before draining_ refuses outside work).
    JoinState<void>* watch = Spawn(WatchDrain(this, deadline));
    draining_.store(true, std::memory_order_relaxed);
    DriveUntil([watch] { return watch->IsComplete(); });
    watch->DropHandle();
  }
  draining_.store(true, std::memory_order_relaxed);
  // Polls with a growing pause: a drain waits for requests to finish, so
  // a few milliseconds of lag cost nothing and the running work pays no
  // bookkeeping for a waiter.
  auto pause = std::chrono::microseconds(100);
  while (true) {
    const size_t tasks = owned_.Alive();
    const size_t calls = blocking_->Busy();
    if (tasks == 0 && calls == 0) return absl::OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "tidepool: drain timed out with ", tasks, " tasks alive and ", calls,
          " blocking calls running or queued"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(2 * pause, std::chrono::microseconds(10'000));
  }
}

bool Scheduler::IsWorkerOf(const Scheduler* s) {
  return tls_worker != nullptr && tls_worker->owner == s;
}

int Scheduler::CurrentWorker() const {
  return OnWorkerThread() ? static_cast<int>(tls_worker->index)
                          : OwnedTasks::kNotAWorker;
}

void Scheduler::Submit(TaskHeader* task) {
  task->state().SetScheduledUnshared();
  if (!owned_.Insert(task, CurrentWorker())) {  // shutting down: never runs
    Refuse(task);
    return;
  }
  Schedule(task);
}

void Scheduler::Schedule(TaskHeader* task) {
  Worker* w = tls_worker;
  if (w == nullptr || w->owner != this) {
    // Closed: the queue drops the reference; the shutdown sweep destroys
    // the task.
    inject_.Push(task);
    NotifyParked();
    return;
  }
  TaskHeader* displaced = w->lifo.Put(task);
  // A task put in the slot inside a poll waits for that poll to end, which
  // only the monitor's fast pace watches. The put's store, LightFence(),
  // then Hurry()'s load: pairs with the monitor's HeavyFence() after it
  // announces its relaxed pace (monitor.h). relaxed load of poll_seq: this
  // worker's own counter.
  if (lifo_steals_ && w->poll_seq.load(std::memory_order_relaxed) % 2 == 1) {
    LightFence();
    monitor_->Hurry();
  }
  // Work in the LIFO slot is for this worker (the monitor moves it only when
  // the worker is stuck), so waking a peer for it is useless. The displaced
  // task (spawned or woken earlier) was this worker's to run already: pushing
  // it is a requeue, which checks for sleepers only when it makes the queue
  // stealable. This worker may be inside Park (reaping I/O completions, taking
  // back returned tasks) and counted as parked; it runs what it queued as soon
  // as Park returns.
  if (displaced != nullptr) Requeue(w, displaced);
}

void Scheduler::Requeue(Worker* w, TaskHeader* task) {
  // The task was this worker's, which stays awake, so requeueing it adds no
  // work for a peer unless it makes the queue stealable: only the push onto
  // an empty queue runs the wake-up check and its fence. A peer that parked
  // while the queue looked empty is woken by that check. One that raced a
  // push onto a non-empty queue (a thief emptied it as we looked) is caught
  // by the check every fair tick in NextTask, or, if this worker is stuck
  // in a task that never returns, by the sleeper's timed look (Park).
  const bool was_empty = w->queue.Size() == 0;
  // Overflowing into the inject queue publishes work too.
  if (PushLocal(w, task) || was_empty) NotifyParked();
}

bool Scheduler::PushLocal(Worker* w, TaskHeader* task) {
  if (w->queue.TryPush(task)) return false;
  // Full: move the older half of the queue to the inject queue, where any
  // worker can take it, and this task, the newest, behind it.
  std::array<TaskHeader*, LocalQueue::kCapacity / 2> batch;
  const size_t n = w->queue.PopBatch(batch.data(), batch.size());
  // Linked from the back, so the list ends at `task`.
  TaskHeader* first = task;
  for (size_t i = n; i-- > 0;) {
    batch[i]->set_queue_next(first);
    first = batch[i];
  }
  inject_.PushBatch(first, task, n + 1);
  return true;
}

void Scheduler::NotifyParked() {
  if (auto worker = idle_.WorkerToNotify()) workers_[*worker]->parker.Unpark();
}

bool Scheduler::HasWork() const {
  if (inject_.Size() > 0) return true;
  for (const auto& w : workers_) {
    if (w->queue.Size() > 0) return true;
  }
  return false;
}

void Scheduler::WorkerMain(Worker* w) {
  NameThisThread(config_.thread_name, 'w', w->index);
  alloc::BindThread(alloc::ThreadRole::kWorker);
  tls_worker = w;
  SetCurrentScheduler(this);
  io_->AttachWorker(w->index);
  // Held for the whole run, hooks included (they may spawn): see OwnedTasks.
  owned_.LockTable(static_cast<int>(w->index));
  if (config_.on_thread_start) config_.on_thread_start();
  // acquire: pairs with the store in Shutdown(), though nothing read after
  // depends on it; the Unpark() token that follows that store wakes us.
  while (!shutdown_.load(std::memory_order_acquire)) Turn(w);
  if (config_.on_thread_stop) config_.on_thread_stop();
  owned_.UnlockTable(static_cast<int>(w->index));
  io_->DetachWorker();
  SetCurrentScheduler(nullptr);
  tls_worker = nullptr;
  alloc::ThreadExit(alloc::ThreadRole::kWorker);
}

void Scheduler::Turn(Worker* w) {
  TaskHeader* task = NextTask(w);
  if (task == nullptr) {
    // Timers that fired put their tasks in this worker's queues.
    if (timers_.FireDue() > 0 || PollIo() > 0) return;
    task = Search(w);
  }
  if (task != nullptr) {
    RunTask(w, task);
    io_->Flush(/*more_local_work=*/!w->lifo.empty() || w->queue.Size() > 0);
    return;
  }
  Park(w);
}

void Scheduler::DriveUntil(absl::FunctionRef<bool()> done) {
  MutexLock driver(&drive_mu_);
  Worker* const w = workers_.front().get();
  Scheduler* const outer = CurrentScheduler();
  tls_worker = w;
  SetCurrentScheduler(this);
  owned_.LockTable(static_cast<int>(w->index));
  MarkAwake(w);
  // acquire: as in WorkerMain(); Shutdown() unparks us after its store.
  while (!done() && !shutdown_.load(std::memory_order_acquire)) Turn(w);
  // relaxed: see Worker::parked.
  w->parked.store(true, std::memory_order_relaxed);
  owned_.UnlockTable(static_cast<int>(w->index));
  SetCurrentScheduler(outer);
  tls_worker = nullptr;
}

Task<void> Scheduler::WatchDrain(Scheduler* s, Clock::time_point deadline) {
  auto pause = std::chrono::microseconds(100);
  // This task is one of the alive ones.
  while ((s->owned_.Alive() > 1 || s->blocking_->Busy() > 0) &&
         Clock::now() < deadline) {
    co_await tidepool::sleep(
        std::min<Clock::duration>(pause, deadline - Clock::now()));
    pause = std::min(2 * pause, std::chrono::microseconds(10'000));
  }
}

TaskHeader* Scheduler::NextTask(Worker* w) {
  ++w->tick;
  const bool fair_tick = w->tick % kGlobalQueueInterval == 0;
  // A busy runtime fires timers here, as no worker parks. Before the LIFO
  // check: a fired timer's task may land in the LIFO slot.
  if (fair_tick) {
    timers_.FireDue();
    PollIo();
    owned_.DrainReturned(static_cast<int>(w->index));
    owned_.YieldTableToReaders(static_cast<int>(w->index));
    // Requeue() skips the wake-up check on a non-empty queue; this bounds
    // how long queued work a peer could take waits for it.
    if (w->queue.Size() > 1) NotifyParked();
  }
  if (TaskHeader* t = w->lifo.Take()) {
    if (w->lifo_streak < kMaxLifoStreak) {
      ++w->lifo_streak;
      return t;
    }
    // Popped back at once below, unless the queue was full and half of it
    // went to the inject queue, which peers should know about.
    if (PushLocal(w, t)) NotifyParked();
  }
  w->lifo_streak = 0;
  if (fair_tick) {
    if (TaskHeader* t = inject_.Pop()) return t;
  }
  if (TaskHeader* t = w->queue.Pop()) return t;
  return PullFromInject(w);
}

size_t Scheduler::PollIo() {
  // A runtime without sockets in use pays next to nothing here (each
  // driver's Poll looks at its in-flight count first).
  return io_->Poll();
}

TaskHeader* Scheduler::PullFromInject(Worker* w) {
  // Take a fair share, so one worker does not drain a burst of remote spawns
  // while the others sleep, and keep room for local spawns.
  std::array<TaskHeader*, LocalQueue::kCapacity / 2> batch;
  size_t want = inject_.Size() / workers_.size() + 1;
  if (want > batch.size()) want = batch.size();
  const size_t room = LocalQueue::kCapacity - w->queue.Size();
  if (want > room + 1) want = room + 1;
  const size_t n = inject_.PopBatch(batch.data(), want);
  if (n == 0) return nullptr;
  for (size_t i = 1; i < n; ++i) PushLocal(w, batch[i]);
  return batch[0];
}

TaskHeader* Scheduler::Search(Worker* w) {
  if (!w->searching) {
    if (!idle_.TransitionWorkerToSearching()) return nullptr;
    w->searching = true;
  }
  const size_t n = workers_.size();
  const size_t start = w->NextRandom() % n;
  for (size_t i = 0; i < n; ++i) {
    Worker* victim = workers_[(start + i) % n].get();
    if (victim == w) continue;
    if (TaskHeader* t = victim->queue.StealInto(w->queue)) {
      w->Count(w->steals);
      return t;
    }
  }
  return PullFromInject(w);
}

void Scheduler::RunTask(Worker* w, TaskHeader* task) {
  StopSearching(w);
  w->trim_armed = true;
  // Every path ends with the queue's reference dropped or handed on.
  switch (task->state().TransitionToRunning()) {
    case TaskState::Claim::kNotOurs:
      task->Unref();
      return;
    case TaskState::Claim::kCancel:
      CancelClaimed(task);
      return;
    case TaskState::Claim::kPoll:
      break;
  }
  // What this task was suspended in is over once the task is polled.
  task->clear_in_flight();
  SetCurrentTask(task);
  // relaxed: see poll_seq; odd from here to the end of the poll.
  const uint64_t seq = w->poll_seq.load(std::memory_order_relaxed) + 1;
  w->poll_seq.store(seq, std::memory_order_relaxed);
  const bool sampled = w->poll_timer.ShouldSample();
  const bool done =
      w->poll_hooks || sampled ? ObservedPoll(w, task, sampled) : task->Poll();
  w->poll_seq.store(seq + 1, std::memory_order_relaxed);
  SetCurrentTask(nullptr);
  // acquire: pairs with the monitor's release store in Scan(), so the time
  // it stored first is visible.
  if (w->slow_poll_seq.load(std::memory_order_acquire) == seq) {
    ReportSlowPoll(w, *task);
  }
  if (done) {
    task->Complete(/*caller_refs=*/1);
    return;
  }
  switch (task->state().TransitionToIdle(TakeYieldRequest())) {
    case TaskState::AfterPoll::kIdle:
      task->Unref();
      return;
    case TaskState::AfterPoll::kRequeue:
      Requeue(w, task);
      return;
    case TaskState::AfterPoll::kCancel:
      CancelClaimed(task);
      return;
  }
}

void Scheduler::CancelClaimed(TaskHeader* task) {
  while (WaitsToBeCancelled(task)) {
    if (task->state().TransitionToIdleCancelled()) {
      // The op's waker reference, or the child's join registration, keeps
      // the task alive until that completion schedules it again.
      task->Unref();
      return;
    }
    // Woken since the claim: by the completion, or by something else while
    // the op or a child is still in flight. Look again.
  }
  task->CancelNow();
  task->Unref();
}

bool Scheduler::WaitsToBeCancelled(TaskHeader* task) {
  if (ChildTasks* children = task->in_flight_children()) {
    return children->AbortAndWatch(task);
  }
  IoOp* op = task->in_flight_op();
  if (op == nullptr) return false;
  // acquire: pairs with the driver's release of done, after which it never
  // touches the op again.
  if (op->done.load(std::memory_order_acquire)) return false;
  if (!op->cancel_requested) {
    op->cancel_requested = true;
    io_->RequestCancel(op);
  }
  return true;
}

bool Scheduler::ObservedPoll(Worker* w, TaskHeader* task, bool timed) {
  if (config_.on_before_task_poll) {
    CallHandler(config_.on_before_task_poll, MetaOf(*task),
                "on_before_task_poll");
  }
  const Clock::time_point start = timed ? Clock::now() : Clock::time_point();
  const bool done = task->Poll();
  if (timed) w->poll_timer.Record(Clock::now() - start);
  if (config_.on_after_task_poll) {
    CallHandler(config_.on_after_task_poll, MetaOf(*task),
                "on_after_task_poll");
  }
  return done;
}

void Scheduler::ReportSlowPoll(Worker* w, const TaskHeader& task) {
  w->poll_timer.CountSlowPoll();
  // relaxed: ordered by the acquire load of slow_poll_seq in RunTask().
  const std::chrono::nanoseconds seen(
      w->slow_poll_seen_ns.load(std::memory_order_relaxed));
  const std::chrono::nanoseconds ran = Clock::now().time_since_epoch() - seen;
  CallHandler(
      config_.on_slow_poll,
      SlowPoll{MetaOf(task), ran, config_.slow_poll_threshold, w->index},
      "on_slow_poll");
}

void Scheduler::SpawnHook(const TaskHeader& task) const {
  CallHandler(config_.on_task_spawn, MetaOf(task), "on_task_spawn");
}

void Scheduler::TerminateHook(const TaskHeader& task) const {
  CallHandler(config_.on_task_terminate, MetaOf(task), "on_task_terminate");
}

void Scheduler::StopSearching(Worker* w) {
  if (!w->searching) return;
  w->searching = false;
  // The last searcher found work: there may be more, so wake a peer to look
  // (it parks again at once if there is none).
  if (idle_.TransitionWorkerFromSearching()) NotifyParked();
}

void Scheduler::Park(Worker* w) {
  // Cells of this worker's tasks that finished elsewhere are not held
  // through a sleep. Freeing one destroys a result nobody collected, whose
  // destructor may wake a task into this worker's LIFO slot or queue (a
  // Sender dropped): run it rather than sleep on it, as no peer can steal
  // from the LIFO slot.
  owned_.DrainReturned(static_cast<int>(w->index));
  if (!w->lifo.empty() || w->queue.Size() > 0) return;
  const bool last_awake =
      idle_.TransitionWorkerToParked(w->index, w->searching);
  w->searching = false;
  // Store-buffering handshake with producers (see idle.h): look once more
  // after announcing ourselves as a sleeper. seq_cst: pairs with the fence
  // in Idle::WorkerToNotify() after a producer's push; HasWork()'s loads
  // and shutdown_'s then see any work whose producer missed us.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if ((HasWork() || shutdown_.load(std::memory_order_seq_cst)) &&
      idle_.UnparkSelf(w->index)) {
    w->searching = true;
    return;
  }
  w->Count(w->parks);
  const SleepPlan plan = PlanSleep(w, last_awake);
  // The last worker to fall asleep spins briefly first, watching the I/O
  // it would sleep in where that can be watched (its own ring, the epoll
  // set: IoWaiter::SpinsBeforeWait). Its next work then likely
  // comes from outside the workers (a blocking call's result, a block_on
  // caller's next task) and soon. A worker that parks while a peer runs does
  // not: a quick wake-up there only makes the two fight over the peer's
  // queue.
  w->parked.store(true, std::memory_order_relaxed);
  // A parked worker leaves its table to readers (Runtime::dump()).
  owned_.UnlockTable(static_cast<int>(w->index));
  const Parker::Woken woken =
      w->parker.ParkUntil(plan.until, io_->ParkTarget(w->index, plan.watching),
                          /*spin=*/may_spin() && last_awake);
  owned_.LockTable(static_cast<int>(w->index));
  if (w->parker.spun_to_signal()) w->Count(w->spin_wakeups);
  // seq_cst: as the watcher CAS in PlanSleep(); from here RegisterTimer()
  // interrupts nobody, and this worker fires due timers as it runs.
  if (plan.watching) timer_watcher_.store(-1, std::memory_order_seq_cst);
  AfterSleep(w, plan, woken);
  RejoinAfterSleep(w, woken);
  MarkAwake(w);
}

void Scheduler::MarkAwake(Worker* w) {
  // seq_cst: before Wake()'s load (store buffering); pairs with the
  // monitor's store of its sleep and its loads in Scan().
  w->parked.store(false, std::memory_order_seq_cst);
  if (monitor_) monitor_->Wake();
}

Monitor::Look Scheduler::Scan(Monitor::Clock::time_point now) {
  Monitor::Look look;
  for (auto& wp : workers_) {
    Worker* w = wp.get();
    // seq_cst: pairs with the store in MarkAwake() (see Monitor::Wake).
    if (!w->parked.load(std::memory_order_seq_cst)) look.awake = true;
    Worker::MonitorView& v = w->view;
    // relaxed: see poll_seq. In the second look of the monitor's move to
    // its relaxed pace, this load and the slot's Peek() follow the
    // monitor's HeavyFence(), which pairs with the LightFence() in
    // Schedule() (Monitor::Hurry()).
    const uint64_t seq = w->poll_seq.load(std::memory_order_relaxed);
    const bool new_poll = seq != v.poll_seq;
    if (new_poll) {
      v.poll_seq = seq;
      v.poll_seen = now;
      v.slow_marked = false;
    }
    const bool in_poll = seq % 2 == 1;
    const auto threshold = config_.slow_poll_threshold;
    if (in_poll && !v.slow_marked && threshold.count() > 0 &&
        now - v.poll_seen >= threshold) {
      v.slow_marked = true;
      // relaxed, then release: see slow_poll_seq.
      w->slow_poll_seen_ns.store(
          std::chrono::nanoseconds(v.poll_seen.time_since_epoch()).count(),
          std::memory_order_relaxed);
      w->slow_poll_seq.store(seq, std::memory_order_release);
    }
    if (!lifo_steals_) continue;
    // Within one poll, the same address in the slot is the same task: the
    // worker takes from its slot only between polls, and a task it
    // displaces is queued, so still alive. Across polls the address may
    // have been freed and reused, so a new poll starts the wait afresh.
    const void* lifo = w->lifo.Peek();
    // A task in the slot of a worker inside a poll: the monitor looks again
    // at the fast pace until it is taken or the poll ends.
    if (lifo != nullptr && in_poll) look.watching = true;
    if (new_poll || lifo != v.lifo) {
      v.lifo = lifo;
      v.lifo_seen = now;
      continue;
    }
    // The same task has waited in the slot since lifo_seen, all through
    // one poll: the worker will not take it before that poll ends, which
    // may be never.
    if (lifo == nullptr || !in_poll || now - v.lifo_seen < kLifoStallAfter) {
      continue;
    }
    if (TaskHeader* task = w->lifo.Steal(lifo)) {
      Worker::Count(w->lifo_steals);
      // Once run elsewhere it may end and its address serve a new task.
      v.lifo = nullptr;
      inject_.Push(task);
      NotifyParked();
    }
  }
  return look;
}

Scheduler::SleepPlan Scheduler::PlanSleep(Worker* w, bool last_awake) {
  SleepPlan plan;
  // One parked worker at a time watches the timers and the I/O driver: it
  // sleeps in the driver until a completion or the earliest deadline, and
  // RegisterTimer() interrupts it when an earlier one arrives. seq_cst:
  // publishing ourselves as watcher and then reading the deadline pairs with
  // RegisterTimer() storing the deadline and then reading the watcher (store
  // buffering), so a new earliest timer is never missed. Pairs with the
  // seq_cst load in RegisterTimer() and store in TimerDriver::UpdateNext().
  int no_watcher = -1;
  plan.watching = timer_watcher_.compare_exchange_strong(
      no_watcher, static_cast<int>(w->index), std::memory_order_seq_cst);
  if (plan.watching) {
    const uint64_t next = timers_.NextDeadline();
    if (next != TimerDriver::kNever) plan.until = timers_.TimeOf(next);
  }
  // A worker that parks while a peer still runs looks again after a while.
  // Requeue() pushes without the wake-up check onto a queue it saw
  // non-empty; a sleeper that looked at that queue as a thief emptied it can
  // miss the push, and if the peer then runs a task that waits, without
  // yielding, for the requeued one, nothing else would wake the sleeper
  // (the peer never reaches its fair tick).
  if (!last_awake) {
    const auto look_at = Clock::now() + w->look_again;
    if (!plan.until || look_at < *plan.until) {
      plan.until = look_at;
      plan.looking_again = true;
    }
  }
  // The last worker to fall asleep after some work also watches for the
  // runtime staying idle, then hands free memory back once: its own, then
  // the process's. Every worker that ran a task gets here: one that parked
  // while a peer still ran is the last awake when it parks again after its
  // look.
  const auto idle_trim = config_.allocator.trim.runtime_idle;
  if (last_awake && w->trim_armed && idle_trim.count() > 0) {
    const auto trim_at = Clock::now() + idle_trim;
    // A timer that comes first wins; the trim is decided again after it.
    if (!plan.until || trim_at <= *plan.until) {
      plan.until = trim_at;
      plan.trim_due = true;
    }
  }
  return plan;
}

void Scheduler::AfterSleep(Worker* w, const SleepPlan& plan,
                           Parker::Woken woken) {
  const bool timed_out = woken == Parker::Woken::kTimeout ||
                         (woken == Parker::Woken::kIo && plan.until &&
                          Clock::now() >= *plan.until);
  // A producer's wake-up brings work and resets the wait; a look that ends
  // by its deadline doubles it, whatever the look then finds (the loop
  // looks next), as such rescues are rare.
  if (woken == Parker::Woken::kToken) {
    w->look_again = kLookAgainMin;
  } else if (timed_out && plan.looking_again) {
    w->look_again = std::min(2 * w->look_again, kLookAgainMax);
  }
  if (timed_out && plan.trim_due) {
    w->trim_armed = false;
    // This worker's own release first (only it can reach its thread cache
    // or heap), then the process's, coalesced across workers.
    alloc::ThreadIdle(alloc::ThreadRole::kWorker);
    alloc::TrimCoalesced(config_.allocator.trim.runtime_idle);
  }
}

void Scheduler::RejoinAfterSleep(Worker* w, Parker::Woken woken) {
  // Woken by a token: whoever sent it counted us as searching. Otherwise
  // (I/O completions, a deadline or an interrupt) we are still a listed
  // sleeper, unless a producer took us meanwhile and its token is on the
  // way. Such a wake-up brings its own work (the tasks the completions and
  // timers woke are in our queues), so we come back as a plain worker, not
  // a searcher: a searcher that runs a task and was the last one wakes a
  // peer, which on an echo-style load found nothing and parked again for
  // every message (tokio makes the same choice for I/O wake-ups).
  if (woken == Parker::Woken::kToken) {
    w->searching = true;
  } else if (idle_.UnparkSelf(w->index, /*searching=*/false)) {
    w->searching = false;
  } else {
    owned_.UnlockTable(static_cast<int>(w->index));
    w->parker.Park();
    owned_.LockTable(static_cast<int>(w->index));
    w->searching = true;
  }
}

void Scheduler::ReleaseOwned(TaskHeader* task, int worker,
                             uint32_t caller_refs) {
  const int nudge = owned_.Release(task, worker, caller_refs);
  // A parked owner drains when it wakes; one that sleeps on is interrupted
  // now and then, so that returned cells do not pile up behind its sleep.
  if (nudge != OwnedTasks::kNotAWorker) workers_[nudge]->parker.Interrupt();
}

void Scheduler::RegisterTimer(TimerEntry* e) {
  if (!timers_.Register(e)) return;
  // seq_cst: after Register()'s seq_cst store of the deadline (store
  // buffering); pairs with the watcher CAS and deadline load in PlanSleep().
  const int watcher = timer_watcher_.load(std::memory_order_seq_cst);
  if (watcher >= 0) workers_[watcher]->parker.Interrupt();
}

bool Scheduler::CancelTimer(TimerEntry* e) { return timers_.Cancel(e); }

std::vector<TaskInfo> Scheduler::Dump() {
  std::vector<TaskInfo> tasks;
  owned_.ForEachLive([&tasks](const TaskHeader& task) {
    TaskInfo info;
    switch (task.state().Observe()) {
      case TaskState::Activity::kComplete:
        return;
      case TaskState::Activity::kScheduled:
        info.state = TaskInfo::State::kScheduled;
        break;
      case TaskState::Activity::kRunning:
        info.state = TaskInfo::State::kRunning;
        break;
      case TaskState::Activity::kWaiting:
        info.state = TaskInfo::State::kWaiting;
        break;
    }
    info.id = task.id();
    info.name = std::string(TaskName(task));
    if (info.state == TaskInfo::State::kWaiting) {
      const std::source_location site = task.await_site();
      if (site.line() != 0) {
        info.location = absl::StrCat(site.file_name(), ":", site.line());
      }
    }
    tasks.push_back(std::move(info));
  });
  std::sort(tasks.begin(), tasks.end(),
            [](const TaskInfo& a, const TaskInfo& b) { return a.id < b.id; });
  return tasks;
}

RuntimeMetrics Scheduler::Metrics() const {
  RuntimeMetrics m;
  m.workers = workers_.size();
  m.alive_tasks = owned_.Alive();
  m.global_queue_depth = inject_.Size();
  for (const auto& w : workers_) {
    WorkerMetrics wm;
    // relaxed: statistics (see Worker::Count).
    // relaxed: see poll_seq; a poll running counts.
    wm.polls = (w->poll_seq.load(std::memory_order_relaxed) + 1) / 2;
    wm.lifo_steals = w->lifo_steals.load(std::memory_order_relaxed);
    wm.steals = w->steals.load(std::memory_order_relaxed);
    wm.parks = w->parks.load(std::memory_order_relaxed);
    wm.spin_wakeups = w->spin_wakeups.load(std::memory_order_relaxed);
    wm.slow_polls = w->poll_timer.slow_polls();
    wm.poll_times = w->poll_timer.Histogram();
    wm.local_queue_depth = w->queue.Size();
    wm.parked = w->parked.load(std::memory_order_relaxed);
    m.per_worker.push_back(wm);
  }
  m.blocking = blocking_->Metrics();
  m.io_driver = std::string(IoDriverName(io_->kind()));
  m.io_driver_mode = std::string(io_->mode());
  m.io_in_flight = io_->in_flight();
  m.fs_backend = io_->file_ops() ? "io_uring" : "blocking pool";
  // relaxed: a statistic (UnhandledSink::count).
  m.unhandled_exceptions = sink_->count.load(std::memory_order_relaxed);
  return m;
}

}  // namespace tidepool::internal
