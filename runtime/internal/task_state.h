#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_STATE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_STATE_H_

#include <atomic>
#include <cstdint>

namespace tidepool::internal {

// The lifecycle of a task in one atomic word: who may run it, whether it was
// woken or cancelled, whether it finished, and its reference count. Every
// transition the runtime makes is a method here, named after the state it
// leads to; callers act on what it returns (queue the task, poll it, cancel
// it, drop a reference, destroy it).
//
// Flags:
//   kScheduled  a queue holds the task (and a reference for it)
//   kRunning    one thread owns the coroutine frame (polling or cancelling)
//   kNotified   woken while running: poll again after this poll
//   kComplete   the result is stored; set once, never cleared
//   kCancelled  cancellation requested; whoever runs the task next cancels
//   kNamed      the task has an entry in the name table (task_names.h); not
//               part of the lifecycle: set before the task is shared, never
//               cleared. A bit of this word rather than a field of the task,
//               so that unnamed tasks pay nothing for names
//   kTracked    a listener waits for the end of the task's frame
//               (task_end_listeners.h); set and read as kNamed
//
// Invariants:
// - at most one of kScheduled / kRunning is set, except in the one CAS that
//   moves a task from the first to the second, and on a task that
//   TransitionToCancelClaimed() took while a queue still held it (the worker
//   that pops it sees kRunning and only drops the queue's reference);
// - only the thread that made the kScheduled -> kRunning transition, or
//   that won the yield claim of a task a yield requeued while kRunning,
//   touches the coroutine frame;
// - every CAS keeps the reference count in the upper bits as it found it.
//
// The reference count lives in the same word so that completing a task
// nobody can join publishes kComplete and drops the last references in one
// atomic (TransitionToCompleteAndUnref).
class TaskState {
 public:
  static constexpr uint32_t kScheduled = 1;
  static constexpr uint32_t kRunning = 2;
  static constexpr uint32_t kNotified = 4;
  static constexpr uint32_t kComplete = 8;
  static constexpr uint32_t kCancelled = 16;
  static constexpr uint32_t kNamed = 32;
  static constexpr uint32_t kTracked = 64;
  static constexpr int kRefShift = 7;
  static constexpr uint32_t kRefOne = uint32_t{1} << kRefShift;
  static_assert(kTracked < kRefOne, "the flags must stay below the count");

  explicit TaskState(uint32_t initial_refs) : word_(initial_refs * kRefOne) {}
  TaskState(const TaskState&) = delete;
  TaskState& operator=(const TaskState&) = delete;

  // --- References ---------------------------------------------------------

  // Any holder of a reference. Relaxed: the caller's own reference keeps
  // the task alive, so there is nothing to order.
  void Ref() { word_.fetch_add(kRefOne, std::memory_order_relaxed); }

  // Any holder of `n` references. Drops them; true when they were the last
  // and the caller must destroy the task. acq_rel: every use of the task by
  // any holder happens before the destruction (release on each drop,
  // acquire on the last).
  [[nodiscard]] bool Unref(uint32_t n) { return UnrefSetting(n, 0); }

  // --- Scheduling ---------------------------------------------------------

  // Spawner, before the task is shared. Relaxed: the queue push that
  // follows publishes the task.
  void SetScheduledUnshared() {
    word_.store(word_.load(std::memory_order_relaxed) | kScheduled,
                std::memory_order_relaxed);
  }

  // Any thread (a wake-up). An idle task becomes kScheduled and the caller
  // must take a reference for the queue and queue it (returns true); a
  // running one is marked kNotified, for the worker to requeue after its
  // poll; a scheduled, notified or complete one is left as it is.
  // acq_rel: what the waker wrote before waking (a message) is visible to
  // the poll this wake-up causes: the release pairs with the acquire in
  // TransitionToRunning() or TransitionToIdle().
  [[nodiscard]] bool TransitionToNotified();

