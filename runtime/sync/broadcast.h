#ifndef TIDEPOOL_RUNTIME_SYNC_BROADCAST_H_
#define TIDEPOOL_RUNTIME_SYNC_BROADCAST_H_

// broadcast::channel<T>(capacity): every value sent reaches every receiver.
//
// The channel is a ring of `capacity` slots shared by all receivers; each
// Receiver keeps its own position in it. send(v) stores v in the next slot,
// overwriting the oldest value once the ring is full, whether or not every
// receiver has read it, and wakes every waiting receiver: a slow receiver
// never slows the sender, it falls behind instead.
// - `co_await rx.recv()` yields absl::StatusOr<T>, a copy of the next value
//   (T must be copyable), waiting if there is none yet. Errors:
//   RESOURCE_EXHAUSTED "lagged": values this receiver had not read were
//   overwritten; the message says how many (IsLagged() tells this error
//   apart), and the receiver has moved on to the oldest value still held, which
//   the next recv() returns. FAILED_PRECONDITION "closed": every Sender is
//   gone and this receiver has read everything left.
// - send(v) returns false, dropping v, when no receiver exists (as tokio's
//   does). Senders are copyable; the channel closes when the last goes.
// - Sender::subscribe() makes a receiver that sees values sent from then
//   on. Receivers are move-only.
// - A value stays in its slot until overwritten (at most `capacity` values
//   are held), even once every receiver has read it.
//
// Cancellation: a task destroyed while waiting in recv() leaves the queue
// and loses nothing: its position only moves when a value is returned.
//
// Threads: the ends may live on any threads; send, subscribe and try_recv
// from any thread, co_await recv() only inside a tidepool task, and one
// Receiver object by one task at a time.
//
// Cost: one allocation for the channel and its ring. send() copies the
// value into its slot under the channel's lock and wakes every waiting
// receiver outside it; recv() takes the lock once (twice if it waits) and
// copies the value out. Nothing is allocated per value beyond T's own.
//
//   auto [tx, rx] = tidepool::broadcast::channel<Event>(64);
//   tidepool::Task<void> Listen(tidepool::broadcast::Receiver<Event> rx) {
//     while (true) {
//       absl::StatusOr<Event> e = co_await rx.recv();
//       if (e.ok()) Handle(*e);
//       else if (tidepool::broadcast::IsLagged(e.status())) continue;
//       else break;  // closed
//     }
//   }
//   tidepool::spawn(Listen(tx.subscribe())).detach();
//   tx.send(Event{...});

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runtime/internal/context.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"
#include "runtime/sync/try_result.h"

namespace tidepool::broadcast {

template <typename T>
class Sender;
template <typename T>
class Receiver;

namespace internal {

inline absl::Status Lagged(uint64_t skipped) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "tidepool::broadcast: receiver lagged, ", skipped, " values skipped"));
}

inline absl::Status Closed() {
  return absl::FailedPreconditionError("tidepool::broadcast: channel closed");
}

template <typename T>
struct State {
  explicit State(size_t capacity) : slots(capacity) {}

  tidepool::internal::Mutex mu;
  // Value number n lives in slots[n % capacity] while n >= sent - capacity.
  std::vector<std::optional<T>> slots ABSL_GUARDED_BY(mu);
  uint64_t sent ABSL_GUARDED_BY(mu) = 0;  // values ever sent
  size_t senders ABSL_GUARDED_BY(mu) = 1;
  size_t receivers ABSL_GUARDED_BY(mu) = 1;
  tidepool::internal::WaitList waiters ABSL_GUARDED_BY(mu);
};

}  // namespace internal

// For an error from recv(): whether the receiver lagged (values were
// overwritten before it read them; the message says how many) or the
// channel is closed. recv() reports nothing else.
inline bool IsLagged(const absl::Status& status) {
  return absl::IsResourceExhausted(status);
}
inline bool IsClosed(const absl::Status& status) {
  return absl::IsFailedPrecondition(status);
}

