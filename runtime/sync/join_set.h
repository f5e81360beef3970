#ifndef TIDEPOOL_RUNTIME_SYNC_JOIN_SET_H_
#define TIDEPOOL_RUNTIME_SYNC_JOIN_SET_H_

// JoinSet<T>: a group of spawned tasks, joined in the order they finish.
//
// spawn(task) starts a task on the current runtime; `co_await
// set.join_next()` waits for the next one to finish and yields its value,
// or std::nullopt when the set is empty. An exception thrown by the task
// is rethrown by join_next(), and a task that was aborted (abort_all(), or
// its runtime shutting down) makes join_next() throw TaskCancelled; either
// way that task has then left the set. A task is reported only after its
// frame is destroyed, so its destructors have run. abort_all() aborts every
// task still in the set; destroying the set does too, without waiting for
// them (their results are discarded).
//
// JoinSet<void> yields std::monostate. The set belongs to one task at a
// time: spawn, join_next, try_join_next, abort_all, size from that task
// only (spawn needs a runtime thread). Cost per task: its entry in a list
// and a wrapper coroutine frame around it (two allocations); join_next takes
// the set's lock once or twice and allocates nothing.
//
//   tidepool::JoinSet<int> set;
//   for (int i = 0; i < 10; ++i) set.spawn(Compute(i));
//   int sum = 0;
//   while (std::optional<int> v = co_await set.join_next()) sum += *v;

#include <coroutine>
#include <cstddef>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/mutex.h"
#include "runtime/spawn.h"
#include "runtime/sync/internal/wait_list.h"

namespace tidepool {

template <typename T>
class JoinSet {
 private:
  struct State;

