#ifndef TIDEPOOL_RUNTIME_HANDLE_H_
#define TIDEPOOL_RUNTIME_HANDLE_H_

// Handle: a copyable reference to a Runtime, for code that has no Runtime
// at hand: threads of the program that feed it work, libraries called from
// its tasks. Runtime::handle() makes one; Handle::current() gives the
// runtime of the calling task or blocking call.
//
//   tidepool::Handle h = rt.handle();
//   std::thread feeder([h] { h.spawn(Work()).detach(); });
//
// Threads: spawn() and spawn_blocking() from any thread; block_on() from
// any thread but the runtime's own (throws std::logic_error inside a task).
// A Handle does not keep its runtime alive: using one after its Runtime
// was destroyed or shut down throws std::logic_error saying so.
//
// Cost: a Handle is a weak_ptr; each call locks it (two atomic operations)
// before doing what the Runtime's method does.

#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "runtime/internal/block_on.h"
#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/join_handle.h"
#include "runtime/task.h"

namespace tidepool {

class Handle {
 public:
  // The runtime of the calling thread (a worker or a blocking-pool thread).
  // Elsewhere throws std::logic_error.
  static Handle current() {
    internal::Scheduler* s = internal::CurrentScheduler();
    if (s == nullptr) {
      throw std::logic_error(
          "tidepool: Handle::current() outside a runtime's threads");
    }
    return Handle(s->weak_from_this());
  }

  template <typename T>
  JoinHandle<T> spawn(Task<T> task) const {
    return internal::JoinHandleAccess<T>::Make(
        Locked()->Spawn(std::move(task)));
  }

  template <typename F>
  auto spawn_blocking(F&& f) const {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    return internal::JoinHandleAccess<R>::Make(
        Locked()->SpawnBlocking(std::forward<F>(f)));
  }

  template <typename T>
  T block_on(Task<T> task) const {
    std::shared_ptr<internal::Scheduler> s = Locked();
    return internal::BlockOn(s.get(), std::move(task), "Handle::block_on");
  }

 private:
  friend class Runtime;
  friend class TaskBuilder;
  explicit Handle(std::weak_ptr<internal::Scheduler> scheduler)
      : scheduler_(std::move(scheduler)) {}

  std::shared_ptr<internal::Scheduler> Locked() const {
    std::shared_ptr<internal::Scheduler> s = scheduler_.lock();
    if (s == nullptr || s->IsShutDown()) {
      throw std::logic_error(
          "tidepool: Handle used after its Runtime was shut down");
    }
    return s;
  }

  std::weak_ptr<internal::Scheduler> scheduler_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_HANDLE_H_
