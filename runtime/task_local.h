#ifndef TIDEPOOL_RUNTIME_TASK_LOCAL_H_
#define TIDEPOOL_RUNTIME_TASK_LOCAL_H_

// TaskLocal<T>: a value set for the duration of an awaited task, seen by
// everything that task runs and awaits, on whichever worker it resumes, and
// by nothing else (tokio's task_local!). Tasks it spawns do not see it (they
// are other tasks; pass the value), and neither do timeout()'s or select()'s
// branches when they run as tasks of their own (time/timeout.h).
//
//   tidepool::TaskLocal<int> request_id;
//   tidepool::Task<void> Log() { std::cout << request_id.get(); co_return; }
//   co_await request_id.scope(42, Log());  // prints 42
//
// Threads: get() and scope() inside tidepool tasks only. A TaskLocal is
// usually a global; it must outlive every scope it opens.
//
// Cost: scope() is one coroutine frame around the task and links one entry
// into the running task's list, kept in a process-wide table keyed by task
// (a lock and a hash lookup; tasks without scopes pay nothing); get() takes
// the same lock and walks the task's scopes, innermost first.

#include <stdexcept>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/internal/task_locals.h"
#include "runtime/task.h"

namespace tidepool {

template <typename T>
class TaskLocal {
 public:
  TaskLocal() = default;
  TaskLocal(const TaskLocal&) = delete;
  TaskLocal& operator=(const TaskLocal&) = delete;

  // Runs `task` with this TaskLocal set to `value`; the value lives in the
  // returned coroutine's frame until `task` finishes (or is cancelled).
  template <typename R>
  Task<R> scope(T value, Task<R> task) {
    Scope open(this, &value);
    co_return co_await std::move(task);
  }

  // The innermost value in scope in the current task. Throws
  // std::logic_error outside a task or outside every scope of this
  // TaskLocal.
  const T& get() const {
    if (const T* v = try_get()) return *v;
    throw std::logic_error(
        "tidepool: TaskLocal::get() outside a scope of this TaskLocal");
  }

  // As get(), but nullptr where get() would throw.
  const T* try_get() const {
    internal::TaskHeader* task = internal::CurrentTask();
    if (task == nullptr) return nullptr;
    for (auto* e = internal::TaskLocalsHead(task); e != nullptr; e = e->next) {
      if (e->key == this) return static_cast<const T*>(e->value);
    }
    return nullptr;
  }

 private:
  // Links an entry into the running task's list for its lifetime. Scopes
  // nest like the awaits that open them, so the entry is the head again
  // when it goes, whether the scope ends or its frame is destroyed by a
  // cancellation (which runs as part of the same task).
  class Scope {
   public:
    Scope(const TaskLocal* key, const T* value)
        : task_(internal::CurrentTask()) {
      if (task_ == nullptr) {
        throw std::logic_error("tidepool: TaskLocal::scope() outside a task");
      }
      entry_ = {key, value, nullptr};
      internal::PushTaskLocal(task_, &entry_);
    }
    ~Scope() { internal::PopTaskLocal(task_, &entry_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    internal::TaskHeader* const task_;
    internal::LocalEntry entry_;
  };
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TASK_LOCAL_H_
