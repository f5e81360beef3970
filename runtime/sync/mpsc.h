#ifndef TIDEPOOL_RUNTIME_SYNC_MPSC_H_
#define TIDEPOOL_RUNTIME_SYNC_MPSC_H_

// mpsc: multi-producer, single-consumer FIFO channels.
//
// mpsc::channel<T>(capacity) is bounded: `co_await tx.send(v)` waits while
// `capacity` values are queued (back-pressure), and blocked senders are
// admitted in FIFO order as the receiver makes room. try_send never waits.
// mpsc::unbounded_channel<T>() never blocks: tx.send(v) is a plain call.
//
// `co_await rx.recv()` yields the next value, or std::nullopt once every
// sender is gone (or the receiver closed) and the queue is empty. Senders
// are copyable; the channel counts them. A send fails (returns false, and
// the value is destroyed) once the receiver is dropped or closed; blocked
// senders are woken then, so closing never leaves anybody hanging. Dropping
// the receiver destroys the values still queued.
//
// Cancellation: a sender destroyed while blocked takes its value with it
// (it was never sent); a receiver destroyed after a value was handed to it
// but before it ran puts the value back at the head of the queue.
//
// Threads: senders may be used from any thread (send on a bounded channel
// only inside a tidepool task); one task at a time may receive. Each end must
// outlive the operations awaited on it.
//
// Cost: one allocation for the channel; waiting allocates nothing. A bounded
// channel's operations take its lock once each over a std::deque. An
// unbounded channel has no lock: a send is two atomic read-modify-writes
// into a list of 31-value blocks, a receive none unless it has to wait (and
// one exchange per block of 31, recycling it), and
// one spare block is recycled so that a steady stream allocates nothing (see
// internal/unbounded_chan.h). Its values must be nothrow-move-constructible.
// The two kinds have distinct receiver types, Receiver<T> and
// UnboundedReceiver<T>, with the same interface.
//
//   auto [tx, rx] = tidepool::mpsc::channel<std::string>(16);
//   tidepool::spawn(Produce(std::move(tx))).detach();  // co_await tx.send("x")
//   while (std::optional<std::string> s = co_await rx.recv()) Use(*s);

#include <coroutine>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/unbounded_chan.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool {
namespace internal {

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

