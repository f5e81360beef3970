#ifndef TIDEPOOL_RUNTIME_SYNC_INTERNAL_BOUNDED_CHAN_H_
#define TIDEPOOL_RUNTIME_SYNC_INTERNAL_BOUNDED_CHAN_H_

// The shared state of a bounded mpsc channel. Only mpsc.h uses it; the
// contract (ordering, back-pressure, cancellation) is documented there.

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"
#include "runtime/sync/try_result.h"

namespace tidepool::internal {

// The shared state of a bounded channel: a deque under a lock.
template <typename T>
class MpscChan {
 public:
  enum class SendResult { kSent, kFull, kClosed };

  // A bounded sender blocked on a full queue; lives in its awaiter.
  struct SendWaiter : Waiter {
    std::optional<T> value;
    SendResult outcome = SendResult::kFull;
  };
  // The receiver waiting on an empty queue; lives in its awaiter. It is
  // registered while rx_waiter_ points to it (there is no list).
  struct RecvWaiter : Waiter {
    std::optional<T> value;  // handed over directly by a sender
  };

  explicit MpscChan(size_t capacity) : capacity_(capacity) {}

  void AddSender() {
    MutexLock lock(&mu_);
    ++senders_;
  }

  void DropSender() {
    WakeList wake;
    MutexLock lock(&mu_);
    // The last sender wakes a waiting receiver, which then sees the end.
    if (--senders_ == 0 && rx_waiter_ != nullptr) {
      wake.Add(std::exchange(rx_waiter_, nullptr)->task);
    }
  }

  // Queues `value` (moving from it) unless the queue is full or closed, in
  // which case `value` is untouched.
  SendResult TrySend(T& value) {
    WakeList wake;
    MutexLock lock(&mu_);
    return TrySendLocked(value, wake);
  }

  // For a bounded send's await_suspend: sends, or queues `waiter`.
  bool SendOrWait(SendWaiter* waiter, std::coroutine_handle<> awaiting) {
    TaskHeader* const self = SuspendCurrentTask(awaiting);
    WakeList wake;
    MutexLock lock(&mu_);
    waiter->outcome = TrySendLocked(*waiter->value, wake);
    if (waiter->outcome != SendResult::kFull) return false;
    self->Ref();
    waiter->task = self;
    send_waiters_.PushBack(waiter);
    return true;
  }

  // A blocked sender's task is being destroyed. If it is still queued it
  // leaves, and its value dies with it: it was never sent.
  void CancelSend(SendWaiter* waiter) {
    TaskHeader* drop = nullptr;
    {
      MutexLock lock(&mu_);
      if (!waiter->linked) return;
      send_waiters_.Remove(waiter);
      drop = waiter->task;
    }
    drop->Unref();
  }

  // For recv's await_suspend: takes a value into `waiter`, finds the
  // channel finished, or registers `waiter`.
  bool RecvOrWait(RecvWaiter* waiter, std::coroutine_handle<> awaiting) {
    TaskHeader* const self = SuspendCurrentTask(awaiting);
    WakeList wake;
    MutexLock lock(&mu_);
    waiter->value = PopLocked(wake);
    if (waiter->value || senders_ == 0 || rx_closed_) return false;
    if (rx_waiter_ != nullptr) {
      throw std::logic_error("tidepool: two tasks receive from one channel");
    }
    self->Ref();
    waiter->task = self;
    rx_waiter_ = waiter;
    return true;
  }

  // For recv's await_ready: everything happens under the lock, later.
  bool RecvReady() const { return false; }

  // For recv's await_resume.
  std::optional<T> RecvResume(RecvWaiter* waiter) {
    return std::exchange(waiter->value, std::nullopt);
  }

  // The receiving task is being destroyed while waiting. A value already
  // handed to it goes back to the head of the queue, where it came from.
  void CancelRecv(RecvWaiter* waiter) {
    TaskHeader* drop = nullptr;
    {
      MutexLock lock(&mu_);
      if (rx_waiter_ == waiter) {
        rx_waiter_ = nullptr;
        drop = waiter->task;
      } else if (waiter->value) {
        queue_.push_front(*std::move(waiter->value));
      }
    }
    if (drop) drop->Unref();
  }

  // The value, kEmpty if the queue is empty, kClosed if it is empty for
  // good.
  TryResult<T, TryRecvError> TryRecv() {
    WakeList wake;
    MutexLock lock(&mu_);
    if (std::optional<T> v = PopLocked(wake)) return *std::move(v);
    return (senders_ == 0 || rx_closed_) ? TryRecvError::kClosed
                                         : TryRecvError::kEmpty;
  }

  // Refuses later sends and fails the blocked ones; queued values stay.
  void Close() {
    WakeList wake;
    MutexLock lock(&mu_);
    CloseLocked(wake);
  }

  // The receiver is gone: close, and destroy the queued values outside the
  // lock (their destructors may do anything).
  void DropReceiver() {
    std::deque<T> doomed;
    WakeList wake;
    MutexLock lock(&mu_);
    CloseLocked(wake);
    doomed.swap(queue_);
  }

  bool IsClosed() {
    MutexLock lock(&mu_);
    return rx_closed_;
  }

 private:
  SendResult TrySendLocked(T& value, WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (rx_closed_) return SendResult::kClosed;
    if (rx_waiter_ != nullptr) {
      // The receiver waits, so the queue is empty: hand the value over.
      RecvWaiter* rx = std::exchange(rx_waiter_, nullptr);
      rx->value.emplace(std::move(value));
      wake.Add(rx->task);
      return SendResult::kSent;
    }
    // Nobody overtakes a blocked sender: senders only block on a full
    // queue, and PopLocked() refills from them before anyone else sees room.
    if (queue_.size() >= capacity_) {
      return SendResult::kFull;
    }
    queue_.push_back(std::move(value));
    return SendResult::kSent;
  }

  std::optional<T> PopLocked(WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (queue_.empty()) return std::nullopt;
    std::optional<T> v(std::move(queue_.front()));
    queue_.pop_front();
    // Refill from the blocked senders, oldest first. The queue can exceed
    // the capacity by one after a cancelled receiver gave a value back.
    while (queue_.size() < capacity_ && !send_waiters_.empty()) {
      auto* w = static_cast<SendWaiter*>(send_waiters_.PopFront());
      queue_.push_back(*std::move(w->value));
      w->outcome = SendResult::kSent;
      wake.Add(w->task);
    }
    return v;
  }

  void CloseLocked(WakeList& wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rx_closed_ = true;
    while (Waiter* w = send_waiters_.PopFront()) {
      static_cast<SendWaiter*>(w)->outcome = SendResult::kClosed;
      wake.Add(w->task);
    }
    // A receiver waiting while another task closes sees the end at once.
    if (rx_waiter_ != nullptr) {
      wake.Add(std::exchange(rx_waiter_, nullptr)->task);
    }
  }

  Mutex mu_;
  const size_t capacity_;
  std::deque<T> queue_ ABSL_GUARDED_BY(mu_);
  size_t senders_ ABSL_GUARDED_BY(mu_) = 1;
  bool rx_closed_ ABSL_GUARDED_BY(mu_) = false;
  // Invariant: non-empty only while the queue is full.
  WaitList send_waiters_ ABSL_GUARDED_BY(mu_);
  // Non-null only while the queue is empty.
  RecvWaiter* rx_waiter_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_SYNC_INTERNAL_BOUNDED_CHAN_H_