  // Any thread (JoinHandle::abort()). Sets kCancelled. Returns true when
  // the caller must take a reference and queue the task so that a worker
  // sees the request: the task is idle and belongs to a scheduler
  // (`has_scheduler`). A running or queued task is cancelled by whoever
  // runs it next; a blocking task by the pool before it starts the call.
  // acq_rel: as TransitionToNotified().
  [[nodiscard]] bool TransitionToAborted(bool has_scheduler);

  // --- Polling (the worker that popped the task from a queue) -------------

  enum class Claim {
    kPoll,     // the caller owns the frame: poll it
    kCancel,   // the caller owns the frame: cancel it (CancelNow)
    kNotOurs,  // claimed by TransitionToCancelClaimed() while queued; drop
               // the queue's reference and nothing else
  };
  // Takes the frame for a poll: kScheduled -> kRunning, or the yield claim
  // of a task a yield requeued while kRunning. acquire: everything done
  // before the task was scheduled (pairs with the release in
  // TransitionToNotified()) or before the yielding poll ended (pairs with
  // MarkYieldRequeued()).
  Claim TransitionToRunning();

  enum class AfterPoll {
    kIdle,     // nobody woke it: drop the queue's reference
    kRequeue,  // woken or yielding: requeue it, keeping the reference
    kCancel,   // cancelled meanwhile: CancelNow, then drop the reference
  };
  // The polling worker, after a poll that did not finish the task.
  // `yielded`: the poll ended in yield_now(); the task is requeued without
  // leaving kRunning (the yield claim marks it), which saves this CAS and
  // the next poll's. Otherwise kRunning is cleared, to kScheduled if the
  // task was woken during the poll. acq_rel: the release publishes the
  // frame as this poll left it to the next poller (pairs with
  // TransitionToRunning()); the acquire takes a waker's writes.
  AfterPoll TransitionToIdle(bool yielded);

  // The worker that claimed a cancelled task (kCancel above) whose frame
  // must outlive an I/O operation still in the driver, or children that
  // borrow from it (child_tasks.h). Clears kRunning and keeps kCancelled,
  // so that the op's or a child's completion schedules the task
  // (TransitionToNotified) and its next claim reports kCancel again.
  // Returns false instead if the task was woken since the claim: kNotified
  // is cleared and the caller, still owning the frame, looks again. acq_rel:
  // the release publishes the frame as TransitionToIdle() does; the acquire
  // takes the waker's writes (the op's result).
  [[nodiscard]] bool TransitionToIdleCancelled();

  // --- Cancellation from outside the polling thread -----------------------

  enum class CancelClaim {
    kClaimed,  // the caller owns the frame and must CancelNow()
    kDone,     // already complete: nothing to cancel
    kBusy,     // another thread polls it; kCancelled is set: try again
  };
  // Any thread but the one polling this task (CancelHere). Takes the frame
  // as a worker would, from an idle or queued task, or from a yield-requeued
  // one by winning its claim. A running task gets kCancelled, so that its
  // poller does not poll or requeue it again; the caller waits and retries.
  // acquire: a poll or claim that ended on another thread left the frame
  // for us (pairs with the release in TransitionToIdle() or
  // TransitionToIdleCancelled()).
  CancelClaim TransitionToCancelClaimed();

  // --- Completion (the thread that owns the frame) ------------------------

  // Publishes kComplete. release: the stored result is visible to whoever
  // sees IsComplete() (pairs with its acquire).
  void TransitionToComplete() {
    word_.fetch_or(kComplete, std::memory_order_release);
  }
  // TransitionToComplete() and Unref(n) in one atomic, for a task nobody can
  // join. True when the caller must destroy the task. acq_rel: as both.
  [[nodiscard]] bool TransitionToCompleteAndUnref(uint32_t n) {
    return UnrefSetting(n, kComplete);
  }

  // --- The name and tracking flags ---------------------------------------

