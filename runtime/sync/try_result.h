#ifndef TIDEPOOL_RUNTIME_SYNC_TRY_RESULT_H_
#define TIDEPOOL_RUNTIME_SYNC_TRY_RESULT_H_

// What the synchronization primitives' try_* calls return: the value, or
// the reason nothing happened as a typed enum (never a status code standing
// in for one). docs/api_conventions.md gives the whole policy.
//
//   tidepool::TryResult<int, tidepool::TryRecvError> r = rx.try_recv();
//   if (r.ok()) Use(*r);
//   else if (r.error() == tidepool::TryRecvError::kClosed) Finish();
//
// A TryResult is a plain value; any thread may use it. No allocation.

#include <stdexcept>
#include <utility>
#include <variant>

namespace tidepool {

// try_recv() on mpsc and oneshot receivers.
enum class TryRecvError {
  kEmpty,   // nothing to receive yet; a value may still come
  kClosed,  // nothing to receive, and nothing ever will
};

// try_send() on bounded mpsc senders.
enum class TrySendError {
  kFull,    // no room now; the value is left with the caller
  kClosed,  // the receiver is gone; the value is left with the caller
};

// Semaphore::try_acquire().
enum class TryAcquireError {
  kNoPermits,  // not enough permits now
  kClosed,     // the semaphore is closed
};

// A T, or an E saying why there is none. Reading the value of an error
// result (or the error of an ok one) is a programming error and throws
// std::logic_error.
template <typename T, typename E>
class [[nodiscard]] TryResult {
 public:
  TryResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  TryResult(E error) : v_(std::in_place_index<1>, error) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return *Checked(); }
  T&& value() && { return std::move(*Checked()); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return Checked(); }
  // The value, or `fallback` when there is none.
  template <typename U>
  T value_or(U&& fallback) && {
    return ok() ? std::move(std::get<0>(v_))
                : static_cast<T>(std::forward<U>(fallback));
  }
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

  E error() const {
    if (ok()) throw std::logic_error("tidepool: error() of an ok TryResult");
    return std::get<1>(v_);
  }

 private:
  T* Checked() {
    if (!ok()) throw std::logic_error("tidepool: value() of a failed try_*");
    return &std::get<0>(v_);
  }

  std::variant<T, E> v_;
};

// Success carries no value (try_send).
template <typename E>
class [[nodiscard]] TryResult<void, E> {
 public:
  TryResult() = default;
  TryResult(E error) : error_(error), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }

  E error() const {
    if (ok_) throw std::logic_error("tidepool: error() of an ok TryResult");
    return error_;
  }

 private:
  E error_{};
  bool ok_ = true;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_TRY_RESULT_H_
