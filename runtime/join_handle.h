#ifndef TIDEPOOL_RUNTIME_JOIN_HANDLE_H_
#define TIDEPOOL_RUNTIME_JOIN_HANDLE_H_

// JoinHandle<T>: the owner's view of a spawned task.
//
// co_await a JoinHandle (from inside a tidepool task) to get the task's
// result: its value, the exception it threw, or TaskCancelled if it was
// aborted or its runtime shut down first. A handle can be awaited once, and
// must outlive the co_await on it; a second await, even one racing the
// first from another task, throws std::logic_error and loses nothing.
//
// detach() (or dropping the handle) lets the task run on with nobody to
// await it: its result is freed when it finishes, and an exception it ends
// with goes to the runtime's unhandled-exception handler
// (unhandled_exception.h) instead of vanishing. A detached task costs one
// atomic less to complete. abort(), is_finished(), id() and name() may be
// called from any thread. Cost: awaiting is one CAS to register and one to
// withdraw; nothing is allocated.
//
//   tidepool::JoinHandle<int> h = tidepool::spawn(Compute());
//   int v = co_await h;
//   tidepool::spawn(LogLater()).detach();  // fire and forget

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/internal/context.h"
#include "runtime/internal/task_cell.h"
#include "runtime/task_cancelled.h"

namespace tidepool {

class Runtime;

namespace internal {
template <typename T>
class JoinHandleAccess;
}  // namespace internal

template <typename T>
class [[nodiscard]] JoinHandle {
 public:
  JoinHandle() = default;
  JoinHandle(JoinHandle&& other) noexcept
      : cell_(std::exchange(other.cell_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      Reset();
      cell_ = std::exchange(other.cell_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { Reset(); }

  // Requests cancellation: the task is destroyed at its next suspension
  // point, or before it starts. A task suspended in a socket or file
  // operation is destroyed once the kernel has let go of the operation's
  // buffer (at once for sockets; a file read in progress runs to its end),
  // and one suspended in select(), when_all(), join_all() or timeout() of a
  // task once the branches, aborted in turn, are gone; no thread waits for
  // that meanwhile. A blocking call that already runs is not interrupted.
  // No effect once finished. Returns at once.
  void abort() {
    if (cell_) cell_->Abort();
  }

  // True once the task has finished (with a value, an exception, or
  // cancellation) and awaiting will not suspend.
  bool is_finished() const { return cell_ && cell_->IsComplete(); }

  bool valid() const { return cell_ != nullptr; }

  // Lets the task run on unawaited, as dropping the handle does, but says
  // so: the handle is empty afterwards.
  void detach() { Reset(); }

  // The task's id, unique in the process (0 for an empty handle); the one
  // an unhandled exception is reported with.
  uint64_t id() const { return cell_ ? cell_->id() : 0; }

  // The name the task was spawned with (TaskBuilder::name, task_builder.h),
  // or "" (also for an empty handle). A copy: a named task's is read under
  // a process-wide lock; an unnamed one costs a load.
  std::string name() const {
    return cell_ ? std::string(internal::TaskName(*cell_)) : std::string();
  }

  class Awaiter {
   public:
    explicit Awaiter(internal::JoinState<T>* cell) : cell_(cell) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    // If the awaiting task is destroyed while suspended here, withdraw the
    // wake-up so the finished task does not wake a dead one.
    ~Awaiter() {
      if (waiter_) cell_->ClearJoinWaiter(waiter_);
    }

    bool await_ready() const { return cell_->IsComplete(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      internal::TaskHeader* self = internal::SuspendCurrentTask(awaiting);
      if (!cell_->SetJoinWaiter(self)) return false;  // finished meanwhile
      waiter_ = self;
      return true;
    }
    T await_resume() { return cell_->TakeResult(); }

   private:
    internal::JoinState<T>* cell_;
    internal::TaskHeader* waiter_ = nullptr;
  };

  Awaiter operator co_await() & { return Awaiter(Checked()); }
  Awaiter operator co_await() && { return Awaiter(Checked()); }

 private:
  friend class internal::JoinHandleAccess<T>;
  explicit JoinHandle(internal::JoinState<T>* cell) : cell_(cell) {}

  internal::JoinState<T>* Checked() const {
    if (!cell_)
      throw std::logic_error("tidepool: awaiting an empty JoinHandle");
    return cell_;
  }
  void Reset() {
    if (cell_) std::exchange(cell_, nullptr)->DropHandle();
  }

  internal::JoinState<T>* cell_ = nullptr;
};

namespace internal {

template <typename T>
class JoinHandleAccess {
 public:
  static JoinHandle<T> Make(JoinState<T>* cell) { return JoinHandle<T>(cell); }
  static JoinState<T>* Cell(const JoinHandle<T>& h) { return h.cell_; }
  // The handles' tasks, in order (null for an empty handle): a combinator's
  // ChildTasks (child_tasks.h).
  template <size_t N>
  static std::array<TaskHeader*, N> Cells(
      const std::array<JoinHandle<T>, N>& handles) {
    std::array<TaskHeader*, N> cells;
    for (size_t i = 0; i < N; ++i) cells[i] = handles[i].cell_;
    return cells;
  }
  static std::vector<TaskHeader*> Cells(
      const std::vector<JoinHandle<T>>& handles) {
    std::vector<TaskHeader*> cells;
    cells.reserve(handles.size());
    for (const JoinHandle<T>& h : handles) cells.push_back(h.cell_);
    return cells;
  }
  // TaskHeader::CancelHere on the handle's task, if it holds one: for
  // timeout(), select() and when_all(), whose branches may borrow from
  // their caller, for a branch still alive when the caller's frame goes
  // other than by an abort (which waits for them first: child_tasks.h): a
  // timeout()'s losing timer, or every branch at shutdown.
  static void CancelHere(JoinHandle<T>& h) {
    if (h.cell_) h.cell_->CancelHere();
  }
};

}  // namespace internal
}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_JOIN_HANDLE_H_