  // Spawner, before the task is shared. Relaxed: the queue push that
  // follows publishes the task, as for SetScheduledUnshared().
  void SetNamedUnshared() {
    word_.store(word_.load(std::memory_order_relaxed) | kNamed,
                std::memory_order_relaxed);
  }
  // Any holder of a reference. Relaxed: the flag was set before the task
  // was shared, and every holder got the task through an operation that
  // ordered that sharing (a queue pop, a join waiter's CAS, the last Unref).
  bool IsNamed() const {
    return word_.load(std::memory_order_relaxed) & kNamed;
  }
  // As SetNamedUnshared() and IsNamed(), for kTracked.
  void SetTrackedUnshared() {
    word_.store(word_.load(std::memory_order_relaxed) | kTracked,
                std::memory_order_relaxed);
  }
  bool IsTracked() const {
    return word_.load(std::memory_order_relaxed) & kTracked;
  }

  // --- Queries (any thread) -----------------------------------------------

  // acquire: pairs with the release in TransitionToComplete(), making the
  // stored result visible.
  bool IsComplete() const {
    return word_.load(std::memory_order_acquire) & kComplete;
  }
  // acquire: pairs with the release in TransitionToAborted().
  bool IsCancelRequested() const {
    return word_.load(std::memory_order_acquire) & kCancelled;
  }

  // What the task is doing, from one look at the word, for Runtime::dump():
  // kRunning while a thread owns the frame (polling or cancelling it),
  // except a task a yield requeued, which waits in a queue as kScheduled
  // does; kWaiting when neither a queue nor a thread holds it. relaxed: a
  // report that may be stale as soon as it is made; nothing is read on the
  // strength of it.
  enum class Activity { kScheduled, kRunning, kWaiting, kComplete };
  Activity Observe() const {
    const uint32_t s = word_.load(std::memory_order_relaxed);
    if (s & kComplete) return Activity::kComplete;
    if (s & kRunning) {
      return yield_requeued_.load(std::memory_order_relaxed)
                 ? Activity::kScheduled
                 : Activity::kRunning;
    }
    return (s & kScheduled) ? Activity::kScheduled : Activity::kWaiting;
  }

 private:
  // Unref(n) that also sets the flags `set` (none of them set yet) in the
  // same atomic.
  bool UnrefSetting(uint32_t n, uint32_t set) {
    const uint32_t before =
        word_.fetch_sub(n * kRefOne - set, std::memory_order_acq_rel);
    if (before / kRefOne < n) RefCountUnderflow();
    return before / kRefOne == n;
  }
  // A reference dropped twice: never silently.
  [[noreturn]] static void RefCountUnderflow();

  // A yield puts the task back in a queue while kRunning. Whoever takes it
  // out of that state, the worker that pops it or a canceller, takes this
  // claim first; exactly one of them gets true. release (mark) / acq_rel
  // (take): the frame as the yielding poll left it.
  void MarkYieldRequeued() {
    yield_requeued_.store(true, std::memory_order_release);
  }
  bool TakeYieldRequeued() {
    return yield_requeued_.exchange(false, std::memory_order_acq_rel);
  }