template <typename T>
class Receiver {
 public:
  Receiver(Receiver&& other) noexcept
      : state_(std::move(other.state_)), next_(other.next_) {}
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      Reset();
      state_ = std::move(other.state_);
      next_ = other.next_;
    }
    return *this;
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver() { Reset(); }

  // The awaitable returned by recv().
  class [[nodiscard]] Recv : private tidepool::internal::Waiter {
   public:
    // Only before it is awaited (timeout() moves its awaitable into a
    // task): nothing is queued or taken yet.
    Recv(Recv&& other) noexcept : Waiter(), rx_(other.rx_) {}
    Recv(const Recv&) = delete;
    Recv& operator=(const Recv&) = delete;
    ~Recv() {
      if (suspended_)
        tidepool::internal::WithdrawWaiter(rx_->state_.get(), this);
    }

    bool await_ready() {
      tidepool::internal::MutexLock lock(&rx_->state_->mu);
      result_ = rx_->TakeLocked();
      return result_.has_value();
    }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      tidepool::internal::TaskHeader* const self =
          tidepool::internal::SuspendCurrentTask(awaiting);
      tidepool::internal::MutexLock lock(&rx_->state_->mu);
      result_ = rx_->TakeLocked();
      if (result_) return false;
      self->Ref();
      task = self;
      rx_->state_->waiters.PushBack(this);
      suspended_ = true;
      return true;
    }
    // Woken only by a send or by the last sender leaving; neither can be
    // undone, so taking now always yields a result.
    absl::StatusOr<T> await_resume() {
      if (suspended_) {
        suspended_ = false;
        tidepool::internal::MutexLock lock(&rx_->state_->mu);
        result_ = rx_->TakeLocked();
      }
      return *std::move(result_);
    }

   private:
    friend class Receiver;
    explicit Recv(Receiver* rx) : rx_(rx) {}

    Receiver* const rx_;
    std::optional<absl::StatusOr<T>> result_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: the next value; RESOURCE_EXHAUSTED if values were skipped
  // (see IsLagged()), FAILED_PRECONDITION once closed and drained.
  Recv recv() { return Recv(this); }

  // The next value without waiting: kEmpty if none has been sent yet,
  // kClosed once closed and drained. A receiver that lagged skips to the
  // oldest value held and returns it.
  TryResult<T, TryRecvError> try_recv() {
    tidepool::internal::MutexLock lock(&state_->mu);
    while (true) {
      std::optional<absl::StatusOr<T>> r = TakeLocked();
      if (!r) return TryRecvError::kEmpty;
      if (r->ok()) return **std::move(r);
      if (IsClosed(r->status())) return TryRecvError::kClosed;
    }
  }

 private:
  friend class Sender<T>;
  template <typename U>
  friend std::pair<Sender<U>, Receiver<U>> channel(size_t capacity);

  Receiver(std::shared_ptr<internal::State<T>> state, uint64_t next)
      : state_(std::move(state)), next_(next) {}

  // The result of a recv() now, or nullopt if it must wait.
  std::optional<absl::StatusOr<T>> TakeLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    const uint64_t capacity = state_->slots.size();
    if (state_->sent - next_ > capacity) {
      const uint64_t oldest = state_->sent - capacity;
      const uint64_t skipped = oldest - next_;
      next_ = oldest;
      return internal::Lagged(skipped);
    }
    if (next_ < state_->sent) {
      return absl::StatusOr<T>(*state_->slots[next_++ % capacity]);
    }
    if (state_->senders == 0) return internal::Closed();
    return std::nullopt;
  }

  void Reset() {
    if (!state_) return;
    {
      tidepool::internal::MutexLock lock(&state_->mu);
      --state_->receivers;
    }
    state_.reset();
  }

  std::shared_ptr<internal::State<T>> state_;
  uint64_t next_;  // the number of the next value to return
};

template <typename T>
class Sender {
 public:
  Sender(const Sender& other) : state_(other.state_) {
    tidepool::internal::MutexLock lock(&state_->mu);
    ++state_->senders;
  }
  Sender& operator=(const Sender& other) {
    Sender copy(other);
    std::swap(state_, copy.state_);
    return *this;
  }
  Sender(Sender&& other) noexcept = default;
  Sender& operator=(Sender&& other) noexcept {
    if (this != &other) {
      Reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~Sender() { Reset(); }

  // Stores `value` for every receiver and wakes the waiting ones; false,
  // dropping it, if no receiver exists.
  bool send(T value) {
    // Declared before the lock: the overwritten value is destroyed, and the
    // waiters woken, once it is released.
    std::optional<T> overwritten;
    tidepool::internal::WakeList wake;
    tidepool::internal::MutexLock lock(&state_->mu);
    if (state_->receivers == 0) return false;
    std::optional<T>& slot = state_->slots[state_->sent % state_->slots.size()];
    overwritten = std::exchange(slot, std::move(value));
    ++state_->sent;
    while (tidepool::internal::Waiter* w = state_->waiters.PopFront()) {
      wake.Add(w->task);
    }
    return true;
  }

  // A receiver that gets the values sent from now on.
  Receiver<T> subscribe() {
    tidepool::internal::MutexLock lock(&state_->mu);
    ++state_->receivers;
    return Receiver<T>(state_, state_->sent);
  }

  size_t receiver_count() const {
    tidepool::internal::MutexLock lock(&state_->mu);
    return state_->receivers;
  }

 private:
  template <typename U>
  friend std::pair<Sender<U>, Receiver<U>> channel(size_t capacity);

  explicit Sender(std::shared_ptr<internal::State<T>> state)
      : state_(std::move(state)) {}

  void Reset() {
    if (!state_) return;
    {
      tidepool::internal::WakeList wake;
      tidepool::internal::MutexLock lock(&state_->mu);
      if (--state_->senders == 0) {
        while (tidepool::internal::Waiter* w = state_->waiters.PopFront()) {
          wake.Add(w->task);
        }
      }
    }
    state_.reset();
  }

  std::shared_ptr<internal::State<T>> state_;
};

// A channel holding up to `capacity` values; the receiver returned sees
// every value sent from now on. Throws std::invalid_argument for 0.
template <typename T>
std::pair<Sender<T>, Receiver<T>> channel(size_t capacity) {
  if (capacity == 0) {
    throw std::invalid_argument("tidepool::broadcast::channel: capacity 0");
  }
  auto state = std::make_shared<internal::State<T>>(capacity);
  return {Sender<T>(state), Receiver<T>(state, 0)};
}

}  // namespace tidepool::broadcast

#endif  // TIDEPOOL_RUNTIME_SYNC_BROADCAST_H_
