#ifndef TIDEPOOL_RUNTIME_SYNC_WHEN_ALL_H_
#define TIDEPOOL_RUNTIME_SYNC_WHEN_ALL_H_

// when_all() and join_all(): run tasks concurrently and wait for all of them.
//
// `co_await tidepool::when_all(a(), b(), ...)` spawns every task, waits for
// all of them and yields a std::tuple of their values in argument order
// (std::monostate for a Task<void>), so structured bindings work.
// `co_await tidepool::join_all(tasks)` does the same for a
// std::vector<Task<T>> and yields a std::vector of the values in the order
// of the tasks (std::vector<std::monostate> for Task<void>).
//
// The first task to throw decides: every other task is aborted, when_all()
// waits until they are all gone, then rethrows that exception. Exceptions
// of the others (and their values) are discarded. A task cancelled from
// outside (its runtime shutting down) counts as one throwing TaskCancelled.
//
// Because no task outlives the call, a task may refer to the caller's
// locals. That holds when the calling task is itself aborted too: the abort
// reaches every task, and the caller's frame goes only once they all have,
// with no thread waiting meanwhile. A task only stops at a suspension
// point, so one that never suspends delays the abort until it finishes.
//
// Only inside a tidepool task. Cost: one spawn and one wrapper frame per
// task, one small shared allocation per call (join_all: two, with the list
// of its tasks for an abort to wait on), the caller is woken once.
//
//   auto [user, posts] = co_await tidepool::when_all(GetUser(id), Posts(id));
//   std::vector<tidepool::Task<int>> parts;
//   for (int i = 0; i < 8; ++i) parts.push_back(Sum(i));
//   std::vector<int> sums = co_await tidepool::join_all(std::move(parts));

#include <array>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/child_tasks.h"
#include "runtime/internal/mutex.h"
#include "runtime/join_handle.h"
#include "runtime/spawn.h"
#include "runtime/sync/notify.h"
#include "runtime/task.h"
#include "runtime/task_cancelled.h"

namespace tidepool {
namespace internal {

template <typename T>
using JoinValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Shared by the caller and its tasks. The caller is notified exactly once:
// when the first task fails, or when the last one finishes.
class JoinAllState {
 public:
  explicit JoinAllState(size_t tasks) : remaining_(tasks) {}

  // A task is done: `error` is null if it succeeded.
  void Finish(std::exception_ptr error) {
    bool signal = false;
    {
      MutexLock lock(&mu_);
      --remaining_;
      if (error && !error_) error_ = std::move(error);
      if (!signalled_ && (error_ || remaining_ == 0)) {
        signalled_ = signal = true;
      }
    }
    // notify_one() keeps a permit if the caller is not waiting yet.
    if (signal) done_.notify_one();
  }

  Notify::Notified Wait() { return done_.notified(); }

  std::exception_ptr error() {
    MutexLock lock(&mu_);
    return error_;
  }

 private:
  Mutex mu_;
  size_t remaining_ ABSL_GUARDED_BY(mu_);
  std::exception_ptr error_ ABSL_GUARDED_BY(mu_);
  bool signalled_ ABSL_GUARDED_BY(mu_) = false;
  Notify done_;
};

// Reports a task's outcome when the wrapper's frame goes, whether the task
// finished, threw, or was aborted (even before its first poll).
class JoinAllReport {
 public:
  explicit JoinAllReport(std::shared_ptr<JoinAllState> state)
      : state(std::move(state)) {}
  JoinAllReport(const JoinAllReport&) = delete;
  JoinAllReport& operator=(const JoinAllReport&) = delete;
  ~JoinAllReport() {
    if (succeeded) {
      state->Finish(nullptr);
    } else {
      state->Finish(error ? error : std::make_exception_ptr(TaskCancelled()));
    }
  }

