#ifndef TIDEPOOL_RUNTIME_SYNC_ONESHOT_H_
#define TIDEPOOL_RUNTIME_SYNC_ONESHOT_H_

// oneshot::channel<T>(): sends exactly one value from one task to another.
//
// Sender::send(v) delivers v, or returns false (destroying v) if the
// Receiver was dropped or closed. `co_await rx` (or `co_await
// std::move(rx)`) waits for the value and yields absl::StatusOr<T>:
// FAILED_PRECONDITION if the Sender was dropped without sending (or the
// receiver closed the channel before a value came). A value is
// received once; awaiting again throws std::logic_error. If the receiving
// task is destroyed while it waits, the registration is withdrawn; a value
// that arrived meanwhile stays in the channel.
//
// The two ends may live on any threads; send, is_closed, close, try_recv
// from any thread, co_await only inside a tidepool task, by one task at a
// time. Cost: one allocation for the channel (from the thread's block
// cache); send and receive are a few atomic operations each, without locks.
//
//   auto [tx, rx] = tidepool::oneshot::channel<int>();
//   tidepool::spawn(Compute(std::move(tx))).detach();  // tx.send(42)
//   absl::StatusOr<int> v = co_await std::move(rx);

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/block_cache.h"
#include "runtime/internal/context.h"
#include "runtime/internal/task_header.h"
#include "runtime/sync/try_result.h"

namespace tidepool {
namespace internal {

// The channel shared by the two ends.
template <typename T>
struct OneshotState {
  static constexpr uint32_t kValueSet = 1;   // value is written, sender done
  static constexpr uint32_t kTxDropped = 2;  // sender gone without a value
  static constexpr uint32_t kRxClosed = 4;   // receiver dropped or closed
  static constexpr uint32_t kRxWaiting = 8;  // rx_task waits, holds a ref
  // Once any of these is set, receiving no longer waits.
  static constexpr uint32_t kFinal = kValueSet | kTxDropped | kRxClosed;

  // Memory from the per-thread block cache (block_cache.h): a channel is
  // often made on one worker and freed on another, like a task. The cache
  // gives malloc's alignment; an over-aligned T takes the aligned forms.
  static void* operator new(size_t n) { return AllocateTaskMemory(n); }
  static void operator delete(void* p, size_t n) noexcept {
    FreeTaskMemory(p, n);
  }
  static void* operator new(size_t n, std::align_val_t a) {
    return ::operator new(n, a);
  }
  static void operator delete(void* p, size_t n, std::align_val_t a) noexcept {
    ::operator delete(p, n, a);
  }

