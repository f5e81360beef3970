#ifndef TIDEPOOL_RUNTIME_SYNC_WATCH_H_
#define TIDEPOOL_RUNTIME_SYNC_WATCH_H_

// watch::channel<T>(initial): one sender publishes the latest value; any
// number of receivers see it and can wait for it to change.
//
// The channel holds one value and a version that each send() bumps. Every
// Receiver remembers the version it has seen; the receiver channel()
// returns has seen the initial value.
// - Sender::send(v) stores v and wakes every waiting receiver. It returns
//   false, storing nothing, once every receiver is gone (as tokio's does);
//   send_replace(v) stores v regardless.
// - `co_await rx.changed()` returns OK at once if the value changed since
//   rx last looked, else waits for a send(); either way rx then counts the
//   current value as seen. Once the Sender is gone and rx has seen the last
//   value it returns FAILED_PRECONDITION (a value sent before the Sender
//   left is still reported as a change first). Intermediate values may be
//   skipped: a receiver sees the latest value, not every one.
// - rx.borrow() returns a watch::Ref<T>: an immutable snapshot of the
//   current value (shared, not copied), valid for as long as it is held,
//   even across co_await and after later sends; it does not mark the value
//   seen. borrow_and_update() does.
// - Receivers are copyable; a copy starts at the original's seen version.
//   Sender::subscribe() makes a receiver that has seen the current value.
//
// Cancellation: a task destroyed while waiting in changed() leaves the
// queue; nothing is lost, since every send wakes every waiter.
//
// Threads: the ends may live on any threads; send, borrow, has_changed from
// any thread; co_await changed() only inside a tidepool task. One Receiver
// object belongs to one task at a time (copy it for another).
//
// Cost: one allocation for the channel; each send() allocates the new
// value's shared snapshot and takes the channel's lock once (waking every
// waiter outside it); borrow() takes the lock and one reference count; an
// unsuspended changed() takes the lock once.
//
//   auto [tx, rx] = tidepool::watch::channel<Config>(LoadConfig());
//   tidepool::Task<void> Follow(tidepool::watch::Receiver<Config> rx) {
//     while ((co_await rx.changed()).ok()) Apply(*rx.borrow());
//   }  // ends when the sender is dropped
//   tx.send(LoadConfig());

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "runtime/internal/context.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool::watch {

template <typename T>
class Sender;
template <typename T>
class Receiver;

namespace internal {

template <typename T>
struct State {
  explicit State(T initial)
      : value(std::make_shared<const T>(std::move(initial))) {}

  // Wakes every waiter; called with mu held, the WakeList declared first.
  void WakeAllLocked(tidepool::internal::WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (tidepool::internal::Waiter* w = waiters.PopFront()) {
      wake.Add(w->task);
    }
  }

  tidepool::internal::Mutex mu;
  std::shared_ptr<const T> value ABSL_GUARDED_BY(mu);
  uint64_t version ABSL_GUARDED_BY(mu) = 0;
  bool sender_alive ABSL_GUARDED_BY(mu) = true;
  size_t receivers ABSL_GUARDED_BY(mu) = 1;
  tidepool::internal::WaitList waiters ABSL_GUARDED_BY(mu);
};

}  // namespace internal

// An immutable snapshot of a watch channel's value. Copyable; any thread.
template <typename T>
class Ref {
 public:
  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_.get(); }
  const T& get() const { return *value_; }

  friend bool operator==(const Ref& ref, const T& other) {
    return *ref.value_ == other;
  }

 private:
  friend class Receiver<T>;
  friend class Sender<T>;
  explicit Ref(std::shared_ptr<const T> value) : value_(std::move(value)) {}

  std::shared_ptr<const T> value_;
};

