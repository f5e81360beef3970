#include "runtime/internal/inject_queue.h"

namespace tidepool::internal {

bool InjectQueue::PushBatch(TaskHeader* first, TaskHeader* last, size_t n) {
  SpinThenBlockLock lock(&mu_);
  if (closed_) return false;
  last->queue_next_ = nullptr;
  if (tail_) {
    tail_->queue_next_ = first;
  } else {
    head_ = first;
  }
  tail_ = last;
  len_.fetch_add(n, std::memory_order_seq_cst);
  return true;
}

size_t InjectQueue::PopBatch(TaskHeader** out, size_t max) {
  if (len_.load(std::memory_order_relaxed) == 0) return 0;
  SpinThenBlockLock lock(&mu_);
  size_t n = 0;
  while (n < max && head_) {
    out[n++] = head_;
    head_ = head_->queue_next_;
  }
  if (!head_) tail_ = nullptr;
  len_.fetch_sub(n, std::memory_order_relaxed);
  return n;
}

void InjectQueue::CloseAndDrain() {
  TaskHeader* list;
  {
    SpinThenBlockLock lock(&mu_);
    closed_ = true;
    list = head_;
    head_ = tail_ = nullptr;
    len_.store(0, std::memory_order_relaxed);
  }
  while (list) {
    TaskHeader* next = list->queue_next_;
    list->Unref();
    list = next;
  }
}

}  // namespace tidepool::internal
