#include "runtime/internal/task_state.h"

#include <cstdio>
#include <cstdlib>

namespace tidepool::internal {

bool TaskState::TransitionToNotified() {
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

bool TaskState::TransitionToAborted(bool has_scheduler) {
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

TaskState::Claim TaskState::TransitionToRunning() {
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

TaskState::AfterPoll TaskState::TransitionToIdle(bool yielded) {
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

TaskState::CancelClaim TaskState::TransitionToCancelClaimed() {
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

void TaskState::RefCountUnderflow() {
  std::fprintf(stderr, "tidepool: a task's reference was dropped twice\n");
  std::abort();
}

}  // namespace tidepool::internal
