#ifndef TIDEPOOL_RUNTIME_SYNC_INTERNAL_WAIT_LIST_H_
#define TIDEPOOL_RUNTIME_SYNC_INTERNAL_WAIT_LIST_H_

#include <array>
#include <coroutine>
#include <cstddef>

#include "runtime/internal/context.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// A task parked on a synchronization primitive. It lives inside the awaiter,
// hence in the waiting coroutine's frame, so waiting allocates nothing. While
// linked it holds a reference on `task`, which whoever unlinks it inherits.
// Every field is guarded by the mutex of the primitive whose list holds it.
struct Waiter {
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  TaskHeader* task = nullptr;
  bool linked = false;
};

// Intrusive FIFO of Waiters. Not synchronised: the owning primitive guards
// it with its own mutex. Every operation is O(1).
class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  Waiter* front() const { return head_; }

  void PushBack(Waiter* w) {
    w->prev = tail_;
    w->next = nullptr;
    if (tail_) {
      tail_->next = w;
    } else {
      head_ = w;
    }
    tail_ = w;
    w->linked = true;
  }

  void Remove(Waiter* w) {
    if (w->prev) {
      w->prev->next = w->next;
    } else {
      head_ = w->next;
    }
    if (w->next) {
      w->next->prev = w->prev;
    } else {
      tail_ = w->prev;
    }
    w->prev = w->next = nullptr;
    w->linked = false;
  }

  Waiter* PopFront() {
    Waiter* w = head_;
    if (w) Remove(w);
    return w;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

// For the destructor of an awaiter that suspended: takes `w` off
// `state->waiters` if nobody unlinked it yet (its task is being destroyed
// mid-wait) and drops the task reference it held. `State` has the
// primitive's `mu` and the WaitList `waiters` it guards.
template <typename State>
void WithdrawWaiter(State* state, Waiter* w) {
  TaskHeader* drop = nullptr;
  {
    MutexLock lock(&state->mu);
    if (w->linked) {
      state->waiters.Remove(w);
      drop = w->task;
    }
  }
  if (drop) drop->Unref();
}

// For await_suspend: records the resume point (before anything can wake the
// task) and takes the reference a Waiter carries into a list.
inline TaskHeader* PrepareToWait(std::coroutine_handle<> awaiting) {
  TaskHeader* self = SuspendCurrentTask(awaiting);
  self->Ref();
  return self;
}

// Tasks taken off a wait list, woken once the primitive's mutex is released
// so that a woken task running at once on another worker does not contend
// for it. Declare it before the MutexLock so that it is destroyed after.
// Holds up to kCapacity tasks without allocating; beyond that it wakes the
// batch it has, under the lock, which is correct, only slower.
class WakeList {
 public:
  WakeList() = default;
  WakeList(const WakeList&) = delete;
  WakeList& operator=(const WakeList&) = delete;
  ~WakeList() { WakeAll(); }

  // Takes over the reference the waiter held.
  void Add(TaskHeader* task) {
    if (size_ == kCapacity) WakeAll();
    tasks_[size_++] = task;
  }

 private:
  static constexpr size_t kCapacity = 32;

  void WakeAll() {
    for (size_t i = 0; i < size_; ++i) {
      tasks_[i]->Wake();
      tasks_[i]->Unref();
    }
    size_ = 0;
  }

  std::array<TaskHeader*, kCapacity> tasks_;
  size_t size_ = 0;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_SYNC_INTERNAL_WAIT_LIST_H_