  std::shared_ptr<JoinAllState> state;
  bool succeeded = false;
  std::exception_ptr error;
};

// Runs `task` and stores its value in `*slot`, which lives in the caller's
// frame; the caller reads it only after awaiting this wrapper's handle.
template <typename T>
Task<void> JoinAllBranch(std::shared_ptr<JoinAllState> state, Task<T> task,
                         std::optional<JoinValue<T>>* slot) {
  JoinAllReport report(std::move(state));
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      slot->emplace();
    } else {
      slot->emplace(co_await std::move(task));
    }
    report.succeeded = true;
  } catch (...) {
    report.error = std::current_exception();
  }
}

// Cancels the wrappers on the spot when the caller's frame goes while they
// live: at shutdown, or a frame destroyed without being aborted. After a
// normal return or an abort they are gone already.
template <typename Handles>
struct CancelAllOnExit {
  Handles& handles;
  ~CancelAllOnExit() {
    for (JoinHandle<void>& h : handles) JoinHandleAccess<void>::CancelHere(h);
  }
};

// Waits for every wrapper, aborting them first if one failed; returns the
// first failure or null.
template <typename Handles>
Task<std::exception_ptr> AwaitAll(JoinAllState& state, Handles& handles) {
  const auto cells = JoinHandleAccess<void>::Cells(handles);
  ChildTasks children(cells);
  {
    ChildTasks::Awaiting awaiting(children);
    co_await state.Wait();
  }
  std::exception_ptr error = state.error();
  if (error) {
    for (JoinHandle<void>& h : handles) h.abort();
  }
  for (JoinHandle<void>& h : handles) {
    try {
      ChildTasks::Awaiting awaiting(children);
      co_await h;
    } catch (const TaskCancelled&) {
      // Aborted after the first failure, as intended.
    }
  }
  co_return error;
}

}  // namespace internal

template <typename... Ts>
Task<std::tuple<internal::JoinValue<Ts>...>> when_all(Task<Ts>... tasks) {
  constexpr size_t kCount = sizeof...(Ts);
  if constexpr (kCount == 0) {
    co_return std::tuple<>();
  } else {
    auto state = std::make_shared<internal::JoinAllState>(kCount);
    std::tuple<std::optional<internal::JoinValue<Ts>>...> slots;
    std::array<JoinHandle<void>, kCount> handles;
    internal::CancelAllOnExit<std::array<JoinHandle<void>, kCount>> cancel{
        handles};
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((handles[I] = spawn(internal::JoinAllBranch<Ts>(state, std::move(tasks),
                                                       &std::get<I>(slots)))),
       ...);
    }
    (std::index_sequence_for<Ts...>{});
    if (std::exception_ptr error = co_await internal::AwaitAll(*state, handles))
      std::rethrow_exception(error);
    co_return std::apply(
        [](auto&... slot) {
          return std::tuple<internal::JoinValue<Ts>...>(std::move(*slot)...);
        },
        slots);
  }
}

template <typename T>
Task<std::vector<internal::JoinValue<T>>> join_all(std::vector<Task<T>> tasks) {
  std::vector<internal::JoinValue<T>> values;
  if (tasks.empty()) co_return values;
  auto state = std::make_shared<internal::JoinAllState>(tasks.size());
  std::vector<std::optional<internal::JoinValue<T>>> slots(tasks.size());
  std::vector<JoinHandle<void>> handles;
  handles.reserve(tasks.size());
  internal::CancelAllOnExit<std::vector<JoinHandle<void>>> cancel{handles};
  for (size_t i = 0; i < tasks.size(); ++i) {
    handles.push_back(spawn(
        internal::JoinAllBranch<T>(state, std::move(tasks[i]), &slots[i])));
  }
  if (std::exception_ptr error = co_await internal::AwaitAll(*state, handles))
    std::rethrow_exception(error);
  values.reserve(slots.size());
  for (std::optional<internal::JoinValue<T>>& slot : slots) {
    values.push_back(std::move(*slot));
  }
  co_return values;
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_WHEN_ALL_H_