 public:
  using value_type = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  JoinSet() : state_(std::make_shared<State>()) {}
  JoinSet(JoinSet&&) noexcept = default;
  JoinSet& operator=(JoinSet&& other) noexcept {
    if (this != &other) {
      if (state_) abort_all();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  JoinSet(const JoinSet&) = delete;
  JoinSet& operator=(const JoinSet&) = delete;
  ~JoinSet() {
    if (state_) abort_all();
  }

  // Spawns `task` on the current runtime and adds it to the set. Throws
  // std::logic_error outside a runtime thread.
  void spawn(Task<T> task) {
    internal::CurrentSchedulerOrThrow("JoinSet::spawn");
    Iter entry;
    {
      internal::MutexLock lock(&state_->mu);
      entry = state_->running.emplace(state_->running.end());
    }
    // The handle is the owner's alone, so it may be set after the task has
    // already finished and reported.
    entry->handle =
        tidepool::spawn(Run(Reporter(state_, entry, std::move(task))));
  }

  // The awaitable returned by join_next(). If its task is destroyed while
  // waiting, it withdraws; a result that arrived meanwhile stays in the set.
  class [[nodiscard]] JoinNext : private internal::Waiter {
   public:
    JoinNext(const JoinNext&) = delete;
    JoinNext& operator=(const JoinNext&) = delete;
    ~JoinNext() {
      if (!suspended_) return;
      internal::TaskHeader* drop = nullptr;
      {
        internal::MutexLock lock(&state_->mu);
        if (state_->waiter == this) {
          state_->waiter = nullptr;
          drop = task;
        }
      }
      if (drop) drop->Unref();
    }

    bool await_ready() { return state_->Ready(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      internal::TaskHeader* const self = internal::SuspendCurrentTask(awaiting);
      internal::MutexLock lock(&state_->mu);
      if (state_->ReadyLocked()) return false;
      if (state_->waiter != nullptr) {
        throw std::logic_error("tidepool: two tasks join one JoinSet");
      }
      self->Ref();
      task = self;
      state_->waiter = this;
      suspended_ = true;
      return true;
    }
    std::optional<value_type> await_resume() {
      suspended_ = false;
      std::optional<std::list<Entry>> done = state_->TakeDone();
      if (!done) return std::nullopt;
      return Unwrap(done->front());
    }

   private:
    friend class JoinSet;
    explicit JoinNext(State* state) : state_(state) {}

    State* const state_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  // co_await: the value of the next task to finish, in completion order;
  // nullopt if the set is empty. Rethrows the task's exception, or
  // TaskCancelled for an aborted task.
  JoinNext join_next() { return JoinNext(state_.get()); }

  // Like join_next() without waiting: nullopt if no task has finished.
  std::optional<value_type> try_join_next() {
    std::optional<std::list<Entry>> done = state_->TakeDone();
    if (!done) return std::nullopt;
    return Unwrap(done->front());
  }

  // Aborts every task in the set; each is destroyed at its next suspension
  // point and later reported by join_next() as TaskCancelled.
  void abort_all() {
    internal::MutexLock lock(&state_->mu);
    for (Entry& e : state_->running) e.handle.abort();
  }

  // Tasks spawned and not yet collected by join_next().
  size_t size() const {
    internal::MutexLock lock(&state_->mu);
    return state_->running.size() + state_->done.size();
  }
  bool empty() const { return size() == 0; }

 private:
  struct Entry {
    JoinHandle<void> handle;  // the owner's alone
    // Written by the task before it reports (see Reporter).
    std::optional<value_type> value;
    std::exception_ptr error;
  };
  using Iter = typename std::list<Entry>::iterator;

  struct State {
    // Whether join_next() need not wait: a task finished, or none is left.
    bool Ready() {
      internal::MutexLock lock(&mu);
      return ReadyLocked();
    }
    bool ReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return !done.empty() || running.empty();
    }

    // The oldest finished entry, moved out of `done`, or nullopt.
    std::optional<std::list<Entry>> TakeDone() {
      internal::MutexLock lock(&mu);
      if (done.empty()) return std::nullopt;
      std::list<Entry> taken;
      taken.splice(taken.begin(), done, done.begin());
      return taken;
    }

    internal::Mutex mu;
    std::list<Entry> running ABSL_GUARDED_BY(mu);
    std::list<Entry> done ABSL_GUARDED_BY(mu);
    // The task waiting in join_next(), holding a reference on it.
    internal::Waiter* waiter ABSL_GUARDED_BY(mu) = nullptr;
  };

  // Holds a spawned task, and when the wrapper's frame is destroyed (after
  // the task finished, or when aborted, even before its first poll) destroys
  // the task's frame and then moves its entry to `done` and wakes the
  // joiner. It is the wrapper's only parameter, because a parameter lives
  // exactly as long as the frame; destroying the task explicitly first means
  // a task is reported only after all its destructors have run, whatever
  // order the compiler destroys parameters in.
  class Reporter {
   public:
    Reporter(std::shared_ptr<State> state, Iter entry, Task<T> task)
        : state_(std::move(state)), entry_(entry), task_(std::move(task)) {}
    Reporter(Reporter&& other) noexcept
        : state_(std::move(other.state_)),
          entry_(other.entry_),
          task_(std::move(other.task_)) {}
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;
    ~Reporter() {
      if (!state_) return;
      task_ = Task<T>();
      internal::WakeList wake;
      internal::MutexLock lock(&state_->mu);
      state_->done.splice(state_->done.end(), state_->running, entry_);
      if (state_->waiter != nullptr) {
        wake.Add(std::exchange(state_->waiter, nullptr)->task);
      }
    }

    Entry& entry() const { return *entry_; }
    Task<T>& task() { return task_; }

   private:
    std::shared_ptr<State> state_;
    Iter entry_;
    Task<T> task_;
  };

  static Task<void> Run(Reporter reporter) {
    Entry& entry = reporter.entry();
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(reporter.task());
        entry.value.emplace();
      } else {
        entry.value.emplace(co_await std::move(reporter.task()));
      }
    } catch (...) {
      entry.error = std::current_exception();
    }
  }

  static value_type Unwrap(Entry& entry) {
    if (entry.error) std::rethrow_exception(entry.error);
    if (!entry.value) throw TaskCancelled();
    return std::move(*entry.value);
  }

  std::shared_ptr<State> state_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_JOIN_SET_H_