  std::atomic<uint32_t> word_;
  std::atomic<bool> yield_requeued_{false};
};

// The transitions are defined here, inline, because they sit on every
// spawn, wake-up and poll.

inline bool TaskState::TransitionToNotified() {
  // relaxed first read: the CAS re-reads with the ordering that counts.
  uint32_t s = word_.load(std::memory_order_relaxed);
  while (true) {
    if (s & (kComplete | kScheduled)) return false;
    if (s & kRunning) {
      if (s & kNotified) return false;
      if (word_.compare_exchange_weak(s, s | kNotified,
                                      std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        return false;
      }
      continue;
    }
    if (word_.compare_exchange_weak(s, s | kScheduled,
                                    std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
}

inline bool TaskState::TransitionToAborted(bool has_scheduler) {
  uint32_t s = word_.load(std::memory_order_relaxed);
  while (true) {
    if (s & (kComplete | kCancelled)) return false;
    // Whoever runs or will run the task sees kCancelled: the worker after
    // the current poll or before the next one, the blocking pool before it
    // starts the call. An idle task has nobody, so it is scheduled.
    const bool someone_will_look =
        !has_scheduler || (s & (kRunning | kScheduled));
    const uint32_t next =
        someone_will_look ? (s | kCancelled) : (s | kCancelled | kScheduled);
    if (word_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return !someone_will_look;
    }
  }
}

inline TaskState::Claim TaskState::TransitionToRunning() {
  uint32_t s = word_.load(std::memory_order_relaxed);
  if (s & kRunning) {
    // Requeued by a yield without leaving kRunning, or claimed while queued
    // by a canceller; the yield claim says which.
    if (!TakeYieldRequeued()) return Claim::kNotOurs;
    // relaxed: the claim's acquire ordered the frame; the word only needs
    // its current flags.
    s = word_.load(std::memory_order_relaxed);
    if (s & kNotified) {
      // Woken while queued: this poll is that wake-up. acq_rel: the
      // waker's writes (pairs with TransitionToNotified()).
      s = word_.fetch_and(~kNotified, std::memory_order_acq_rel) & ~kNotified;
    }
  } else {
    while (true) {
      if (s & (kRunning | kComplete)) return Claim::kNotOurs;
      if (word_.compare_exchange_weak(s, (s & ~kScheduled) | kRunning,
                                      std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        break;
      }
    }
  }
  return (s & kCancelled) ? Claim::kCancel : Claim::kPoll;
}

inline TaskState::AfterPoll TaskState::TransitionToIdle(bool yielded) {
  uint32_t s = word_.load(std::memory_order_relaxed);
  if (yielded && !(s & kCancelled)) {
    // A wake-up meanwhile only sets kNotified, which the next poll absorbs;
    // an abort sets kCancelled, which TransitionToRunning() reports.
    MarkYieldRequeued();
    return AfterPoll::kRequeue;
  }
  while (true) {
    if (s & kCancelled) return AfterPoll::kCancel;
    if (s & kNotified) {
      if (word_.compare_exchange_weak(
              s, (s & ~(kRunning | kNotified)) | kScheduled,
              std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return AfterPoll::kRequeue;
      }
      continue;
    }
    if (word_.compare_exchange_weak(s, s & ~kRunning, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return AfterPoll::kIdle;
    }
  }
}

inline bool TaskState::TransitionToIdleCancelled() {
  uint32_t s = word_.load(std::memory_order_relaxed);
  while (true) {
    if (s & kNotified) {
      word_.fetch_and(~kNotified, std::memory_order_acq_rel);
      return false;
    }
    if (word_.compare_exchange_weak(s, s & ~kRunning, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
}

inline TaskState::CancelClaim TaskState::TransitionToCancelClaimed() {
  uint32_t s = word_.load(std::memory_order_acquire);
  while (true) {
    if (s & kComplete) return CancelClaim::kDone;
    if (s & kRunning) {
      // Whoever runs it next cancels it instead of polling or requeueing
      // it: a task that yields in a loop on another worker could otherwise
      // keep winning its claim back. relaxed: nothing to publish; the
      // completion that follows the cancel publishes.
      if (!(s & kCancelled))
        word_.fetch_or(kCancelled, std::memory_order_relaxed);
      // relaxed first look: the exchange only when there is a claim to
      // take, so that a waiting canceller does not write the line each turn.
      if (yield_requeued_.load(std::memory_order_relaxed) &&
          TakeYieldRequeued()) {
        return CancelClaim::kClaimed;
      }
      return CancelClaim::kBusy;
    }
    // A queue may still hold the task (kScheduled stays set): the worker
    // that pops it sees kRunning or kComplete and only drops its reference.
    if (word_.compare_exchange_weak(s, s | kRunning | kCancelled,
                                    std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      return CancelClaim::kClaimed;
    }
  }
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_STATE_H_
