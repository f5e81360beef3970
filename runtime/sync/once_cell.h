#ifndef TIDEPOOL_RUNTIME_SYNC_ONCE_CELL_H_
#define TIDEPOOL_RUNTIME_SYNC_ONCE_CELL_H_

// OnceCell<T>: a value initialized at most once, by an async initializer.
//
// `co_await cell.get_or_init(f)` returns a const T& to the cell's value,
// first running f to produce it if the cell is empty. f is a callable
// taking no arguments that returns Task<T> (awaited) or T. Under concurrent
// callers f runs once: the first caller runs it in its own task, the others
// wait and then get its value. If f throws, the exception reaches the
// caller that ran it, the cell stays empty, and every waiter wakes; one of
// them runs its own f next. Likewise if the task running f is destroyed
// (aborted, or raced in timeout()/select()) mid-initialization.
//
// get() returns a pointer to the value, or nullptr while the cell is empty;
// a value, once there, never changes or moves until the cell is destroyed.
//
// Cancellation: a task destroyed while waiting for another's initializer
// leaves the queue; one destroyed while running f hands the job on, as
// above. Nothing is lost.
//
// Any thread may call get() and initialized(); co_await get_or_init() only
// inside a tidepool task. The cell must outlive its callers and every use
// of the reference or pointer to its value.
//
// Cost: once initialized, get() and get_or_init() are one acquire load
// (get_or_init() then neither allocates nor suspends). Before that, a
// get_or_init() allocates one coroutine frame and takes an internal lock
// once or twice.
//
//   tidepool::OnceCell<Config> config;
//   tidepool::Task<Config> Load();
//   tidepool::Task<void> Serve() {
//     const Config& c = co_await config.get_or_init(Load);
//     Use(c);
//   }

#include <atomic>
#include <concepts>
#include <coroutine>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "runtime/internal/context.h"
#include "runtime/internal/mutex.h"
#include "runtime/sync/internal/wait_list.h"
#include "runtime/task.h"

namespace tidepool {

template <typename T>
class OnceCell {
 public:
  OnceCell() = default;
  OnceCell(const OnceCell&) = delete;
  OnceCell& operator=(const OnceCell&) = delete;

  // The value, or nullptr while the cell is empty.
  const T* get() const {
    // acquire: pairs with the release store in Init(), so the value written
    // before it is visible here.
    return ready_.load(std::memory_order_acquire) ? &*value_ : nullptr;
  }

  bool initialized() const { return get() != nullptr; }

  // The awaitable returned by get_or_init(). When the cell is empty it runs
  // Init() as a nested Task inside the caller's task; destroying the
  // awaitable destroys that Task, whose guards clean up.
  template <typename F>
  class [[nodiscard]] GetOrInit {
   public:
    GetOrInit(const GetOrInit&) = delete;
    GetOrInit& operator=(const GetOrInit&) = delete;

    bool await_ready() { return cell_->get() != nullptr; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) {
      init_ = Init(cell_, std::move(f_));
      inner_.emplace(std::move(init_).operator co_await());
      return inner_->await_suspend(awaiting);
    }
    const T& await_resume() {
      // Rethrows what the initializer threw, if this caller ran it.
      if (inner_) inner_->await_resume();
      return *cell_->get();
    }

   private:
    friend class OnceCell;
    using InnerAwaiter =
        decltype(std::declval<Task<void>>().operator co_await());

    GetOrInit(OnceCell* cell, F f) : cell_(cell), f_(std::move(f)) {}

    OnceCell* const cell_;
    F f_;
    Task<void> init_;
    std::optional<InnerAwaiter> inner_;
  };

  // co_await: the cell's value, running `f` first if the cell is empty and
  // no other caller is initializing it. Rethrows f's exception.
  template <typename F>
  requires std::invocable<F&> GetOrInit<std::decay_t<F>> get_or_init(F&& f) {
    return GetOrInit<std::decay_t<F>>(this, std::forward<F>(f));
  }

 private:
  // Whose turn it is to initialize: cleared by the initializer's guard when
  // it leaves without a value (exception or destruction), waking every
  // waiter so that one of them takes over.
  class InitGuard {
   public:
    explicit InitGuard(OnceCell* cell) : cell_(cell) {}
    InitGuard(const InitGuard&) = delete;
    InitGuard& operator=(const InitGuard&) = delete;
    ~InitGuard() {
      internal::WakeList wake;
      internal::MutexLock lock(&cell_->mu_);
      cell_->initializing_ = false;
      cell_->WakeAllLocked(wake);
    }

   private:
    OnceCell* cell_;
  };

  // Waits for the current initializer to finish or give up.
  class [[nodiscard]] Turn : private internal::Waiter {
   public:
    explicit Turn(OnceCell* cell) : cell_(cell) {}
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    ~Turn() {
      if (!suspended_) return;
      internal::TaskHeader* drop = nullptr;
      {
        internal::MutexLock lock(&cell_->mu_);
        if (linked) {
          cell_->waiters_.Remove(this);
          drop = task;
        }
      }
      if (drop) drop->Unref();
    }

    bool await_ready() { return false; }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      internal::TaskHeader* const self = internal::SuspendCurrentTask(awaiting);
      internal::MutexLock lock(&cell_->mu_);
      if (!cell_->initializing_) return false;
      self->Ref();
      task = self;
      cell_->waiters_.PushBack(this);
      suspended_ = true;
      return true;
    }
    void await_resume() { suspended_ = false; }

   private:
    OnceCell* const cell_;
    // Owner-only: true between a suspending await_suspend and await_resume.
    bool suspended_ = false;
  };

  void WakeAllLocked(internal::WakeList& wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (internal::Waiter* w = waiters_.PopFront()) wake.Add(w->task);
  }

  template <typename F>
  static Task<void> Init(OnceCell* cell, F f) {
    while (true) {
      {
        internal::MutexLock lock(&cell->mu_);
        if (cell->value_) co_return;
        if (!cell->initializing_) {
          cell->initializing_ = true;
          break;
        }
      }
      co_await Turn(cell);
    }
    InitGuard guard(cell);
    using R = std::invoke_result_t<F&>;
    std::optional<T> value;
    if constexpr (std::is_same_v<R, Task<T>>) {
      value.emplace(co_await f());
    } else {
      value.emplace(f());
    }
    internal::MutexLock lock(&cell->mu_);
    cell->value_.emplace(*std::move(value));
    // release: pairs with the acquire load in get().
    cell->ready_.store(true, std::memory_order_release);
  }

  internal::Mutex mu_;
  // Written once, under mu_, before ready_ is set; read-only afterwards.
  std::optional<T> value_;
  std::atomic<bool> ready_{false};
  bool initializing_ ABSL_GUARDED_BY(mu_) = false;
  internal::WaitList waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_SYNC_ONCE_CELL_H_
