#ifndef TIDEPOOL_RUNTIME_SYNC_SELECT_H_
#define TIDEPOOL_RUNTIME_SYNC_SELECT_H_

// select(): waits for the first of several tasks to finish.
//
// `co_await tidepool::select(a(), b(), ...)` runs every branch as its own
// spawned task, waits for the first to finish, aborts the others and waits
// until they are gone, then yields a std::variant whose index() says which
// branch won and whose alternative holds its value (std::monostate for a
// Task<void>). A branch that throws finishes too: if it is first, select()
// rethrows its exception. Values and exceptions of the losers are
// discarded, including a loser that finished at nearly the same time.
//
// Because the losers are gone when select() returns, a branch may refer to
// the caller's locals. That holds when the selecting task is itself aborted
// too: the abort reaches every branch, and the selecting task's frame goes
// only once they all have, with no thread waiting meanwhile (its JoinHandle
// reports the cancellation then). A branch only stops at a suspension
// point; one that never suspends delays select(), and the abort, until it
// finishes.
//
// Only inside a tidepool task. Cost: one spawn per branch, plus a small
// shared state and a wrapper frame per branch.
//
//   std::variant<std::string, std::monostate> r =
//       co_await tidepool::select(Fetch(url), Deadline());
//   if (r.index() == 1) Log("too slow");

#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "runtime/internal/child_tasks.h"
#include "runtime/spawn.h"
#include "runtime/sync/notify.h"

namespace tidepool {
namespace internal {

template <typename T>
using SelectValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <typename Result>
struct SelectState {
  // relaxed: only elects the one branch that reports; the result itself is
  // published to the selector through `decided` (a lock).
  std::atomic<bool> won{false};
  std::optional<Result> result;  // written by the winner before `decided`
  std::exception_ptr error;      // likewise
  Notify decided;
};

// Holds a branch and, when the wrapper's frame is destroyed (after the
// branch finished, or when aborted even before its first poll), destroys the
// branch's frame and reports its outcome if it is the first to. It is the
// wrapper's only parameter because a parameter lives exactly as long as the
// frame.
template <typename Result, typename T>
class SelectReporter {
 public:
  SelectReporter(std::shared_ptr<SelectState<Result>> state, Task<T> branch)
      : state_(std::move(state)), branch_(std::move(branch)) {}
  SelectReporter(SelectReporter&& other) noexcept
      : state_(std::move(other.state_)),
        branch_(std::move(other.branch_)),
        result_(std::move(other.result_)),
        error_(std::move(other.error_)) {}
  SelectReporter(const SelectReporter&) = delete;
  SelectReporter& operator=(const SelectReporter&) = delete;
  ~SelectReporter() {
    if (!state_) return;
    branch_ = Task<T>();
    // relaxed: see SelectState::won; `decided` (Notify's mutex and wake-up)
    // orders the result for the selector.
    if (state_->won.exchange(true, std::memory_order_relaxed)) return;
    if (result_) {
      state_->result = std::move(result_);
    } else {
      state_->error =
          error_ ? error_ : std::make_exception_ptr(TaskCancelled());
    }
    state_->decided.notify_one();
  }

  Task<T>& branch() { return branch_; }
  void set_result(Result r) { result_.emplace(std::move(r)); }
  void set_error(std::exception_ptr e) { error_ = std::move(e); }

 private:
  std::shared_ptr<SelectState<Result>> state_;
  Task<T> branch_;
  std::optional<Result> result_;
  std::exception_ptr error_;
};

template <size_t I, typename Result, typename T>
Task<void> SelectBranch(SelectReporter<Result, T> reporter) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(reporter.branch());
      reporter.set_result(Result(std::in_place_index<I>));
    } else {
      reporter.set_result(Result(std::in_place_index<I>,
                                 co_await std::move(reporter.branch())));
    }
  } catch (...) {
    reporter.set_error(std::current_exception());
  }
}

// Cancels the branches on the spot when the selector's frame goes while
// they live: at shutdown, or a frame destroyed without being aborted.
// After a normal return or an abort they are gone already.
template <size_t N>
struct AbortBranches {
  std::array<JoinHandle<void>, N>& handles;
  ~AbortBranches() {
    for (JoinHandle<void>& h : handles) JoinHandleAccess<void>::CancelHere(h);
  }
};

}  // namespace internal

template <typename... Ts>
Task<std::variant<internal::SelectValue<Ts>...>> select(Task<Ts>... branches) {
  static_assert(sizeof...(Ts) > 0, "select() needs at least one branch");
  using Result = std::variant<internal::SelectValue<Ts>...>;
  auto state = std::make_shared<internal::SelectState<Result>>();
  std::array<JoinHandle<void>, sizeof...(Ts)> handles;
  internal::AbortBranches<sizeof...(Ts)> abort_on_exit{handles};
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((handles[I] = spawn(internal::SelectBranch<I, Result>(
          internal::SelectReporter<Result, Ts>(state, std::move(branches))))),
     ...);
  }
  (std::index_sequence_for<Ts...>{});
  const auto cells = internal::JoinHandleAccess<void>::Cells(handles);
  internal::ChildTasks children(cells);

  {
    internal::ChildTasks::Awaiting awaiting(children);
    co_await state->decided.notified();
  }
  for (JoinHandle<void>& h : handles) h.abort();
  for (JoinHandle<void>& h : handles) {
    try {
      internal::ChildTasks::Awaiting awaiting(children);
      co_await h;
    } catch (const TaskCancelled&) {
      // The loser was aborted, as intended.
    }
  }
  if (state->error) std::rethrow_exception(state->error);
  co_return std::move(*state->result);
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_SELECT_H_
