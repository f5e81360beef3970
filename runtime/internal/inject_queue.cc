#include "runtime/internal/inject_queue.h"

#include "runtime/internal/spin_then_block_lock.h"

namespace tidepool::internal {

void InjectQueue::PushBatch(TaskHeader* first, TaskHeader* last, size_t n) {
  // Counted first: a consumer that pops the tasks before the count went up
  // would take the count below zero. seq_cst: the producer's side of the
  // store-buffering handshake (idle.h); pairs with the load in Size() that
  // Scheduler::Park() makes after its fence.
  len_.fetch_add(n, std::memory_order_seq_cst);
  if (n > 1 && mu_.TryLock()) {
    // A worker's overflow, with no consumer in the way: onto the list as it
    // is, in order. Through the stack it would be reversed twice, the second
    // time by a consumer under the lock, which misses the cache on every
    // task this core wrote while the other worker waits for the lock. A
    // single push keeps to the stack, so a thread feeding the runtime never
    // touches the consumers' lock.
    // relaxed: CloseAndDrain marks the stack closed, then takes mu_ to drain
    // the list; holding mu_, either we see the mark or its drain comes
    // after us and takes this batch too.
    if (pushed_.load(std::memory_order_relaxed) == Closed()) {
      mu_.Unlock();
      // relaxed: a count, taking back our own increment.
      len_.fetch_sub(n, std::memory_order_relaxed);
      last->set_queue_next(nullptr);
      UnrefList(first);
      return;
    }
    TakePushed();  // older pushes go first
    Append(first, last);
    mu_.Unlock();
    return;
  }
  // Reversed, so that reversing the whole stack later restores the batch's
  // order: afterwards `last` leads to `first`, whose link is set below.
  TaskHeader* prev = nullptr;
  for (TaskHeader* t = first;;) {
    TaskHeader* const next = t->queue_next();
    t->set_queue_next(prev);
    if (t == last) break;
    prev = t;
    t = next;
  }
  // relaxed: the CAS below publishes; this read only seeds it.
  TaskHeader* top = pushed_.load(std::memory_order_relaxed);
  do {
    if (top == Closed()) {
      // relaxed: a count, taking back our own increment.
      len_.fetch_sub(n, std::memory_order_relaxed);
      first->set_queue_next(nullptr);
      UnrefList(last);
      return;
    }
    first->set_queue_next(top);
    // release: publishes the links and the tasks; pairs with the acquire CAS
    // in TakePushed() or exchange in CloseAndDrain(). relaxed on failure:
    // the new top is only linked to, never read through.
  } while (!pushed_.compare_exchange_weak(top, last, std::memory_order_release,
                                          std::memory_order_relaxed));
}

void InjectQueue::TakePushed() {
  // relaxed: the CAS below carries the ordering.
  TaskHeader* top = pushed_.load(std::memory_order_relaxed);
  do {
    if (top == nullptr || top == Closed()) return;
    // acquire: pairs with the release CAS in PushBatch(): the links and
    // tasks of every push on the stack (each CAS continues the sequence).
  } while (!pushed_.compare_exchange_weak(
      top, nullptr, std::memory_order_acquire, std::memory_order_relaxed));
  // Newest first: reverse, then append.
  TaskHeader* oldest = nullptr;
  TaskHeader* const newest = top;
  while (top != nullptr) {
    TaskHeader* const next = top->queue_next();
    top->set_queue_next(oldest);
    oldest = top;
    top = next;
  }
  Append(oldest, newest);
}

void InjectQueue::Append(TaskHeader* first, TaskHeader* last) {
  last->set_queue_next(nullptr);
  if (tail_) {
    tail_->set_queue_next(first);
  } else {
    head_ = first;
  }
  tail_ = last;
}

size_t InjectQueue::PopBatch(TaskHeader** out, size_t max) {
  // relaxed: a hint that skips the lock; a worker woken for a push was
  // ordered after its increment by the wake-up (Parker's mutex), and the
  // list itself is read under mu_.
  if (len_.load(std::memory_order_relaxed) == 0) return 0;
  SpinThenBlockLock lock(&mu_);
  size_t n = 0;
  while (n < max) {
    if (head_ == nullptr) {
      TakePushed();
      if (head_ == nullptr) break;
    }
    out[n++] = head_;
    head_ = head_->queue_next();
    if (head_ == nullptr) tail_ = nullptr;
  }
  // relaxed: a count; the tasks were handed over under mu_.
  len_.fetch_sub(n, std::memory_order_relaxed);
  return n;
}

size_t InjectQueue::UnrefList(TaskHeader* list) {
  size_t n = 0;
  for (; list != nullptr; ++n) {
    TaskHeader* next = list->queue_next();
    list->Unref();
    list = next;
  }
  return n;
}

void InjectQueue::CloseAndDrain() {
  // acquire: pairs with the release CAS in PushBatch(): the links we drop.
  TaskHeader* pushed = pushed_.exchange(Closed(), std::memory_order_acquire);
  if (pushed == Closed()) pushed = nullptr;
  TaskHeader* list;
  {
    SpinThenBlockLock lock(&mu_);
    list = head_;
    head_ = tail_ = nullptr;
  }
  // relaxed: a count, as in PopBatch().
  len_.fetch_sub(UnrefList(pushed) + UnrefList(list),
                 std::memory_order_relaxed);
}

}  // namespace tidepool::internal
