#ifndef TIDEPOOL_RUNTIME_TIME_TIMEOUT_H_
#define TIDEPOOL_RUNTIME_TIME_TIMEOUT_H_

// timeout(d, awaitable): the awaitable's result, or DeadlineExceeded if it
// takes longer than d. On timeout the inner operation is cancelled cleanly:
// it is aborted at its current suspension point and its frame destroyed
// (timers, channel waits, join waits and socket operations inside it
// withdraw themselves), and timeout() returns only once that is done, so a
// socket read that timed out no longer holds the socket. If the inner
// operation finished in the instant before the abort took effect, its
// result is returned instead of DeadlineExceeded.
//
//   absl::StatusOr<Response> r = co_await tidepool::timeout(2s, Fetch());
//   absl::Status s = co_await tidepool::timeout(5ms, tidepool::sleep(1s));
//   // s is DeadlineExceeded
//
// The result is absl::StatusOr<T>, or absl::Status when the awaitable
// yields void or an absl::Status (then the operation's own status, or
// DeadlineExceeded). An exception thrown by the inner operation propagates.
//
// Semantics and cost, for a socket operation (read, write, accept: any
// awaitable with set_deadline): the operation carries the deadline itself,
// a timer entry inside the awaitable that cancels it in the driver when
// due. It runs in the caller's task; nothing is spawned or allocated.
//
// For anything else (a Task, a sleep, a channel receive): the awaitable
// runs as a task of its own (it may run on another worker), raced against
// a timer task; the first to finish wakes the caller exactly once and the
// other is aborted. That is two spawns and one small shared allocation per
// call. Aborting the caller aborts both, and its frame goes only once they
// have, so the awaitable may borrow from the caller (a read into its
// buffer); no thread waits for them meanwhile. Only inside a tidepool
// task.

#include <array>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/utility/utility.h"
#include "runtime/internal/awaitable_traits.h"
#include "runtime/internal/child_tasks.h"
#include "runtime/internal/first_of.h"
#include "runtime/join_handle.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/task_cancelled.h"
#include "runtime/time/sleep.h"

namespace tidepool {

// absl::Status for an awaitable that yields nothing or a Status (its own
// status, or DeadlineExceeded), else absl::StatusOr<T>. (A
// StatusOr<absl::Status> could not hold the timeout as its error: absl
// takes a Status given to it as the value.)
template <typename T>
using TimeoutResult =
    std::conditional_t<std::is_void_v<T> || std::is_same_v<T, absl::Status>,
                       absl::Status, absl::StatusOr<T>>;

namespace internal {

// Cancels the branches that still live when the waiting task's frame goes,
// on the spot: the inner operation may be reading into that frame. On a
// normal return that is the loser (the timer still asleep, or finishing
// the poll that lost); at shutdown, both. An abort of the waiting task
// waits for both without a thread waiting (child_tasks.h), so they are
// gone by then.
template <typename A, typename B>
struct AbortBoth {
  JoinHandle<A>& a;
  JoinHandle<B>& b;
  ~AbortBoth() {
    JoinHandleAccess<A>::CancelHere(a);
    JoinHandleAccess<B>::CancelHere(b);
  }
};

template <typename A>
Task<AwaitResult<A>> RaceBranch(A awaitable, std::shared_ptr<FirstOf> race) {
  struct Finish {
    FirstOf& race;
    ~Finish() { race.Finish(0); }
  } finish{*race};
  co_return co_await std::move(awaitable);
}

inline Task<void> TimerBranch(std::chrono::steady_clock::time_point deadline,
                              std::shared_ptr<FirstOf> race) {
  co_await sleep_until(deadline);
  race->Finish(1);
}

// timeout()'s error.
inline absl::Status TimedOut(std::chrono::nanoseconds duration) {
  return absl::DeadlineExceededError(absl::StrCat(
      "tidepool::timeout: not done after ",
      std::chrono::duration_cast<std::chrono::milliseconds>(duration).count(),
      " ms"));
}

// An awaitable that can end itself at a deadline (IoAwaitable and the
// socket awaitables built on it).
template <typename A>
concept SelfTimedAwaitable = requires(A& a,
                                      std::chrono::steady_clock::time_point t) {
  a.set_deadline(t);
  { a.deadline_expired() } -> std::convertible_to<bool>;
};

// timeout() for a SelfTimedAwaitable: the awaitable itself, with the
// deadline set and its result wrapped.
template <typename A>
class SelfTimedTimeout {
 public:
  using Result = TimeoutResult<AwaitResult<A>>;

  SelfTimedTimeout(std::chrono::nanoseconds duration, A inner)
      : inner_(std::move(inner)), duration_(duration) {
    inner_.set_deadline(std::chrono::steady_clock::now() + duration);
  }

  bool await_ready() { return inner_.await_ready(); }
  auto await_suspend(std::coroutine_handle<> awaiting) {
    return inner_.await_suspend(awaiting);
  }
  Result await_resume() {
    auto r = inner_.await_resume();
    if (inner_.deadline_expired()) return TimedOut(duration_);
    if constexpr (std::is_same_v<Result, absl::Status>) {
      return r;
    } else {
      return Result(absl::in_place, std::move(r));
    }
  }

 private:
  A inner_;
  std::chrono::nanoseconds duration_;
};

}  // namespace internal

template <internal::SelfTimedAwaitable A>
internal::SelfTimedTimeout<A> timeout(std::chrono::nanoseconds duration,
                                      A awaitable) {
  return internal::SelfTimedTimeout<A>(duration, std::move(awaitable));
}

template <typename A>
Task<TimeoutResult<internal::AwaitResult<A>>> timeout(
    std::chrono::nanoseconds duration, A awaitable) {
  using T = internal::AwaitResult<A>;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  auto race = std::make_shared<internal::FirstOf>();
  JoinHandle<T> inner = spawn(internal::RaceBranch(std::move(awaitable), race));
  JoinHandle<void> timer = spawn(internal::TimerBranch(deadline, race));
  internal::AbortBoth<T, void> guard{inner, timer};
  const std::array<internal::TaskHeader*, 2> cells = {
      internal::JoinHandleAccess<T>::Cell(inner),
      internal::JoinHandleAccess<void>::Cell(timer)};
  internal::ChildTasks children(cells);
  int winner;
  {
    internal::ChildTasks::Awaiting awaiting(children);
    winner = co_await race->Wait();
  }
  if (winner == 0) {
    internal::ChildTasks::Awaiting awaiting(children);
    if constexpr (std::is_void_v<T>) {
      co_await inner;
      co_return absl::OkStatus();
    } else {
      co_return co_await inner;
    }
  }
  inner.abort();
  // Wait for the frame to be gone: whatever the operation held (a socket
  // side, a lock) is free when the caller goes on.
  try {
    internal::ChildTasks::Awaiting awaiting(children);
    if constexpr (std::is_void_v<T>) {
      co_await inner;
      co_return absl::OkStatus();
    } else {
      co_return co_await inner;
    }
  } catch (const TaskCancelled&) {
  }
  co_return internal::TimedOut(duration);
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TIME_TIMEOUT_H_
