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
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sync/internal/bounded_chan.h"
#include "runtime/sync/internal/mpsc_ends.h"
#include "runtime/sync/internal/unbounded_chan.h"

namespace tidepool {
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

  // Queues `value` without waiting, moving from it only on success; on
  // kFull or kClosed (the receiver is gone) `value` is untouched.
  TryResult<void, TrySendError> try_send(T&& value) {
    switch (this->Checked()->TrySend(value)) {
      case Chan::SendResult::kSent:
        return {};
      case Chan::SendResult::kFull:
        return TrySendError::kFull;
      case Chan::SendResult::kClosed:
        break;
    }
    return TrySendError::kClosed;
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