template <typename T>
class Receiver {
 public:
  Receiver(const Receiver& other) : state_(other.state_), seen_(other.seen_) {
    tidepool::internal::MutexLock lock(&state_->mu);
    ++state_->receivers;
  }
  Receiver& operator=(const Receiver& other) {
    Receiver copy(other);
    std::swap(state_, copy.state_);
    std::swap(seen_, copy.seen_);
    return *this;
  }
  Receiver(Receiver&& other) noexcept
      : state_(std::move(other.state_)), seen_(other.seen_) {}
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      Reset();
      state_ = std::move(other.state_);
      seen_ = other.seen_;
    }
    return *this;
  }
  ~Receiver() { Reset(); }

  // The awaitable returned by changed().
  class [[nodiscard]] Changed : private tidepool::internal::Waiter {
   public:
    // Only before it is awaited (timeout() moves its awaitable into a
    // task): nothing is queued yet.
    Changed(Changed&& other) noexcept : Waiter(), rx_(other.rx_) {}
    Changed(const Changed&) = delete;
    Changed& operator=(const Changed&) = delete;
    ~Changed() {
      if (suspended_)
        tidepool::internal::WithdrawWaiter(rx_->state_.get(), this);
    }

    bool await_ready() { return false; }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      tidepool::internal::TaskHeader* const self =
          tidepool::internal::SuspendCurrentTask(awaiting);
      internal::State<T>& s = *rx_->state_;
      tidepool::internal::MutexLock lock(&s.mu);
      if (s.version != rx_->seen_ || !s.sender_alive) return false;
      self->Ref();
      task = self;
      s.waiters.PushBack(this);
      suspended_ = true;
      return true;
    }
    // Woken only by a send or by the sender leaving, so the outcome is
    // decided by the time this runs.
    absl::Status await_resume() {
      suspended_ = false;
      internal::State<T>& s = *rx_->state_;
      tidepool::internal::MutexLock lock(&s.mu);
      if (s.version != rx_->seen_) {
        rx_->seen_ = s.version;
        return absl::OkStatus();
      }
      return absl::FailedPreconditionError(
          "tidepool::watch: the sender is gone");
    }

   private:
    friend class Receiver;
    explicit Changed(Receiver* rx) : rx_(rx) {}

    Receiver* const rx_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: OK once the value differs from the one last seen (at once if
  // it already does); FAILED_PRECONDITION when the Sender is gone and no
  // unseen value is left. Marks the current value seen.
  Changed changed() { return Changed(this); }

  // The current value; does not mark it seen.
  Ref<T> borrow() const {
    tidepool::internal::MutexLock lock(&state_->mu);
    return Ref<T>(state_->value);
  }

  // The current value, marked seen.
  Ref<T> borrow_and_update() {
    tidepool::internal::MutexLock lock(&state_->mu);
    seen_ = state_->version;
    return Ref<T>(state_->value);
  }

  // Whether a value this receiver has not seen was sent. Never waits.
  bool has_changed() const {
    tidepool::internal::MutexLock lock(&state_->mu);
    return state_->version != seen_;
  }

 private:
  friend class Sender<T>;
  template <typename U>
  friend std::pair<Sender<U>, Receiver<U>> channel(U initial);

  Receiver(std::shared_ptr<internal::State<T>> state, uint64_t seen)
      : state_(std::move(state)), seen_(seen) {}

  void Reset() {
    if (!state_) return;
    {
      tidepool::internal::MutexLock lock(&state_->mu);
      --state_->receivers;
    }
    state_.reset();
  }

  std::shared_ptr<internal::State<T>> state_;
  uint64_t seen_;
};

// The publishing end. Move-only; dropping it closes the channel.
template <typename T>
class Sender {
 public:
  Sender(Sender&&) noexcept = default;
  Sender& operator=(Sender&& other) noexcept {
    if (this != &other) {
      Reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;
  ~Sender() { Reset(); }

  // Stores `value` and wakes every waiting receiver; false, storing
  // nothing, if no receiver is left.
  bool send(T value) {
    auto snapshot = std::make_shared<const T>(std::move(value));
    // Declared before the lock: the replaced value is destroyed, and the
    // waiters woken, once it is released.
    std::shared_ptr<const T> replaced;
    tidepool::internal::WakeList wake;
    tidepool::internal::MutexLock lock(&state_->mu);
    if (state_->receivers == 0) return false;
    replaced = StoreLocked(std::move(snapshot), wake);
    return true;
  }

  // Stores `value` even with no receiver left (a later subscribe() sees
  // it); returns the value it replaced.
  Ref<T> send_replace(T value) {
    auto snapshot = std::make_shared<const T>(std::move(value));
    tidepool::internal::WakeList wake;
    tidepool::internal::MutexLock lock(&state_->mu);
    return Ref<T>(StoreLocked(std::move(snapshot), wake));
  }

  // A new receiver that has seen the current value.
  Receiver<T> subscribe() {
    tidepool::internal::MutexLock lock(&state_->mu);
    ++state_->receivers;
    return Receiver<T>(state_, state_->version);
  }

  size_t receiver_count() const {
    tidepool::internal::MutexLock lock(&state_->mu);
    return state_->receivers;
  }

  // True once every receiver is gone.
  bool is_closed() const { return receiver_count() == 0; }

 private:
  template <typename U>
  friend std::pair<Sender<U>, Receiver<U>> channel(U initial);

  explicit Sender(std::shared_ptr<internal::State<T>> state)
      : state_(std::move(state)) {}

  std::shared_ptr<const T> StoreLocked(std::shared_ptr<const T> snapshot,
                                       tidepool::internal::WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    std::swap(state_->value, snapshot);
    ++state_->version;
    state_->WakeAllLocked(wake);
    return snapshot;
  }

  void Reset() {
    if (!state_) return;
    {
      tidepool::internal::WakeList wake;
      tidepool::internal::MutexLock lock(&state_->mu);
      state_->sender_alive = false;
      state_->WakeAllLocked(wake);
    }
    state_.reset();
  }

  std::shared_ptr<internal::State<T>> state_;
};

// A watch channel holding `initial`, which its first receiver has seen.
template <typename T>
std::pair<Sender<T>, Receiver<T>> channel(T initial) {
  auto state = std::make_shared<internal::State<T>>(std::move(initial));
  return {Sender<T>(state), Receiver<T>(state, 0)};
}

}  // namespace tidepool::watch

#endif  // TIDEPOOL_RUNTIME_SYNC_WATCH_H_
