#ifndef TIDEPOOL_RUNTIME_SYNC_INTERNAL_MPSC_ENDS_H_
#define TIDEPOOL_RUNTIME_SYNC_INTERNAL_MPSC_ENDS_H_

// What the bounded and unbounded channels' senders and receivers share.
// Only mpsc.h uses it; the contract is documented there.

#include <coroutine>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sync/try_result.h"

namespace tidepool::internal {

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
  TryResult<T, TryRecvError> try_recv() { return Checked()->TryRecv(); }

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

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_SYNC_INTERNAL_MPSC_ENDS_H_
