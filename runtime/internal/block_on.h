#ifndef TIDEPOOL_RUNTIME_INTERNAL_BLOCK_ON_H_
#define TIDEPOOL_RUNTIME_INTERNAL_BLOCK_ON_H_

#include <stdexcept>
#include <string>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/internal/scheduler.h"
#include "runtime/internal/thread_waiter.h"
#include "runtime/join_handle.h"
#include "runtime/task.h"

namespace tidepool::internal {

// Runtime::block_on and Handle::block_on: spawns `task` on `scheduler` and
// blocks the calling thread, which must not be inside a task, until it
// finishes; returns its value or rethrows its exception. On a
// current_thread runtime the calling thread runs the tasks meanwhile.
template <typename T>
T BlockOn(Scheduler* scheduler, Task<T> task, const char* who) {
  if (CurrentTask() != nullptr) {
    throw std::logic_error(std::string("tidepool: ") + who +
                           " called from inside a task");
  }
  JoinHandle<T> handle =
      JoinHandleAccess<T>::Make(scheduler->Spawn(std::move(task)));
  JoinState<T>* cell = JoinHandleAccess<T>::Cell(handle);
  ThreadWaiter waiter;
  if (cell->SetJoinWaiter(&waiter)) {
    if (scheduler->current_thread()) {
      scheduler->DriveUntil([&waiter] { return waiter.Notified(); });
    }
    // Consumes the notification (at once when driving saw it); also waits
    // for it when driving ended with the runtime shutting down.
    waiter.Wait(scheduler->may_spin());
  }
  return cell->TakeResult();
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_BLOCK_ON_H_