  // The two ends own the state; the last to let go frees it.
  void Release() {
    // acq_rel: each end releases its accesses, the last acquires them before
    // the delete; pairs with the other end's Release().
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  std::atomic<uint32_t> refs{2};
  std::atomic<uint32_t> state{0};
  // Written by the receiver before it sets kRxWaiting; read by whoever
  // takes the registration (the sender or close()) after seeing kRxWaiting.
  TaskHeader* rx_task = nullptr;
  // Written by the sender before kValueSet; read by the receiver after.
  std::optional<T> value;
  // Receiver-only.
  bool taken = false;

  // The receiver side: the value if it is there, else an error.
  absl::StatusOr<T> Take() {
    if (taken) throw std::logic_error("tidepool: oneshot value received twice");
    // acquire: pairs with the release CAS in Sender::send(): `value`.
    if (state.load(std::memory_order_acquire) & kValueSet) {
      taken = true;
      return std::move(*value);
    }
    return absl::FailedPreconditionError(
        "tidepool: oneshot channel closed without a value");
  }
};

// One end's ownership of the state (a unique_ptr that calls Release): one
// atomic per end where a shared_ptr took three, and no control block.
template <typename T>
class OneshotRef {
 public:
  OneshotRef() = default;
  explicit OneshotRef(OneshotState<T>* state) : state_(state) {}
  OneshotRef(OneshotRef&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)) {}
  OneshotRef& operator=(OneshotRef&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~OneshotRef() { reset(); }

  void reset() {
    if (state_ != nullptr) std::exchange(state_, nullptr)->Release();
  }
  OneshotState<T>* get() const { return state_; }
  OneshotState<T>* operator->() const { return state_; }
  explicit operator bool() const { return state_ != nullptr; }

 private:
  OneshotState<T>* state_ = nullptr;
};

}  // namespace internal

namespace oneshot {

template <typename T>
class Sender;
template <typename T>
class Receiver;

template <typename T>
std::pair<Sender<T>, Receiver<T>> channel();

template <typename T>
class Sender {
 public:
  Sender(Sender&& other) noexcept = default;
  Sender& operator=(Sender&& other) noexcept {
    if (this != &other) {
      Drop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;
  ~Sender() { Drop(); }

  // Delivers `value` and wakes the receiver. Returns false, destroying the
  // value, if the receiver is gone or closed. Uses up the Sender: a second
  // call throws std::logic_error.
  bool send(T value) {
    if (!state_) throw std::logic_error("tidepool: oneshot Sender used twice");
    state_->value.emplace(std::move(value));
    // relaxed: the CAS below carries the ordering; on kRxClosed, Drop()'s
    // acquire orders the receiver's side for us.
    uint32_t s = state_->state.load(std::memory_order_relaxed);
    do {
      if (s & State::kRxClosed) {
        // Nobody reads the value, as kValueSet is never published. Dropping
        // still wakes a receiver that waits in spite of having closed.
        state_->value.reset();
        Drop();
        return false;
      }
      // acq_rel: release publishes `value` (pairs with the acquire in
      // Take()); acquire reads rx_task (pairs with Recv::await_suspend()).
    } while (!state_->state.compare_exchange_weak(s, s | State::kValueSet,
                                                  std::memory_order_acq_rel,
                                                  std::memory_order_relaxed));
    if (s & State::kRxWaiting) WakeReceiver(state_->rx_task);
    state_.reset();
    return true;
  }

  // True once the receiver is dropped or closed: a send would fail.
  bool is_closed() const {
    // acquire: a sender that sees the receiver gone also sees what it did
    // before (as with tokio); pairs with the release that sets kRxClosed
    // (Receiver::close() and the receiver's drop).
    return !state_ ||
           (state_->state.load(std::memory_order_acquire) & State::kRxClosed);
  }

 private:
  using State = internal::OneshotState<T>;
  friend std::pair<Sender<T>, Receiver<T>> channel<T>();
  explicit Sender(internal::OneshotRef<T> state) : state_(std::move(state)) {}

  static void WakeReceiver(internal::TaskHeader* task) {
    task->Wake();
    task->Unref();  // the reference the waiting receiver registered
  }

  void Drop() {
    if (!state_) return;
    // acq_rel: release orders our accesses before the receiver sees
    // kTxDropped (pairs with the acquire in Take() and await_ready());
    // acquire reads rx_task (pairs with Recv::await_suspend()) and, after a
    // failed send, the receiver's close (pairs with close() and Drop()).
    const uint32_t s =
        state_->state.fetch_or(State::kTxDropped, std::memory_order_acq_rel);
    if (s & State::kRxWaiting) WakeReceiver(state_->rx_task);
    state_.reset();
  }

  internal::OneshotRef<T> state_;
};

template <typename T>
class Receiver {
 public:
  Receiver(Receiver&& other) noexcept = default;
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      Drop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver() { Drop(); }

  // The awaitable of `co_await rx`.
  class [[nodiscard]] Recv {
   public:
    Recv(const Recv&) = delete;
    Recv& operator=(const Recv&) = delete;
    ~Recv() {
      if (suspended_) Withdraw();
    }

    bool await_ready() const {
      // acquire: pairs with the release in send() or Sender::Drop(); Take()
      // re-reads with acquire anyway.
      return state_->state.load(std::memory_order_acquire) & State::kFinal;
    }

    bool await_suspend(std::coroutine_handle<> awaiting) {
      internal::TaskHeader* const self = internal::SuspendCurrentTask(awaiting);
      self->Ref();
      state_->rx_task = self;
      // relaxed: the CAS below carries the ordering; an early return goes
      // through Take()'s acquire.
      uint32_t s = state_->state.load(std::memory_order_relaxed);
      do {
        if (s & State::kFinal) {
          self->Unref();
          return false;
        }
        // release: publishes rx_task and its reference; pairs with the
        // acquire in send(), Sender::Drop() or close(). acquire on failure:
        // pairs with send()'s release, though Take() re-reads anyway.
      } while (!state_->state.compare_exchange_weak(s, s | State::kRxWaiting,
                                                    std::memory_order_release,
                                                    std::memory_order_acquire));
      suspended_ = true;
      return true;
    }

    absl::StatusOr<T> await_resume() {
      suspended_ = false;
      return state_->Take();
    }

   private:
    friend class Receiver;
    explicit Recv(internal::OneshotState<T>* state) : state_(state) {}

    // The task is being destroyed while waiting: clear kRxWaiting unless
    // the sender or close() already took the registration, in which case
    // that side owns the reference and drops it after its wake-up.
    void Withdraw() {
      // relaxed (load and CAS): we take back our own registration and read
      // nothing another thread wrote; the Unref orders the task's end.
      uint32_t s = state_->state.load(std::memory_order_relaxed);
      do {
        if (!(s & State::kRxWaiting) ||
            (s & (State::kValueSet | State::kTxDropped))) {
          return;
        }
      } while (!state_->state.compare_exchange_weak(s, s & ~State::kRxWaiting,
                                                    std::memory_order_relaxed,
                                                    std::memory_order_relaxed));
      state_->rx_task->Unref();
    }

    internal::OneshotState<T>* const state_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  Recv operator co_await() & { return Recv(Checked()); }
  Recv operator co_await() && { return Recv(Checked()); }

  // Without waiting: the value, kEmpty if none was sent yet, or kClosed if
  // none will come (the sender was dropped without sending, or the channel
  // was closed first).
  TryResult<T, TryRecvError> try_recv() {
    State* state = Checked();
    // relaxed: Take() re-reads with acquire, which pairs with send().
    if (!(state->state.load(std::memory_order_relaxed) & State::kFinal)) {
      return TryRecvError::kEmpty;
    }
    absl::StatusOr<T> v = state->Take();
    if (!v.ok()) return TryRecvError::kClosed;
    return *std::move(v);
  }

  // Refuses any later send; a value sent before stays receivable. A task
  // waiting on this receiver meanwhile is woken and gets the value or the
  // error.
  void close() {
    State* state = Checked();
    // relaxed: the CAS below carries the ordering.
    uint32_t s = state->state.load(std::memory_order_relaxed);
    uint32_t next;
    do {
      // Takes over a registration the sender has not taken.
      next = s | State::kRxClosed;
      if (!(s & (State::kValueSet | State::kTxDropped))) {
        next &= ~State::kRxWaiting;
      }
      // acq_rel: release orders our accesses before the sender's failure
      // (pairs with the acquire in Sender::Drop(), which a failing send()
      // runs); acquire reads rx_task (pairs with Recv::await_suspend()).
    } while (!state->state.compare_exchange_weak(
        s, next, std::memory_order_acq_rel, std::memory_order_relaxed));
    if ((s & State::kRxWaiting) && !(next & State::kRxWaiting)) {
      state->rx_task->Wake();
      state->rx_task->Unref();
    }
  }

 private:
  using State = internal::OneshotState<T>;
  friend std::pair<Sender<T>, Receiver<T>> channel<T>();
  explicit Receiver(internal::OneshotRef<T> state) : state_(std::move(state)) {}

  State* Checked() const {
    if (!state_)
      throw std::logic_error("tidepool: use of a moved-from Receiver");
    return state_.get();
  }

  void Drop() {
    if (!state_) return;
    // release: as in close(); pairs with the acquire in Sender::Drop(). A
    // value already sent is freed with the state.
    state_->state.fetch_or(State::kRxClosed, std::memory_order_release);
    state_.reset();
  }

  internal::OneshotRef<T> state_;
};

template <typename T>
std::pair<Sender<T>, Receiver<T>> channel() {
  auto* state = new internal::OneshotState<T>();  // refs: one per end
  return {Sender<T>(internal::OneshotRef<T>(state)),
          Receiver<T>(internal::OneshotRef<T>(state))};
}

}  // namespace oneshot
}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_ONESHOT_H_