  // The value, UNAVAILABLE if the queue is empty, FAILED_PRECONDITION if it
  // is empty for good.
  absl::StatusOr<T> TryRecv() {
    WakeList wake;
    MutexLock lock(&mu_);
    if (std::optional<T> v = PopLocked(wake)) return *std::move(v);
    if (senders_ == 0 || rx_closed_) {
      return absl::FailedPreconditionError("tidepool: mpsc channel closed");
    }
    return absl::UnavailableError("tidepool: mpsc channel empty");
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

// Shared by the sender types: counting, copying, dropping.
template <typename T, typename Chan>
class MpscSenderBase {
 public:
  MpscSenderBase(const MpscSenderBase& other) : chan_(other.chan_) {
    if (chan_) chan_->AddSender();
  }
  MpscSenderBase(MpscSenderBase&& other) noexcept = default;
  MpscSenderBase& operator=(const MpscSenderBase& other) {
    if (this != &other) {
      if (other.chan_) other.chan_->AddSender();
      Drop();
      chan_ = other.chan_;
    }
    return *this;
  }
  MpscSenderBase& operator=(MpscSenderBase&& other) noexcept {
    if (this != &other) {
      Drop();
      chan_ = std::move(other.chan_);
    }
    return *this;
  }
  ~MpscSenderBase() { Drop(); }

  // True once the receiver is dropped or closed: sends fail.
  bool is_closed() const { return Checked()->IsClosed(); }

 protected:
  explicit MpscSenderBase(std::shared_ptr<Chan> chan)
      : chan_(std::move(chan)) {}

  Chan* Checked() const {
    if (!chan_) throw std::logic_error("tidepool: use of a moved-from Sender");
    return chan_.get();
  }

 private:
  void Drop() {
    if (chan_) std::exchange(chan_, nullptr)->DropSender();
  }

  std::shared_ptr<Chan> chan_;
};

// Shared by the receiver types: recv, try_recv, close, dropping.
template <typename T, typename Chan>
class MpscReceiverBase {
 public:
  MpscReceiverBase(MpscReceiverBase&& other) noexcept = default;
  MpscReceiverBase& operator=(MpscReceiverBase&& other) noexcept {
    if (this != &other) {
      Drop();
      chan_ = std::move(other.chan_);
    }
    return *this;
  }
  MpscReceiverBase(const MpscReceiverBase&) = delete;
  MpscReceiverBase& operator=(const MpscReceiverBase&) = delete;
  ~MpscReceiverBase() { Drop(); }

  // The awaitable returned by recv().
  class [[nodiscard]] Recv {
   public:
    Recv(const Recv&) = delete;
    Recv& operator=(const Recv&) = delete;
    ~Recv() {
      if (suspended_) chan_->CancelRecv(&waiter_);
    }

    bool await_ready() { return chan_->RecvReady(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      suspended_ = chan_->RecvOrWait(&waiter_, awaiting);
      return suspended_;
    }
    std::optional<T> await_resume() {
      suspended_ = false;
      return chan_->RecvResume(&waiter_);
    }

   private:
    friend class MpscReceiverBase;
    explicit Recv(Chan* chan) : chan_(chan) {}

    Chan* const chan_;
    // Shared with senders while suspended, under the channel's rules.
    typename Chan::RecvWaiter waiter_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: the next value, or nullopt once the channel is finished.
  Recv recv() { return Recv(Checked()); }

  // Without waiting: the next value, UNAVAILABLE if the queue is empty, or
  // FAILED_PRECONDITION if it is empty and no value can come any more.
  absl::StatusOr<T> try_recv() { return Checked()->TryRecv(); }

  // Refuses later sends and fails the blocked ones; values already queued
  // can still be received.
  void close() { Checked()->Close(); }

 protected:
  explicit MpscReceiverBase(std::shared_ptr<Chan> chan)
      : chan_(std::move(chan)) {}

 private:
  Chan* Checked() const {
    if (!chan_)
      throw std::logic_error("tidepool: use of a moved-from Receiver");
    return chan_.get();
  }
  void Drop() {
    if (chan_) std::exchange(chan_, nullptr)->DropReceiver();
  }

  std::shared_ptr<Chan> chan_;
};

}  // namespace internal

namespace mpsc {

template <typename T>
class Sender;
template <typename T>
class UnboundedSender;
template <typename T>
class Receiver;
template <typename T>
class UnboundedReceiver;

template <typename T>
std::pair<Sender<T>, Receiver<T>> channel(size_t capacity);
template <typename T>
std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel();

// The sending end of a bounded channel. Copyable.
template <typename T>
class Sender : public internal::MpscSenderBase<T, internal::MpscChan<T>> {
 public:
  // The awaitable returned by send(); yields true once queued, false if the
  // receiver is gone (the value is destroyed).
  class [[nodiscard]] Send {
   public:
    Send(const Send&) = delete;
    Send& operator=(const Send&) = delete;
    ~Send() {
      if (suspended_) chan_->CancelSend(&waiter_);
    }

    bool await_ready() const { return false; }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      suspended_ = chan_->SendOrWait(&waiter_, awaiting);
      return suspended_;
    }
    bool await_resume() {
      suspended_ = false;
      return waiter_.outcome == internal::MpscChan<T>::SendResult::kSent;
    }

   private:
    friend class Sender;
    Send(internal::MpscChan<T>* chan, T value) : chan_(chan) {
      waiter_.value.emplace(std::move(value));
    }

    internal::MpscChan<T>* const chan_;
    // Guarded by the channel's lock while queued.
    typename internal::MpscChan<T>::SendWaiter waiter_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: waits for room, then queues `value`.
  Send send(T value) { return Send(this->Checked(), std::move(value)); }

  // Queues `value` without waiting, moving from it only on success.
  // RESOURCE_EXHAUSTED when full, FAILED_PRECONDITION when the receiver is
  // gone; `value` is then untouched.
  absl::Status try_send(T&& value) {
    switch (this->Checked()->TrySend(value)) {
      case Chan::SendResult::kSent:
        return absl::OkStatus();
      case Chan::SendResult::kFull:
        return absl::ResourceExhaustedError("tidepool: mpsc channel full");
      case Chan::SendResult::kClosed:
        break;
    }
    return absl::FailedPreconditionError("tidepool: mpsc receiver closed");
  }

 private:
  using Chan = internal::MpscChan<T>;
  friend std::pair<Sender<T>, Receiver<T>> channel<T>(size_t);
  using internal::MpscSenderBase<T, Chan>::MpscSenderBase;
};

// The sending end of an unbounded channel. Copyable.
template <typename T>
class UnboundedSender
    : public internal::MpscSenderBase<T, internal::UnboundedChan<T>> {
 public:
  // Queues `value`; false (destroying it) if the receiver is gone. Never
  // waits, so any thread may call it.
  bool send(T value) { return this->Checked()->Send(value); }

 private:
  using Chan = internal::UnboundedChan<T>;
  friend std::pair<UnboundedSender<T>, UnboundedReceiver<T>>
  unbounded_channel<T>();
  using internal::MpscSenderBase<T, Chan>::MpscSenderBase;
};

// The receiving end of a bounded channel. Move-only.
template <typename T>
class Receiver : public internal::MpscReceiverBase<T, internal::MpscChan<T>> {
 private:
  friend std::pair<Sender<T>, Receiver<T>> channel<T>(size_t);
  using internal::MpscReceiverBase<T, internal::MpscChan<T>>::MpscReceiverBase;
};

// The receiving end of an unbounded channel. Move-only.
template <typename T>
class UnboundedReceiver
    : public internal::MpscReceiverBase<T, internal::UnboundedChan<T>> {
 private:
  friend std::pair<UnboundedSender<T>, UnboundedReceiver<T>>
  unbounded_channel<T>();
  using internal::MpscReceiverBase<
      T, internal::UnboundedChan<T>>::MpscReceiverBase;
};

// Throws std::invalid_argument if capacity is 0.
template <typename T>
std::pair<Sender<T>, Receiver<T>> channel(size_t capacity) {
  if (capacity == 0) {
    throw std::invalid_argument("tidepool::mpsc::channel: capacity is 0");
  }
  auto chan = std::make_shared<internal::MpscChan<T>>(capacity);
  return {Sender<T>(chan), Receiver<T>(chan)};
}

template <typename T>
std::pair<UnboundedSender<T>, UnboundedReceiver<T>> unbounded_channel() {
  auto chan = std::make_shared<internal::UnboundedChan<T>>();
  return {UnboundedSender<T>(chan), UnboundedReceiver<T>(chan)};
}

}  // namespace mpsc
}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_MPSC_H_
